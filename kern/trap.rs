//! Traps, interrupts and exceptions (JOS's kern/trap.c and kern/trapentry.S): the IDT, the
//! per-CPU TSS, the trap entry code, the trapframe dump and the dispatcher.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, Ordering};

use jos_inc::env::{ENV_DYING, ENV_RUNNING};
use jos_inc::memlayout::*;
use jos_inc::mmu::*;
use jos_inc::trap::*;
use x86::Ring;
use x86::bits32::task::TaskStateSegment;
use x86::dtables::{DescriptorTablePointer, lidt};
use x86::segmentation::{
    BuildDescriptor, Descriptor, DescriptorBuilder, GateDescriptorBuilder, SegmentSelector,
};

use crate::cpu::{self, NCPU};
use crate::{console, cprintf, env, lapic, monitor, sched, spinlock, syscall};

// ---- trap entry (JOS's trapentry.S) --------------------------------------------------------

// Each handler pushes an error code (0 when the CPU doesn't) and the trap number, then jumps
// to _alltraps, which completes the Trapframe and calls trap(). `trap_vectors` lists the
// handler of every vector we install (0 for none).
macro_rules! trap_entry_asm {
    ($($kind:ident $num:literal),* $(,)?) => {
        core::arch::global_asm!(
            ".text",
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
            $( concat!("  TRAPHANDLER_", stringify!($kind), " ", stringify!($num)), )*
            "_alltraps:",
            "  pushl %ds",
            "  pushl %es",
            "  pushal",
            "  movw ${kd}, %ax",
            "  movw %ax, %ds",
            "  movw %ax, %es",
            "  pushl %esp",
            "  call trap",
            "1: jmp 1b",
            ".section .rodata",
            ".p2align 2",
            ".globl trap_vectors",
            "trap_vectors:",
            $( concat!("  .long ", stringify!($num), ", trap_handler_", stringify!($num)), )*
            "  .long -1, 0",
            ".text",
            kd = const GD_KD,
            options(att_syntax)
        );
    };
}

trap_entry_asm!(
    NOEC 0, NOEC 1, NOEC 2, NOEC 3, NOEC 4, NOEC 5, NOEC 6, NOEC 7, EC 8,
    EC 10, EC 11, EC 12, EC 13, EC 14, NOEC 16, EC 17, NOEC 18, NOEC 19,
    NOEC 32, NOEC 33, NOEC 34, NOEC 35, NOEC 36, NOEC 37, NOEC 38, NOEC 39,
    NOEC 40, NOEC 41, NOEC 42, NOEC 43, NOEC 44, NOEC 45, NOEC 46, NOEC 47,
    NOEC 48, NOEC 51,
);

unsafe extern "C" {
    /// (vector, handler) pairs, terminated by vector -1.
    static trap_vectors: [[u32; 2]; 64];
}

// ---- IDT and TSS ---------------------------------------------------------------------------

/// Interrupt descriptor table. (Must be built at run time because shifted function addresses
/// can't be represented in relocation records.)
struct Idt(UnsafeCell<[Descriptor; 256]>);
// SAFETY: written once by the BSP in trap_init before any other CPU runs; read-only after.
unsafe impl Sync for Idt {}
static IDT: Idt = Idt(UnsafeCell::new([Descriptor::NULL; 256]));

/// Per-CPU task state segments.
struct Tss(UnsafeCell<[TaskStateSegment; NCPU]>);
// SAFETY: CPU i only touches entry i.
unsafe impl Sync for Tss {}
static TSS: Tss = Tss(UnsafeCell::new([TaskStateSegment::new(); NCPU]));

pub fn trap_init() {
    let mut v = 0;
    loop {
        // SAFETY: trap_vectors is the asm table above, terminated by -1.
        let [num, handler] = unsafe { trap_vectors[v] };
        if num == u32::MAX {
            break;
        }
        // Only the breakpoint and system call vectors may be raised by user code with `int`;
        // every gate is an interrupt gate, so the kernel always runs with IF clear.
        let dpl = if num == T_BRKPT || num == T_SYSCALL {
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
        v += 1;
    }
    // Per-CPU setup.
    trap_init_percpu();
}

/// Initialize and load the per-CPU TSS and IDT.
pub fn trap_init_percpu() {
    let i = cpu::cpunum();
    // SAFETY: this CPU's own TSS entry (see `Tss`).
    let ts = unsafe { &mut (*TSS.0.get())[i] };
    // Setup a TSS so that we get the right stack when we trap to the kernel.
    ts.esp0 = kstacktop(i as u32);
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
    let sel = GD_TSS0 as usize + 8 * i;
    env::gdt_set(sel >> 3, d);

    // SAFETY: the TSS descriptor was just installed; the IDT is fully built.
    unsafe {
        // Load the TSS selector (like other segment selectors, the bottom three bits are
        // special; we leave them 0).
        x86::task::load_tr(SegmentSelector::from_raw(sel as u16));
        // Load the IDT.
        let idt: &[Descriptor; 256] = &*IDT.0.get();
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
    if LAST_TF[cpu::cpunum() % NCPU].load(Ordering::Relaxed) == addr && tf.tf_trapno == T_PGFLT {
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

fn read_eflags() -> u32 {
    // SAFETY: reading EFLAGS has no side effects.
    unsafe { x86::bits32::eflags::read() }.bits()
}

/// Where the trap came from: a user env (whose saved state is in its env_tf) or the kernel.
#[derive(Clone, Copy)]
enum From {
    User(usize),
    Kernel,
}

/// Called from `_alltraps` with the trapframe it built on this CPU's kernel stack.
#[unsafe(no_mangle)]
extern "C" fn trap(tf: *mut Trapframe) -> ! {
    // The environment may have set DF and some versions of GCC rely on DF being clear.
    // SAFETY: clearing the direction flag.
    unsafe { core::arch::asm!("cld", options(nomem, nostack)) };

    // Halt the CPU if some other CPU has called panic().
    if crate::panicking() {
        loop {
            // SAFETY: halting with interrupts off stops this CPU for good.
            unsafe { x86::halt() };
        }
    }

    // Check that interrupts are disabled. If this assertion fails, DO NOT be tempted to fix
    // it by inserting a "cli" in the interrupt path.
    assert!(read_eflags() & FL_IF == 0);

    // Re-acquire the big kernel lock if we were halted in sched_halt(): the interrupt woke
    // an idle CPU, which then goes on to schedule.
    let was_halted = cpu::thiscpu().swap_status(cpu::CPU_STARTED) == cpu::CPU_HALTED;
    if was_halted {
        spinlock::lock_kernel();
    }

    // SAFETY: `tf` points at the complete Trapframe _alltraps built on this CPU's stack.
    let frame = unsafe { *tf };
    let from = if frame.tf_cs & 3 == 3 {
        // Trapped from user mode. Acquire the big kernel lock before doing any serious
        // kernel work.
        spinlock::lock_kernel();
        let cur = cpu::curenv().expect("trap from user mode without curenv");
        // Garbage collect if current environment is a zombie.
        let dying = env::with_env(cur, |e| {
            if e.env_status == ENV_DYING {
                true
            } else {
                // Copy trap frame (which is currently on the stack) into 'curenv->env_tf',
                // so that running the environment will restart at the trap point.
                e.env_tf = frame;
                false
            }
        });
        if dying {
            env::env_free(cur);
            cpu::set_curenv(None);
            sched::sched_yield();
        }
        From::User(cur)
    } else {
        From::Kernel
    };
    let addr = match from {
        From::User(i) => env::env_tf_kva(i),
        From::Kernel => tf as u32,
    };
    // Record that tf is the last real trapframe so print_trapframe can print some
    // additional information.
    LAST_TF[cpu::cpunum() % NCPU].store(addr, Ordering::Relaxed);

    // Dispatch based on what type of trap occurred.
    trap_dispatch(&frame, addr, from);

    // If we made it to this point, then no other environment was scheduled, so we should
    // return to the current environment if doing so makes sense.
    match (from, cpu::curenv()) {
        (From::User(_), Some(c)) if env::with_env(c, |e| e.env_status) == ENV_RUNNING => {
            env::env_run(c)
        }
        (From::Kernel, _) if was_halted => sched::sched_yield(),
        (From::Kernel, _) => {
            // A kernel-mode trap that was handled (e.g. a breakpoint the monitor
            // continued from): return to the interrupted kernel code.
            // SAFETY: `tf` is the frame _alltraps built for this kernel-mode trap.
            unsafe { env::env_pop_tf(tf) }
        }
        _ => sched::sched_yield(),
    }
}

fn trap_dispatch(tf: &Trapframe, addr: u32, from: From) {
    match tf.tf_trapno {
        T_PGFLT => page_fault_handler(tf, addr, from),
        T_BRKPT => monitor::monitor(Some((tf, addr))),
        T_SYSCALL => {
            let r = &tf.tf_regs;
            let ret = syscall::syscall(
                r.reg_eax, r.reg_edx, r.reg_ecx, r.reg_ebx, r.reg_edi, r.reg_esi,
            );
            // The syscall may have switched envs away (yield, recv, destroy self) and then
            // not returned; when it returns, the current env gets the result in eax.
            if let Some(c) = cpu::curenv() {
                env::with_env(c, |e| e.env_tf.tf_regs.reg_eax = ret as u32);
            }
        }
        n if n == IRQ_OFFSET + IRQ_SPURIOUS => {
            // Handle spurious interrupts. The hardware sometimes raises these because of
            // noise on the IRQ line or other reasons. We don't care.
            cprintf!("Spurious interrupt on irq 7\n");
            print_trapframe(tf, addr);
        }
        n if n == IRQ_OFFSET + IRQ_TIMER => {
            // Handle clock interrupts: acknowledge, then schedule.
            lapic::lapic_eoi();
            sched::sched_yield();
        }
        n if n == IRQ_OFFSET + IRQ_KBD => {
            console::kbd_intr();
            lapic::lapic_eoi();
        }
        n if n == IRQ_OFFSET + IRQ_SERIAL => {
            console::serial_intr();
            lapic::lapic_eoi();
        }
        _ => {
            // Unexpected trap: the user process or the kernel has a bug.
            print_trapframe(tf, addr);
            match from {
                From::Kernel => panic!("unhandled trap in kernel"),
                From::User(i) => env::env_destroy(i),
            }
        }
    }
}

fn page_fault_handler(tf: &Trapframe, addr: u32, from: From) {
    // Read processor's CR2 register to find the faulting address.
    let fault_va = rcr2();

    // Handle kernel-mode page faults.
    let cur = match from {
        From::Kernel => {
            print_trapframe(tf, addr);
            panic!("kernel page fault at va {:08x} ip {:08x}", fault_va, {
                tf.tf_eip
            });
        }
        From::User(i) => i,
    };

    // We've already handled kernel-mode exceptions, so if we get here, the page fault
    // happened in user mode. Call the environment's page fault upcall, if one exists: set
    // up a page fault stack frame on the user exception stack (below UXSTACKTOP), then
    // branch to the upcall.
    let upcall = env::with_env(cur, |e| e.env_pgfault_upcall);
    if upcall != 0 {
        // A fault while already on the exception stack (the handler itself faulted): push
        // the new frame below the trap-time esp, leaving one empty scratch word for the
        // upcall's return address.
        let esp = tf.tf_esp;
        let utf_size = core::mem::size_of::<UTrapframe>() as u32;
        let utf_addr = if (UXSTACKTOP - PGSIZE..UXSTACKTOP).contains(&esp) {
            esp.wrapping_sub(4 + utf_size)
        } else {
            UXSTACKTOP - utf_size
        };
        // Check that the exception stack is allocated and writable (destroys the env
        // otherwise; an overflow of the exception stack lands on the unmapped page below).
        crate::syscall::user_mem_assert(cur, utf_addr, utf_size, Pte::W | Pte::U);
        let utf = UTrapframe {
            utf_fault_va: fault_va,
            utf_err: tf.tf_err,
            utf_regs: tf.tf_regs,
            utf_eip: tf.tf_eip,
            utf_eflags: tf.tf_eflags,
            utf_esp: tf.tf_esp,
        };
        // SAFETY: UTrapframe is a packed record of plain integers; viewing it as bytes is
        // sound.
        let bytes = unsafe {
            core::slice::from_raw_parts(&utf as *const UTrapframe as *const u8, utf_size as usize)
        };
        if env::copy_to_user(env::env_pgdir(cur), utf_addr, bytes).is_err() {
            // user_mem_assert checked the pages; this cannot fail, but never trust that.
            env::env_destroy(cur);
            return;
        }
        env::with_env(cur, |e| {
            e.env_tf.tf_esp = utf_addr;
            e.env_tf.tf_eip = upcall;
        });
        env::env_run(cur);
    }

    // Destroy the environment that caused the fault.
    cprintf!(
        "[{:08x}] user fault va {:08x} ip {:08x}\n",
        env::curenv_id(),
        fault_va,
        { tf.tf_eip }
    );
    print_trapframe(tf, addr);
    env::env_destroy(cur);
}
