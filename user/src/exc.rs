//! The user exception handler tests (`exc*` programs; not in JOS: a lab 4 challenge). Each
//! program raises one exception class with a handler installed (`set_exception_handler`),
//! checks what the handler was given (trap number, error code) and that the program resumes
//! where the handler said (skipping the instruction, retrying it after fixing EFLAGS, or
//! emulating it), then prints `exc: <class> ...: ok`.
//!
//! Alignment checks (#AC) and SIMD floating-point exceptions (#XM) cannot be raised for real
//! here: QEMU's software emulation never raises them (a misaligned load with EFLAGS.AC and
//! CR0.AM set, or an unmasked SSE divide by zero, just completes; checked), and with JOS's flat
//! segments no user instruction raises #NP or #SS. `injected` covers those four through the
//! kernel test `test_exc_inject` (kern/ktest.rs), which turns a marked `int3` into the
//! exception, so everything from the kernel's dispatch on is the real path.

use core::arch::asm;
use core::sync::atomic::{AtomicU32, Ordering};

use jos_lib::inc::memlayout::UXSTACKTOP;
use jos_lib::inc::mmu::{FL_TF, PGSIZE};
use jos_lib::inc::trap::*;
use jos_lib::{UExcframe, println, set_exception_handler, sys_page_unmap};
use kern_logic::trapname::trapname;

/// Where the handler resumes a faulting instruction that is to be skipped (set by the asm
/// right before the instruction).
static RESUME: AtomicU32 = AtomicU32::new(0);
static TRAPNO: AtomicU32 = AtomicU32::new(u32::MAX);
static ERR: AtomicU32 = AtomicU32::new(u32::MAX);
static COUNT: AtomicU32 = AtomicU32::new(0);
/// For `nested`: how deep to fault again from inside the handler.
static NEST: AtomicU32 = AtomicU32::new(0);

fn record(uxf: &UExcframe) {
    TRAPNO.store(uxf.uxf_trapno, Ordering::SeqCst);
    ERR.store(uxf.uxf_err, Ordering::SeqCst);
    COUNT.fetch_add(1, Ordering::SeqCst);
}

/// Skip to the instruction's resume label.
fn skip(uxf: &mut UExcframe) {
    record(uxf);
    uxf.uxf_eip = RESUME.load(Ordering::SeqCst);
}

fn check(class: &str, trapno: u32, err: u32, count: u32) {
    let (t, e, c) = (
        TRAPNO.load(Ordering::SeqCst),
        ERR.load(Ordering::SeqCst),
        COUNT.load(Ordering::SeqCst),
    );
    assert_eq!(t, trapno, "{}: trap number", class);
    assert_eq!(e, err, "{}: error code", class);
    assert_eq!(c, count, "{}: handler runs", class);
    println!(
        "exc: {} (trap {}, {}) handled and resumed: ok",
        class,
        trapno,
        trapname(trapno)
    );
}

fn resume_ptr() -> *mut u32 {
    RESUME.as_ptr()
}

/// Divide error, skipped.
pub fn divide() {
    set_exception_handler(skip);
    let q: u32;
    // SAFETY: the handler resumes at label 2; eax/edx are outputs.
    unsafe {
        asm!("movl $2f, ({r})", "divl {z}", "2:",
            r = in(reg) resume_ptr(), z = in(reg) 0u32,
            inout("eax") 7u32 => q, inout("edx") 0u32 => _, options(att_syntax));
    }
    assert_eq!(q, 7, "the division was not skipped");
    check("divide error", T_DIVIDE, 0, 1);
}

/// Debug (single step): the handler clears TF; execution goes on after the stepped
/// instruction.
pub fn debug() {
    set_exception_handler(|uxf| {
        record(uxf);
        uxf.uxf_eflags &= !FL_TF;
    });
    // SAFETY: sets TF for one instruction; the handler clears it.
    unsafe {
        asm!("pushfl", "orl ${tf}, (%esp)", "popfl", "nop",
            tf = const FL_TF, options(att_syntax));
    }
    check("debug", T_DEBUG, 0, 1);
}

/// Breakpoint (int3): a trap, so execution goes on after it.
pub fn breakpoint() {
    set_exception_handler(|uxf| record(uxf));
    // SAFETY: int3 with a handler installed returns here.
    unsafe { asm!("int3", options(att_syntax)) };
    check("breakpoint", T_BRKPT, 0, 1);
}

/// Overflow (into with OF set): a trap, execution goes on after it.
pub fn overflow() {
    set_exception_handler(|uxf| record(uxf));
    // SAFETY: the addition sets OF; into traps; the handler returns after it.
    unsafe {
        asm!("movl $0x7fffffff, {x}", "addl $1, {x}", "into",
            x = out(reg) _, options(att_syntax));
    }
    check("overflow", T_OFLOW, 0, 1);
}

/// Bound range exceeded: a fault, skipped.
pub fn bound() {
    set_exception_handler(skip);
    let bounds: [i32; 2] = [0, 10];
    // SAFETY: 20 is outside [0, 10]; the handler resumes at label 2.
    unsafe {
        asm!("movl $2f, ({r})", "bound {i}, ({b})", "2:",
            r = in(reg) resume_ptr(), i = in(reg) 20i32, b = in(reg) bounds.as_ptr(),
            options(att_syntax));
    }
    check("bound", T_BOUND, 0, 1);
}

/// Invalid opcode (ud2), skipped.
pub fn illop() {
    set_exception_handler(skip);
    // SAFETY: the handler resumes at label 2.
    unsafe { asm!("movl $2f, ({r})", "ud2", "2:", r = in(reg) resume_ptr(), options(att_syntax)) };
    check("invalid opcode", T_ILLOP, 0, 1);
}

/// General protection (cli at CPL 3), emulated: the handler steps over the one-byte
/// instruction as if it had been done.
pub fn gpflt() {
    set_exception_handler(|uxf| {
        record(uxf);
        uxf.uxf_eip += 1;
    });
    // SAFETY: cli faults at CPL 3; the handler skips it.
    unsafe { asm!("cli", options(att_syntax)) };
    check("general protection", T_GPFLT, 0, 1);
}

/// x87 floating point (unmasked divide by zero, reported at the next wait): the handler
/// clears the exception with fnclex and skips.
pub fn fperr() {
    set_exception_handler(|uxf| {
        // SAFETY: clears the pending x87 exception, or the resumed wait would raise it again.
        unsafe { asm!("fnclex", options(att_syntax, nomem, nostack)) };
        skip(uxf);
    });
    let cw: u16 = 0x037B; // zero-divide unmasked
    // SAFETY: x87 state of this env only; the handler resumes at label 2; fninit after.
    unsafe {
        asm!("fninit", "fldcw ({cw})", "fld1", "fldz", "fdivrp %st(0), %st(1)",
            "movl $2f, ({r})", "fwait", "2:", "fninit",
            cw = in(reg) &cw, r = in(reg) resume_ptr(), options(att_syntax));
    }
    check("x87 floating point", T_FPERR, 0, 1);
}

/// Nested: the divide handler divides by zero once more, from the exception stack: the inner
/// exception is delivered below the outer frame, both are handled, both resume.
pub fn nested() {
    set_exception_handler(|uxf| {
        record(uxf);
        let outer_resume = RESUME.load(Ordering::SeqCst);
        if NEST.fetch_add(1, Ordering::SeqCst) == 0 {
            // SAFETY: as in `divide`; the inner handler resumes at this asm's label.
            unsafe {
                asm!("movl $2f, ({r})", "divl {z}", "2:",
                    r = in(reg) resume_ptr(), z = in(reg) 0u32,
                    inout("eax") 1u32 => _, inout("edx") 0u32 => _, options(att_syntax));
            }
        }
        uxf.uxf_eip = outer_resume;
    });
    // SAFETY: as in `divide`. RESUME is reloaded by the outer handler before the nested
    // fault overwrites it.
    unsafe {
        asm!("movl $2f, ({r})", "divl {z}", "2:",
            r = in(reg) resume_ptr(), z = in(reg) 0u32,
            inout("eax") 1u32 => _, inout("edx") 0u32 => _, options(att_syntax));
    }
    check("nested divide errors", T_DIVIDE, 0, 2);
}

/// No exception stack: the kernel cannot push the frame and destroys the env, with JOS's
/// message (as faultnostack for page faults). Nothing after the fault runs.
pub fn nostack() {
    set_exception_handler(skip);
    // SAFETY: removes the exception stack; nothing in Rust lives there.
    unsafe { sys_page_unmap(0, UXSTACKTOP - PGSIZE) }.expect("unmap the exception stack");
    // SAFETY: the divide faults; the env is destroyed before any handler runs.
    unsafe {
        asm!("movl $2f, ({r})", "divl {z}", "2:",
            r = in(reg) resume_ptr(), z = in(reg) 0u32,
            inout("eax") 1u32 => _, inout("edx") 0u32 => _, options(att_syntax));
    }
    println!("exc: no exception stack: the env survived (WRONG)");
}

/// An upcall in kernel space (as faultevilhandler for page faults): resuming there faults
/// on the kernel's page, which destroys the env with JOS's user-fault message.
pub fn badhandler() {
    // SAFETY: deliberately a bad upcall; the env is destroyed at its next exception.
    unsafe {
        jos_lib::sys_page_alloc(
            0,
            UXSTACKTOP - PGSIZE,
            jos_lib::Pte::P | jos_lib::Pte::U | jos_lib::Pte::W,
        )
        .expect("exception stack");
        jos_lib::sys_env_set_exception_upcall(0, 0xF010_0020).expect("set upcall");
        asm!("ud2", options(att_syntax));
    }
    println!("exc: kernel-space upcall: the env survived (WRONG)");
}

/// Raise exception `trapno` with error code `err` through `test_exc_inject` (the kernel must
/// have it armed): a fault at the `int3`, resumed at label 2 by `skip`.
fn inject(trapno: u32, err: u32) {
    // SAFETY: with the kernel test armed, the int3 faults as `trapno` and the handler resumes
    // at label 2; without it, it is a breakpoint the handler also resumes at label 2 (and the
    // check then fails on the trap number). EAX/EDX/ECX are declared.
    unsafe {
        asm!("movl $2f, ({r})", "int3", "2:",
            r = in(reg) resume_ptr(),
            inout("eax") KTEST_INJECT_MAGIC => _,
            inout("edx") trapno => _,
            inout("ecx") err => _,
            options(att_syntax));
    }
}

/// Segment not present, stack fault, alignment check and SIMD floating point, injected (see
/// the module's first comment), each handled and resumed.
pub fn injected() {
    set_exception_handler(skip);
    let cases = [
        ("segment not present", T_SEGNP, 0x2b),
        ("stack fault", T_STACK, 0),
        ("alignment check", T_ALIGN, 0),
        ("SIMD floating point", T_SIMDERR, 0),
    ];
    for (n, (class, trapno, err)) in cases.into_iter().enumerate() {
        inject(trapno, err);
        check(class, trapno, err, n as u32 + 1);
    }
}

/// An alignment check with no handler: the kernel does what JOS does with an unexpected user
/// trap (prints the frame, destroys the env), so this never returns.
pub fn injected_unhandled() {
    inject(T_ALIGN, 0);
    println!("exc: WRONG: an unhandled alignment check returned");
}
