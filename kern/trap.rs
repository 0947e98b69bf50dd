//! Traps, interrupts and exceptions (JOS's kern/trap.c and kern/trapentry.S): the IDT, the
//! per-CPU TSS, the trap entry code, the trapframe dump and the dispatcher. JOS's
//! `TRAPHANDLER`/`_alltraps`, `trap_init`, `trap_init_percpu`, `print_trapframe`, `print_regs`,
//! `trap` and `trap_dispatch` (here `trap_from_user`, `trap_from_kernel`), `page_fault_handler`
//! (`trapname` is kern_logic's).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, Ordering};

use jos_inc::memlayout::*;
use jos_inc::mmu::*;
use jos_inc::trap::*;
use kern_logic::trapname::trapname;
use x86::Ring;
use x86::bits32::task::TaskStateSegment;
use x86::dtables::{DescriptorTablePointer, lidt};
use x86::segmentation::{
    BuildDescriptor, Descriptor, DescriptorBuilder, GateDescriptorBuilder, SegmentSelector,
};

use crate::cpu::CpuId;
use crate::cpu::{self, NCPU};
use crate::spinlock::{self, Kernel};
use crate::{console, cprintf, env, lapic, monitor, pmap, sched, syscall};
use kern_logic::envid::EnvIdx;

// ---- trap entry (JOS's trapentry.S) --------------------------------------------------------

// Each handler pushes an error code (0 when the CPU doesn't) and the trap number, then jumps
// to _alltraps, which completes the Trapframe and calls trap(). `trap_vectors` lists the
// (vector, handler) pair of every vector we install; `NTRAPVEC`, its length, is counted from
// the same list, so the table and its declared length cannot disagree.
macro_rules! trap_entry_asm {
    ($($kind:ident $num:literal),* $(,)?) => {
        /// How many (vector, handler) pairs `trap_vectors` holds.
        const NTRAPVEC: usize = [$($num),*].len();
        core::arch::global_asm!(
            ".text",
            // The rest of the Trapframe (JOS's _alltraps up to its call): the data segments
            // and the general registers, the kernel's data segments loaded, and the frame's
            // address pushed as the handler's argument.
            ".macro COMPLETE_FRAME",
            "  pushl %ds",
            "  pushl %es",
            "  pushal",
            "  movw ${kd}, %ax",
            "  movw %ax, %ds",
            "  movw %ax, %es",
            "  pushl %esp",
            ".endm",
            ".macro TRAPHANDLER_EC num",
            "  .globl trap_handler_\\num",
            "  .p2align 2",
            "trap_handler_\\num:",
            "  pushl $\\num",
            "  jmp _alltraps",
            ".endm",
            ".macro TRAPHANDLER_NOEC num",
            "  .globl trap_handler_\\num",
            "  .p2align 2",
            "trap_handler_\\num:",
            "  pushl $0",
            "  pushl $\\num",
            "  jmp _alltraps",
            ".endm",
            // The NMI (another CPU's panic) and the TLB shootdown IPI: to trap_ipi, which takes
            // no lock, so the common path need not test for them.
            ".macro TRAPHANDLER_IPI num",
            "  .globl trap_handler_\\num",
            "  .p2align 2",
            "trap_handler_\\num:",
            "  pushl $0",
            "  pushl $\\num",
            "  jmp _alltraps_ipi",
            ".endm",
            // The page fault's own entry (not in JOS): _alltraps inline, to `pgfault_trap`,
            // whose common case, a user fault with an upcall to take it, delivers the upcall
            // at once (the copy-on-write fault, which every fork makes common).
            ".macro TRAPHANDLER_PGFLT num",
            "  .globl trap_handler_\\num",
            "  .p2align 2",
            "trap_handler_\\num:",
            "  pushl $\\num",
            "  COMPLETE_FRAME",
            "  call pgfault_trap",
            "0: jmp 0b",
            ".endm",
            // The system call vector's own entry (not in JOS): the whole of _alltraps inline
            // and straight to `syscall_trap`, which neither tests the trap number nor decodes
            // it (the common trap, one jump and a dispatch fewer).
            ".macro TRAPHANDLER_SYSCALL num",
            "  .globl trap_handler_\\num",
            "  .p2align 2",
            "trap_handler_\\num:",
            "  pushl $0",
            "  pushl $\\num",
            "  COMPLETE_FRAME",
            "  call syscall_trap",
            "0: jmp 0b",
            ".endm",
            $( concat!("  TRAPHANDLER_", stringify!($kind), " ", stringify!($num)), )*
            // The common entry: complete the Trapframe (JOS's _alltraps), load the kernel's
            // data segments, and call `handler` with the frame's address. The handlers never
            // return (they leave through env_pop_tf / enter_user).
            ".macro ALLTRAPS name, handler",
            "\\name:",
            "  COMPLETE_FRAME",
            "  call \\handler",
            "0: jmp 0b",
            ".endm",
            "  ALLTRAPS _alltraps, trap",
            "  ALLTRAPS _alltraps_ipi, trap_ipi",
            ".section .rodata",
            ".p2align 2",
            ".globl trap_vectors",
            "trap_vectors:",
            $( concat!("  .long ", stringify!($num), ", trap_handler_", stringify!($num)), )*
            ".text",
            kd = const GD_KD,
            options(att_syntax)
        );
    };
}

trap_entry_asm!(
    NOEC 0, NOEC 1, IPI 2, NOEC 3, NOEC 4, NOEC 5, NOEC 6, NOEC 7, EC 8,
    EC 10, EC 11, EC 12, EC 13, PGFLT 14, NOEC 16, EC 17, NOEC 18, NOEC 19,
    NOEC 32, NOEC 33, NOEC 34, NOEC 35, NOEC 36, NOEC 37, NOEC 38, NOEC 39,
    NOEC 40, NOEC 41, NOEC 42, NOEC 43, NOEC 44, NOEC 45, NOEC 46, NOEC 47,
    SYSCALL 48, IPI 49, NOEC 51,
);

unsafe extern "C" {
    /// (vector, handler) pairs, one per handler of `trap_entry_asm!`.
    static trap_vectors: [[u32; 2]; NTRAPVEC];
}

// ---- IDT and TSS ---------------------------------------------------------------------------

/// Interrupt descriptor table. (Must be built at run time because shifted function addresses
/// can't be represented in relocation records.)
struct Idt(UnsafeCell<[Descriptor; NIDT]>);
/// The x86 has 256 interrupt vectors.
const NIDT: usize = 256;
// SAFETY: written once by the BSP in trap_init before any other CPU runs; read-only after.
unsafe impl Sync for Idt {}
static IDT: Idt = Idt(UnsafeCell::new([Descriptor::NULL; NIDT]));

/// Per-CPU task state segments.
struct Tss(UnsafeCell<[TaskStateSegment; NCPU]>);
// SAFETY: CPU i only touches entry i.
unsafe impl Sync for Tss {}
static TSS: Tss = Tss(UnsafeCell::new([TaskStateSegment::new(); NCPU]));

pub fn trap_init() {
    // LAB 3: BEGIN trap_init
    // HINT: Install an interrupt gate (kernel code segment GD_KT) for every [vector, handler] pair
    // HINT: of trap_vectors (NTRAPVEC of them); DPL 3 for T_BRKPT, T_SYSCALL and T_OFLOW only.
    // SAFETY: trap_vectors is the asm table above, NTRAPVEC pairs in .rodata, never written.
    let vectors = unsafe { &trap_vectors };
    for &[num, handler] in vectors {
        // Only the breakpoint and system call vectors may be raised by user code with `int`;
        // every gate is an interrupt gate, so the kernel always runs with IF clear.
        // (Also INTO's vector, not in JOS: with DPL 0 an overflow check in user code raises a
        // general protection fault instead of the overflow trap a user handler can take.)
        let dpl = if num == T_BRKPT || num == T_SYSCALL || num == T_OFLOW {
            Ring::Ring3
        } else {
            Ring::Ring0
        };
        let gate = <DescriptorBuilder as GateDescriptorBuilder<u32>>::interrupt_descriptor(
            SegmentSelector::from_raw(GD_KT),
            handler,
        )
        .present()
        .dpl(dpl)
        .finish();
        // SAFETY: see `Idt`.
        unsafe { (*IDT.0.get())[num as usize] = gate };
    }
    // LAB 3: END trap_init
    // Per-CPU setup.
    trap_init_percpu();
}

/// Initialize and load the per-CPU TSS and IDT.
pub fn trap_init_percpu() {
    // LAB 4: BEGIN trap_init_percpu
    // HINT: This is lab 3's version, for one CPU; now every CPU runs it. Which of its
    // HINT: resources must each CPU have for itself, and where is each CPU's (memlayout.rs's
    // HINT: picture, kern/cpu.rs)?
    // STUB: // SAFETY: CPU 0's TSS entry (see `Tss`).
    // STUB: let ts = unsafe { &mut (*TSS.0.get())[0] };
    // STUB: ts.esp0 = KSTACKTOP;
    // STUB: let sel = GD_TSS0 as usize;
    let i = cpu::cpunum().index();
    // SAFETY: this CPU's own TSS entry (see `Tss`).
    let ts = unsafe { &mut (*TSS.0.get())[i] };
    // Setup a TSS so that we get the right stack when we trap to the kernel.
    ts.esp0 = kstacktop(i as u32);
    let sel = GD_TSS0 as usize + 8 * i;
    // LAB 4: END trap_init_percpu
    ts.ss0 = GD_KD;
    // No I/O permission bitmap: the map base lies past the segment limit.
    ts.iobp_offset = core::mem::size_of::<TaskStateSegment>() as u16;

    // Initialize the TSS slot of the gdt.
    let base = ts as *const TaskStateSegment as u64;
    let limit = core::mem::size_of::<TaskStateSegment>() as u64 - 1;
    let d = <DescriptorBuilder as GateDescriptorBuilder<u32>>::tss_descriptor(base, limit, true)
        .present()
        .dpl(Ring::Ring0)
        .finish();
    env::gdt_set(sel >> 3, d);

    // SAFETY: the TSS descriptor was just installed; the IDT is fully built.
    unsafe {
        // Load the TSS selector (like other segment selectors, the bottom three bits are
        // special; we leave them 0).
        x86::task::load_tr(SegmentSelector::from_raw(sel as u16));
        // Load the IDT.
        let idt: &[Descriptor; NIDT] = &*IDT.0.get();
        lidt(&DescriptorTablePointer::new_from_slice(idt));
    }
}

// ---- the trapframe dump --------------------------------------------------------------------

/// The fault address of the page fault being handled (for print_trapframe's cr2 line), per
/// CPU, and the trapframe it belongs to.
static LAST_TF: [AtomicU32; NCPU] = [const { AtomicU32::new(0) }; NCPU];

fn rcr2() -> u32 {
    // SAFETY: reading CR2 has no side effects.
    unsafe { x86::controlregs::cr2() as u32 }
}

/// Print a trapframe; `addr` is where it lives (JOS prints the pointer).
pub fn print_trapframe(tf: &Trapframe, addr: u32) {
    cprintf!("TRAP frame at 0x{:08x} from CPU {}\n", addr, cpu::cpunum());
    print_regs(&tf.tf_regs);
    cprintf!("  es   0x----{:04x}\n", { tf.tf_es });
    cprintf!("  ds   0x----{:04x}\n", { tf.tf_ds });
    cprintf!(
        "  trap 0x{:08x} {}\n",
        { tf.tf_trapno },
        trapname(tf.tf_trapno)
    );
    // If this trap was a page fault that just happened (so %cr2 is meaningful), print the
    // faulting linear address.
    if LAST_TF[cpu::cpunum().index()].load(Ordering::Relaxed) == addr && tf.tf_trapno == T_PGFLT {
        cprintf!("  cr2  0x{:08x}\n", rcr2());
    }
    // For page faults, print decoded fault error code: U/K=fault occurred in user/kernel
    // mode, W/R=a write/read caused the fault, PR=a protection violation caused the fault
    // (NP=page not present).
    if tf.tf_trapno == T_PGFLT {
        let err = Fec::from_bits_truncate(tf.tf_err);
        cprintf!(
            "  err  0x{:08x} [{}, {}, {}]\n",
            { tf.tf_err },
            if err.contains(Fec::U) {
                "user"
            } else {
                "kernel"
            },
            if err.contains(Fec::WR) {
                "write"
            } else {
                "read"
            },
            if err.contains(Fec::PR) {
                "protection"
            } else {
                "not-present"
            }
        );
    } else {
        cprintf!("  err  0x{:08x}\n", { tf.tf_err });
    }
    cprintf!("  eip  0x{:08x}\n", { tf.tf_eip });
    cprintf!("  cs   0x----{:04x}\n", { tf.tf_cs });
    cprintf!("  flag 0x{:08x}\n", { tf.tf_eflags });
    if tf.tf_cs & 3 != 0 {
        cprintf!("  esp  0x{:08x}\n", { tf.tf_esp });
        cprintf!("  ss   0x----{:04x}\n", { tf.tf_ss });
    }
}

pub fn print_regs(regs: &PushRegs) {
    cprintf!("  edi  0x{:08x}\n", { regs.reg_edi });
    cprintf!("  esi  0x{:08x}\n", { regs.reg_esi });
    cprintf!("  ebp  0x{:08x}\n", { regs.reg_ebp });
    cprintf!("  oesp 0x{:08x}\n", { regs.reg_oesp });
    cprintf!("  ebx  0x{:08x}\n", { regs.reg_ebx });
    cprintf!("  edx  0x{:08x}\n", { regs.reg_edx });
    cprintf!("  ecx  0x{:08x}\n", { regs.reg_ecx });
    cprintf!("  eax  0x{:08x}\n", { regs.reg_eax });
}

// ---- dispatch ----------------------------------------------------------------------------

/// The TLB shootdown IPI's vector (kernel-internal, not in JOS: see `pmap::tlb_shootdown`).
pub const T_TLB_SHOOTDOWN: u32 = IRQ_OFFSET + 17;
const _: () = assert!(T_TLB_SHOOTDOWN == 49 && T_TLB_SHOOTDOWN != T_SYSCALL);
// The system call vector has its own entry, `TRAPHANDLER_SYSCALL 48` in trap_entry_asm!, and
// the page fault `TRAPHANDLER_PGFLT 14`.
const _: () = assert!(T_SYSCALL == 48 && T_PGFLT == 14);

/// A trap, decoded once from its number (system calls are tested first, before decoding: the
/// common case).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Trap {
    PageFault,
    Breakpoint,
    /// A device interrupt.
    Irq(Irq),
    /// Any other vector: an exception (or a vector nobody should raise).
    Other(u32),
}

/// The device interrupts the kernel handles (JOS's IRQ_TIMER, IRQ_KBD, IRQ_SERIAL,
/// IRQ_SPURIOUS, at IRQ_OFFSET + n).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Irq {
    Timer,
    Kbd,
    Serial,
    Spurious,
}

impl Trap {
    #[inline]
    fn decode(trapno: u32) -> Trap {
        const TIMER: u32 = IRQ_OFFSET + IRQ_TIMER;
        const KBD: u32 = IRQ_OFFSET + IRQ_KBD;
        const SERIAL: u32 = IRQ_OFFSET + IRQ_SERIAL;
        const SPURIOUS: u32 = IRQ_OFFSET + IRQ_SPURIOUS;
        match trapno {
            T_PGFLT => Trap::PageFault,
            T_BRKPT => Trap::Breakpoint,
            TIMER => Trap::Irq(Irq::Timer),
            KBD => Trap::Irq(Irq::Kbd),
            SERIAL => Trap::Irq(Irq::Serial),
            SPURIOUS => Trap::Irq(Irq::Spurious),
            n => Trap::Other(n),
        }
    }
}

/// Acknowledge device interrupt `irq` and do what it needs besides scheduling: the one place
/// the kernel handles IRQs (for a user env's trap, an idle CPU's wake-up, a dying env's last
/// trap). Spurious interrupts: the hardware sometimes raises these because of noise on the IRQ
/// line or other reasons; we don't care (no EOI: the LAPIC sets no ISR bit for them).
fn irq_handle(irq: Irq, cpu: CpuId) {
    match irq {
        // LAB 4: BEGIN timer-irq-idle
        // HINT: Acknowledge the timer interrupt (lapic_eoi; ktest::on_timer counts ticks for
        // HINT: the kernel's own tests): every CPU's, the one that woke a CPU halted in
        // HINT: sched_halt as much as the one that interrupted an env.
        // STUB: Irq::Timer => {}
        Irq::Timer => {
            lapic::lapic_eoi();
            crate::ktest::on_timer(cpu);
        }
        // LAB 4: END timer-irq-idle
        Irq::Kbd => {
            console::kbd_intr();
            lapic::lapic_eoi();
        }
        Irq::Serial => {
            console::serial_intr();
            lapic::lapic_eoi();
        }
        Irq::Spurious => cprintf!("Spurious interrupt on irq 7\n"),
    }
}

fn read_eflags() -> u32 {
    // SAFETY: reading EFLAGS has no side effects.
    unsafe { x86::bits32::eflags::read() }.bits()
}

/// Called from `_alltraps` with the trapframe it built on this CPU's kernel stack.
#[unsafe(no_mangle)]
extern "C" fn trap(tf: *mut Trapframe) -> ! {
    // The environment may have set DF and some versions of GCC rely on DF being clear.
    // SAFETY: clearing the direction flag.
    unsafe { core::arch::asm!("cld", options(nomem, nostack)) };

    // Check that interrupts are disabled. If this assertion fails, DO NOT be tempted to fix
    // it by inserting a "cli" in the interrupt path. (Debug builds: every gate is an interrupt
    // gate, so the CPU clears IF on the way in; 4 instructions on every trap otherwise.)
    debug_assert!(read_eflags() & FL_IF == 0);

    // The CPU number, once per trap (from the stack pointer: cpu::cpunum).
    let cpu = cpu::cpunum();
    // `tf` points at the complete Trapframe _alltraps built on this CPU's stack. It is read
    // here, not borrowed: a user frame is reached through the big lock's token from here on
    // (`env::LiveFrame`).
    // A trap from virtual-8086 mode first (its frame is longer; its CS proves nothing).
    // SAFETY: reading a field of that frame.
    if unsafe { (*tf).tf_eflags } & FL_VM != 0 {
        v86_trap(cpu, tf)
    }
    // SAFETY: as above.
    if unsafe { (*tf).tf_cs } & 3 == 3 {
        // SAFETY: a trap from user mode (not V86: sent away above): `tf` is the live frame.
        trap_from_user(cpu, unsafe { env::LiveFrame::from_trap(tf) })
    } else {
        crate::panic::stop_if_other_panicking();
        trap_from_kernel(tf)
    }
}

/// Called from the system call vector's own entry (`TRAPHANDLER_SYSCALL`) with the trapframe
/// it built on this CPU's kernel stack: `trap` for `int $0x30`, without the trap number's
/// tests and dispatch (the vector says what it is).
#[unsafe(no_mangle)]
extern "C" fn syscall_trap(tf: *mut Trapframe) -> ! {
    // CHALLENGE: BEGIN syscall-entry
    // STUB: trap(tf) // the generic path: trap_from_user dispatches system calls
    // SAFETY: clearing the direction flag (as in trap).
    unsafe { core::arch::asm!("cld", options(nomem, nostack)) };
    debug_assert!(read_eflags() & FL_IF == 0);
    // SAFETY: `tf` points at the complete Trapframe the entry built on this CPU's stack;
    // read as raw memory before the lock (as trap() does).
    let (eflags, cs) = unsafe { ((*tf).tf_eflags, (*tf).tf_cs) };
    // The CPU from the frame's address (the entry ran on this CPU's kernel stack).
    let cpu = cpu::trap_cpu(tf);
    // V86 code may raise the vector too (the gate's DPL is 3): its frame is longer.
    if eflags & FL_VM != 0 {
        v86_trap(cpu, tf)
    }
    // The kernel makes no system calls: a kernel-mode `int $0x30` is a kernel bug, which
    // `trap` reports.
    if cs & 3 == 0 {
        trap(tf)
    }
    pmap::entered_kernel(cpu);
    // SAFETY: `cpu` is this CPU (its live frame is `tf`), which came from user mode.
    let mut k = unsafe { spinlock::lock_kernel_from_user(cpu) };
    // SAFETY: a frame built for a trap from user mode, not V86 mode (tested above).
    let frame = unsafe { env::LiveFrame::from_trap(tf) };
    let cur = cpu::cpu(cpu)
        .env()
        .expect("system call from user mode without curenv");
    let state = env::table(&mut k).state(cur);
    // The common case: live, not suspended (nor blocked: it runs).
    if state.continues() {
        syscall::syscall_continuing(k, cur, frame)
    }
    // A zombie leaves the CPU, which frees it (as in trap_from_user).
    if state.dying() {
        sched::sched_yield(k);
    }
    syscall::syscall(k, cur, frame)
    // CHALLENGE: END syscall-entry
}

/// Called from the page fault vector's own entry (`TRAPHANDLER_PGFLT`) with the trapframe it
/// built on this CPU's kernel stack: `trap` for vector 14, which, for a fault from user mode
/// by a live env with a page-fault upcall and room for the frame on its mapped, writable
/// exception stack, delivers the upcall straight away (`push_pgfault_frame`). Every other
/// case takes the generic path's own steps: a V86 or kernel-mode fault `trap`'s (a kernel
/// fault panics), a dying env is scheduled away, and the rest (no upcall, an exception
/// stack missing, read-only or overflowed, a suspended env) is `page_fault_handler`'s, with
/// JOS's messages.
#[unsafe(no_mangle)]
extern "C" fn pgfault_trap(tf: *mut Trapframe) -> ! {
    // CHALLENGE: BEGIN pgfault-entry
    // STUB: trap(tf) // the generic path: trap_from_user dispatches page faults
    // SAFETY: clearing the direction flag (as in trap).
    unsafe { core::arch::asm!("cld", options(nomem, nostack)) };
    debug_assert!(read_eflags() & FL_IF == 0);
    // SAFETY: `tf` points at the complete Trapframe the entry built on this CPU's stack;
    // read as raw memory before the lock (as trap() does).
    let (eflags, cs) = unsafe { ((*tf).tf_eflags, (*tf).tf_cs) };
    // V86 mode and kernel mode first, as trap() tests them.
    if eflags & FL_VM != 0 {
        v86_trap(cpu::trap_cpu(tf), tf)
    }
    if cs & 3 == 0 {
        trap(tf)
    }
    let cpu = cpu::trap_cpu(tf);
    pmap::entered_kernel(cpu);
    // SAFETY: `cpu` is this CPU (its live frame is `tf`), which came from user mode.
    let mut k = unsafe { spinlock::lock_kernel_from_user(cpu) };
    // SAFETY: a frame built for a trap from user mode, not V86 mode (tested above).
    let frame = unsafe { env::LiveFrame::from_trap(tf) };
    let cur = cpu::cpu(cpu)
        .env()
        .expect("page fault from user mode without curenv");
    let state = env::table(&mut k).state(cur);
    // The common case: it goes on running (what sched::resume tests after an upcall is
    // delivered), and the frame fits where deliver_upcall would check it.
    if state.continues() {
        let (t, tf) = frame.with_table(&mut k);
        if push_pgfault_frame(t, tf, cur, rcr2()) {
            env::env_resume(k, cur)
        }
    }
    // From here, trap_from_user's steps for a page fault.
    if state.dying() {
        sched::sched_yield(k);
    }
    page_fault_handler(k, cur, frame)
    // CHALLENGE: END pgfault-entry
}

// CHALLENGE: BEGIN pgfault-entry-push
// STUB: // (the page fault entry's upcall delivery: a challenge)
/// deliver_upcall's common case for a page fault of env `cur` at `fault_va` (trap frame
/// `tf`): if it has a page-fault upcall and the UTrapframe deliver_upcall would push lies
/// inside the exception stack's page [UXSTACKTOP - PGSIZE, UXSTACKTOP), mapped present, user
/// and writable in its page directory, write the frame there and point `tf` at the upcall,
/// exactly as deliver_upcall does; else change nothing and return false (deliver_upcall's
/// checks then find what is wrong and say so, as JOS does). One page-table walk and the
/// frame's words written straight into the page, where deliver_upcall builds the frame on
/// the kernel stack and checks a byte range for a copy.
#[inline(always)]
fn push_pgfault_frame(
    t: &mut env::EnvTable,
    tf: &mut Trapframe,
    cur: EnvIdx,
    fault_va: u32,
) -> bool {
    const UTF: u32 = core::mem::size_of::<UTrapframe>() as u32;
    const BOTTOM: u32 = UXSTACKTOP - PGSIZE;
    let upcall = t.env(cur).env_pgfault_upcall;
    if upcall == 0 {
        return false;
    }
    let esp = tf.tf_esp;
    // deliver_upcall's address: below the trap-time ESP less JOS's scratch word when already
    // on the exception stack, else at its top.
    let utf_addr = if esp.wrapping_sub(BOTTOM) < PGSIZE {
        esp.wrapping_sub(4 + UTF)
    } else {
        UXSTACKTOP - UTF
    };
    // (An overflow: the frame would reach below the page. No wrap: esp >= BOTTOM here.)
    if utf_addr < BOTTOM {
        return false;
    }
    let need = Pte::P | Pte::U | Pte::W;
    let Some(pte) = t.pgdir(cur).walk(BOTTOM) else {
        return false;
    };
    let e = pte.get();
    if !e.contains(need) {
        return false;
    }
    let dst =
        pmap::page_window(pmap::pa2page(e.frame())).wrapping_add((utf_addr - BOTTOM) as usize);
    // SAFETY: `dst` is `utf_addr`'s byte in the physical page env `cur` maps present, user and
    // writable at BOTTOM (checked just now), reached through the KERNBASE mapping; the frame
    // lies inside that page (BOTTOM <= utf_addr <= UXSTACKTOP - UTF). Unaligned: the
    // trap-time ESP is the env's choice.
    unsafe { crate::fpu::write_utf(dst.cast(), tf, fault_va) };
    tf.tf_esp = utf_addr;
    tf.tf_eip = upcall;
    // As deliver_upcall: the upcall runs without the trap-time TF and AC.
    tf.tf_eflags &= !(FL_TF | FL_AC);
    true
}
// CHALLENGE: END pgfault-entry-push

/// The NMI and the TLB shootdown IPI (their own entry, `_alltraps_ipi`): handled without the
/// big kernel lock, which the CPU that sent them may hold while it waits.
#[unsafe(no_mangle)]
extern "C" fn trap_ipi(tf: *mut Trapframe) -> ! {
    // SAFETY: clearing the direction flag.
    unsafe { core::arch::asm!("cld", options(nomem, nostack)) };
    // SAFETY: `tf` points at the complete Trapframe _alltraps_ipi built on this CPU's stack.
    let (trapno, eflags) = unsafe { ((*tf).tf_trapno, (*tf).tf_eflags) };
    if trapno == T_TLB_SHOOTDOWN {
        pmap::tlb_shootdown_ipi();
        lapic::lapic_eoi();
    } else {
        // Another CPU has panicked: its NMI stops this one. (A CPU that traps for another
        // reason just before the NMI arrives takes the NMI inside trap().)
        crate::panic::stop_if_other_panicking();
    }
    if eflags & FL_VM != 0 {
        v86_trap(cpu::cpunum(), tf);
    }
    // SAFETY: the frame this trap built; nothing else changed.
    unsafe { env::env_pop_tf(tf) }
}

/// A trap from virtual-8086 mode, which user code must never be in: on real hardware a CPL-3
/// `iret` ignores EFLAGS.VM, but QEMU's TCG (7.2) enters V86 mode, loading IF and IOPL from
/// the popped flags too. The env is destroyed, as for any unexpected trap, with JOS's frame
/// print. Whatever its CS says, this trap is the env's: V86 code runs at CPL 3, and the CS
/// slot holds a real-mode segment (its low bits, 0 or 3, mean nothing).
///
/// The CPU pushed a longer frame: below the usual five words it put the V86 GS, FS, DS and
/// ES, so `_alltraps` built the `Trapframe` 16 bytes below this CPU's live frame. Moved up
/// to the live frame (dropping the V86 segments), it is an ordinary user frame again, and
/// the env is destroyed from there (`enter_user` also never resumes anything in V86 mode).
#[cold]
#[inline(never)]
fn v86_trap(cpu: CpuId, tf: *mut Trapframe) -> ! {
    let live = env::live_frame_ptr(cpu);
    // SAFETY: the CPU came from V86 mode at CPL 3, so it switched to this CPU's kernel stack
    // top (TSS esp0) and pushed 9 words (+ error code) there; `_alltraps` completed the
    // Trapframe below them, at `tf` = live - 16 bytes. The copy moves the Trapframe's 68 bytes
    // up (the ranges overlap: `copy` is a memmove) over the V86 segment words, all of which
    // lie above this function's stack frame.
    unsafe { core::ptr::copy(tf, live, 1) };
    pmap::entered_kernel(cpu);
    // SAFETY: `cpu` is cpu::cpunum(), computed by trap() or trap_ipi() on this CPU.
    let mut k = unsafe { spinlock::lock_kernel_as(cpu) };
    let cur = cpu::cpu(cpu)
        .env()
        .expect("trap from V86 mode without curenv");
    // The live frame now holds the env's registers (moved above).
    if let Trap::Irq(irq) = Trap::decode(env::live_frame(&mut k).tf_trapno) {
        irq_handle(irq, cpu);
    }
    if !env::table(&mut k).state(cur).dying() {
        print_user_trapframe(&mut k, cur);
        let _ = env::env_destroy(env::table(&mut k), cpu, cur);
    }
    sched::sched_yield(k)
}

/// A trap from the env running on this CPU. Its registers stay in the CPU's live frame (see
/// `env::live_frame`), reached through the big lock's token: no copy unless it leaves the CPU.
#[inline(always)]
fn trap_from_user(cpu: CpuId, frame: env::LiveFrame) -> ! {
    pmap::entered_kernel(cpu);
    // Trapped from user mode. Acquire the big kernel lock before doing any serious kernel
    // work. (A CPU stopped by another's panic never gets it: see panic.rs.)
    // SAFETY: `cpu` is cpu::cpunum(), computed by trap() or trap_ipi() on this CPU.
    let mut k = unsafe { spinlock::lock_kernel_as(cpu) };
    let cur = cpu::cpu(cpu)
        .env()
        .expect("trap from user mode without curenv");
    // Garbage collect if current environment is a zombie: it leaves the CPU, which frees it.
    // An interrupt that brought it here is acknowledged first (JOS skips this: a CPU whose
    // dying env was reaped at a timer tick never got another tick, so the next env it ran
    // could never be preempted or reaped, found by the `prio` test at CPUS=4).
    let trapno = frame.get(&mut k).tf_trapno;
    if env::table(&mut k).state(cur).dying() {
        if let Trap::Irq(irq) = Trap::decode(trapno) {
            irq_handle(irq, cpu);
        }
        sched::sched_yield(k);
    }

    // LAB 3: BEGIN trap_dispatch
    // HINT: Dispatch on trapno: T_SYSCALL to syscall::syscall, T_PGFLT to page_fault_handler,
    // HINT: T_BRKPT to the monitor (then sched::resume), keyboard/serial/spurious interrupts; any
    // HINT: other trap prints the frame (print_user_trapframe) and destroys the env.
    // Dispatch based on what type of trap occurred. System calls first: the common case.
    if trapno == T_SYSCALL {
        syscall::syscall(k, cur, frame);
    }
    match Trap::decode(trapno) {
        // (A guard on the breakpoint arm, so system calls never test it.)
        Trap::Breakpoint if crate::ktest::inject_exception(env::live_frame(&mut k)) => {
            user_exception(k, cur)
        }
        Trap::PageFault => page_fault_handler(k, cur, frame),
        // CHALLENGE: BEGIN exception-dispatch
        // STUB: // (user exception handlers: a challenge)
        // Any exception a user handler may take (a breakpoint too) goes to it, if it has one.
        _ if USER_EXCEPTIONS.contains(&trapno) && env::table(&mut k).exc_upcall(cur) != 0 => {
            // A user exception handler (not in JOS: a lab 4 challenge) takes it.
            let upcall = env::table(&mut k).exc_upcall(cur);
            deliver_upcall(k, cur, frame, upcall, trapno)
        }
        // CHALLENGE: END exception-dispatch
        Trap::Breakpoint => {
            let (t, tf) = env::table_frame(&mut k);
            env::sync_tf(t, tf, cur);
            let addr = env::env_tf_kva(cur);
            monitor::monitor(Some((tf, addr)));
            sched::resume(k)
        }
        // LAB 4: BEGIN timer-irq
        // HINT: The timer interrupt: acknowledge it (irq_handle) and reschedule (sched_tick).
        // STUB: // (the timer interrupt goes here)
        Trap::Irq(Irq::Timer) => {
            irq_handle(Irq::Timer, cpu);
            sched::sched_tick(k)
        }
        // LAB 4: END timer-irq
        Trap::Irq(irq) => {
            irq_handle(irq, cpu);
            if irq == Irq::Spurious {
                print_user_trapframe(&mut k, cur);
            }
            sched::resume(k)
        }
        Trap::Other(_) => user_exception(k, cur),
    }
    // LAB 3: END trap_dispatch
}

/// An exception env `cur` raised that the kernel does not handle itself: its user handler
/// takes it if it has one and the exception is one handlers may take; otherwise, JOS's
/// unexpected trap: the user process has a bug.
fn user_exception(mut k: Kernel, cur: EnvIdx) -> ! {
    // CHALLENGE: BEGIN exception-user
    // STUB: // (user exception handlers: a challenge)
    let n = env::live_frame(&mut k).tf_trapno;
    let upcall = env::table(&mut k).exc_upcall(cur);
    if USER_EXCEPTIONS.contains(&n) && upcall != 0 {
        let frame = env::LiveFrame::of(&k);
        deliver_upcall(k, cur, frame, upcall, n);
    }
    // CHALLENGE: END exception-user
    print_user_trapframe(&mut k, cur);
    let cpu = k.cpu();
    let t = env::table(&mut k);
    // Its own env, on this CPU: destroyed now (cannot be refused or deferred).
    let _ = env::env_destroy(t, cpu, cur);
    sched::resume(k)
}

/// Print the frame of env `cur`'s trap (this CPU's live frame) as JOS does: from
/// `curenv->env_tf` (so the address printed is the env's record, `TRAP frame at 0xf...`).
fn print_user_trapframe(k: &mut Kernel, cur: EnvIdx) {
    let cpu = k.cpu();
    let (t, tf) = env::table_frame(k);
    env::sync_tf(t, tf, cur);
    let addr = env::env_tf_kva(cur);
    LAST_TF[cpu.index()].store(addr, Ordering::Relaxed);
    print_trapframe(tf, addr);
}

/// A trap from kernel mode: an interrupt that woke a halted CPU, a breakpoint in the kernel,
/// or a kernel bug.
fn trap_from_kernel(tf: *mut Trapframe) -> ! {
    // SAFETY: the frame _alltraps built for this kernel-mode trap.
    let frame = unsafe { &*tf };
    let addr = tf as u32;
    // Re-acquire the big kernel lock if we were halted in sched_halt(): the interrupt woke
    // an idle CPU, which then goes on to schedule.
    if cpu::thiscpu().swap_status(cpu::CPU_STARTED) == cpu::CPU_HALTED {
        let k = spinlock::lock_kernel();
        match Trap::decode(frame.tf_trapno) {
            Trap::Irq(irq) => {
                irq_handle(irq, k.cpu());
                if irq == Irq::Spurious {
                    print_trapframe(frame, addr);
                }
            }
            _ => kernel_fault(frame, addr),
        }
        sched::sched_yield(k)
    }
    match Trap::decode(frame.tf_trapno) {
        Trap::Breakpoint => {
            // A breakpoint the monitor continues from: return to the interrupted kernel code.
            monitor::monitor(Some((frame, addr)));
            // SAFETY: `tf` is the frame _alltraps built for this kernel-mode trap.
            unsafe { env::env_pop_tf(tf) }
        }
        Trap::Irq(Irq::Spurious) => {
            irq_handle(Irq::Spurious, cpu::cpunum());
            print_trapframe(frame, addr);
            // SAFETY: as above.
            unsafe { env::env_pop_tf(tf) }
        }
        _ => kernel_fault(frame, addr),
    }
}

/// A fault or unexpected trap in the kernel: a kernel bug. Stop the other CPUs and break the
/// locks first (the fault may have happened while printing, or holding the page lock), then
/// print the frame and panic.
fn kernel_fault(tf: &Trapframe, addr: u32) -> ! {
    crate::panic::begin();
    LAST_TF[cpu::cpunum().index()].store(addr, Ordering::Relaxed);
    print_trapframe(tf, addr);
    if tf.tf_trapno == T_PGFLT {
        panic!("kernel page fault at va {:08x} ip {:08x}", rcr2(), {
            tf.tf_eip
        });
    }
    panic!("unhandled trap in kernel");
}

/// Run env `cur`'s upcall `upcall` for the trap in `tf`: push a UTrapframe (for a page fault,
/// `word0` is the faulting address) or UExcframe (`word0` is the trap number: same layout) on
/// the user exception stack and resume the env at the upcall. JOS's rules: a trap while
/// already on the exception stack pushes below the trap-time ESP, leaving one empty scratch
/// word for the upcall's return address; an exception stack that is missing, not writable or
/// overflowed destroys the env (`user_mem_check assertion failure`).
fn deliver_upcall(mut k: Kernel, cur: EnvIdx, frame: env::LiveFrame, upcall: u32, word0: u32) -> ! {
    // LAB 4: BEGIN page_fault_upcall
    // HINT: Push a UTrapframe on the user exception stack (below UXSTACKTOP, or below the trap-time
    // HINT: esp with a scratch word if already on it), checked with user_mem_assert; resume the env
    // HINT: at the upcall with esp pointing at it.
    let cpu = k.cpu();
    let (t, tf) = frame.with_table(&mut k);
    let esp = tf.tf_esp;
    let utf_size = core::mem::size_of::<UTrapframe>() as u32;
    let utf_addr = if (UXSTACKTOP - PGSIZE..UXSTACKTOP).contains(&esp) {
        esp.wrapping_sub(4 + utf_size)
    } else {
        UXSTACKTOP - utf_size
    };
    let utf = UTrapframe {
        utf_fault_va: word0,
        utf_err: tf.tf_err,
        utf_regs: tf.tf_regs,
        utf_eip: tf.tf_eip,
        utf_eflags: tf.tf_eflags,
        utf_esp: tf.tf_esp,
    };
    // SAFETY: UTrapframe is a packed record of plain integers; viewing it as bytes is sound.
    let bytes = unsafe {
        core::slice::from_raw_parts(&utf as *const UTrapframe as *const u8, utf_size as usize)
    };
    // Check that the exception stack is allocated and writable (destroys the env otherwise;
    // an overflow of the exception stack lands on the unmapped page below), and write the
    // frame there: one page-table walk for both.
    if pmap::user_write_assert(t, cpu, cur, utf_addr, bytes, Pte::W | Pte::U).is_err() {
        sched::resume(k);
    }
    tf.tf_esp = utf_addr;
    tf.tf_eip = upcall;
    // The upcall runs without the trap-time TF and AC (as the CPU clears TF entering a
    // handler): single-stepping or alignment-checking the handler itself would trap again
    // forever. The frame keeps them; the upcall's popfl restores what the handler leaves.
    tf.tf_eflags &= !(FL_TF | FL_AC);
    sched::resume(k)
    // LAB 4: END page_fault_upcall
}

fn page_fault_handler(mut k: Kernel, cur: EnvIdx, frame: env::LiveFrame) -> ! {
    // Read processor's CR2 register to find the faulting address.
    let fault_va = rcr2();
    let cpu = k.cpu();

    // The page fault happened in user mode (kernel-mode faults are kernel_fault's). Call the
    // environment's page fault upcall, if one exists: set up a page fault stack frame on the
    // user exception stack (below UXSTACKTOP), then branch to the upcall.
    let upcall = env::table(&mut k).env(cur).env_pgfault_upcall;
    if upcall != 0 {
        deliver_upcall(k, cur, frame, upcall, fault_va);
    }

    // Destroy the environment that caused the fault.
    let eip = frame.get(&mut k).tf_eip;
    let id = env::table(&mut k).id(cur);
    cprintf!(
        "[{:08x}] user fault va {:08x} ip {:08x}\n",
        id,
        fault_va,
        eip
    );
    print_user_trapframe(&mut k, cur);
    let _ = env::env_destroy(env::table(&mut k), cpu, cur);
    sched::resume(k)
}
