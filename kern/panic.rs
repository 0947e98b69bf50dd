//! Kernel panics (JOS's `_panic` in kern/init.c, here the `#[panic_handler]`), made to always
//! report; `begin` is the path a kernel fault shares with it.
//!
//! In JOS a panic raised while holding the console lock, or the page allocator's, left the
//! machine silent or hung (the panicking CPU waited for its own lock; `meminfo` after a panic
//! waited for the page lock), and the other CPUs kept running, or spinning on locks, beside the
//! monitor. Here the first CPU to panic:
//! 1. stops every other CPU with an NMI (delivered even to a CPU spinning on a lock with
//!    interrupts off); each one marks itself CPU_STOPPED and halts for good;
//! 2. then, being the only CPU left running, breaks every kernel lock (the big lock, the page
//!    allocator's, the console's, ...: `spinlock::break_all`), whoever held them;
//! 3. prints `kernel panic on CPU n at file:line: msg` and enters the monitor.
//!
//! A kernel fault (a page fault or unexpected trap in kernel mode) takes the same path before
//! it prints the trapframe (trap.rs's `kernel_fault`).

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::cpu::CpuId;
use crate::cpu::{self, CPU_STARTED, CPU_STOPPED};
use crate::{cprintf, lapic, monitor, spinlock};

const NONE: usize = usize::MAX;

/// The CPU that panicked first, or NONE.
static PANIC_CPU: AtomicUsize = AtomicUsize::new(NONE);
/// How many times the panicking CPU entered the panic path (a panic while printing a panic).
static DEPTH: AtomicU32 = AtomicU32::new(0);

/// Halt this CPU for good, if another CPU has panicked (called first thing on every trap:
/// the panicking CPU's NMI lands there).
pub fn stop_if_other_panicking() {
    let p = PANIC_CPU.load(Ordering::Acquire);
    if p != NONE && p != cpu::cpunum().index() {
        stop_this_cpu();
    }
}

fn stop_this_cpu() -> ! {
    // SAFETY: interrupts off for good: this CPU does nothing more.
    unsafe { x86::irq::disable() };
    cpu::thiscpu().set_status(CPU_STOPPED);
    loop {
        // SAFETY: halting with interrupts off; an NMI (which cannot recur before an iret
        // that never comes) brings it back here.
        unsafe { x86::halt() };
    }
}

/// Enter the panic path: the first caller stops the other CPUs and breaks the locks; a CPU
/// that is not the panicking one stops. Returns how many times this CPU has entered it.
pub fn begin() -> u32 {
    // SAFETY: disabling interrupts: this CPU stays in the panic path and the monitor.
    unsafe { x86::irq::disable() };
    let me = cpu::cpunum();
    match PANIC_CPU.compare_exchange(NONE, me.index(), Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => stop_others(me),
        Err(p) if p == me.index() => {}
        Err(_) => stop_this_cpu(),
    }
    // SAFETY: every other CPU is stopped (or never started), so no lock is held by a running
    // CPU but this one, and this CPU's holds belong to code that will never resume.
    unsafe { spinlock::break_all() };
    DEPTH.fetch_add(1, Ordering::AcqRel) + 1
}

/// NMI every other started CPU and wait (boundedly: a CPU wedged in a way even an NMI cannot
/// reach must not keep the panic from printing) until each reports CPU_STOPPED.
fn stop_others(me: CpuId) {
    if cpu::ncpu() == 1 {
        return;
    }
    lapic::lapic_nmi_others();
    for _ in 0..10_000_000 {
        let running = cpu::cpus()
            .iter()
            .enumerate()
            .any(|(i, c)| i != me.index() && matches!(c.status(), CPU_STARTED | cpu::CPU_HALTED));
        if !running {
            return;
        }
        core::hint::spin_loop();
    }
}

/// A kernel panic: `kernel panic on CPU n at file:line: msg`, then the monitor, forever.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let depth = begin();
    // A panic while printing a panic's message (or trapframe) prints once more; beyond that,
    // printing is what fails, so go straight to the monitor.
    if depth <= 2 {
        let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
        cprintf!(
            "kernel panic on CPU {} at {}:{}: {}\n",
            cpu::cpunum(),
            file,
            line,
            info.message()
        );
    }
    loop {
        monitor::monitor(None);
    }
}
