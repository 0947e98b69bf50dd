//! Kernel tests that need the kernel to misbehave on purpose (not in JOS): panics and faults
//! raised with a lock held, on a busy SMP machine, to show that a panic always reports, reaches
//! the monitor, and stops the other CPUs (kern/panic.rs); and locks taken twice or out of
//! order, to show that the lock checks (kern/spinlock.rs) catch them.
//!
//! Selected like programs (`make run-test_panic_pages+idle+idle+idle-nox CPUS=4`): the test is
//! armed at boot, the other names start as envs, and the test fires from a timer interrupt on
//! the last CPU, a few ticks in, while the others are running or spinning on the big lock.
//!
//! One more, `test_exc_inject`, stands in for hardware QEMU does not emulate: its software
//! CPU never raises an alignment check (#AC) or a SIMD floating-point exception (#XM), and no
//! user instruction can raise a segment-not-present (#NP) or stack fault (#SS) with JOS's flat
//! segments. With it armed, a user `int3` with EAX = `KTEST_INJECT_MAGIC` (inc) is turned into exception
//! EDX (one of those four) with error code ECX, raised by that `int3` instruction; from there
//! the kernel's ordinary path delivers it (user handler, or JOS's print-and-destroy). Never
//! armed unless the boot's test list names it.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use jos_inc::trap::{KTEST_INJECT_MAGIC, T_ALIGN, T_BRKPT, T_SEGNP, T_SIMDERR, T_STACK, Trapframe};

use crate::cpu::CpuId;
use crate::{cprintf, cpu, pmap};

/// The armed test (0: none).
static ARMED: AtomicU32 = AtomicU32::new(0);
/// Timer ticks seen on the firing CPU.
static TICKS: AtomicU32 = AtomicU32::new(0);
/// Ticks before the test fires: enough for every CPU to be running its env.
const FIRE_AFTER: u32 = 3;

const TESTS: [&str; 5] = [
    "test_panic_pages",
    "test_panic_console",
    "test_kernel_fault",
    "test_lock_twice",
    "test_lock_order",
];

/// `test_exc_inject` is armed.
static INJECT: AtomicBool = AtomicBool::new(false);

/// The exceptions `test_exc_inject` may stand in for.
const INJECTABLE: [u32; 4] = [T_SEGNP, T_STACK, T_ALIGN, T_SIMDERR];

/// Arm the kernel test `name`; false if it is not one of these.
pub fn arm(name: &str) -> bool {
    if name == "test_exc_inject" {
        INJECT.store(true, Ordering::Relaxed);
        return true;
    }
    match TESTS.iter().position(|t| *t == name) {
        Some(i) => {
            ARMED.store(i as u32 + 1, Ordering::Relaxed);
            true
        }
        None => false,
    }
}

/// Called on every timer interrupt on CPU `cpu`, with the big kernel lock held.
pub fn on_timer(cpu: CpuId) {
    let test = ARMED.load(Ordering::Relaxed);
    if test == 0
        || cpu.index() != cpu::ncpu() - 1
        || TICKS.fetch_add(1, Ordering::Relaxed) < FIRE_AFTER
    {
        return;
    }
    match TESTS[test as usize - 1] {
        "test_panic_pages" => {
            pmap::with_allocator_locked(|| panic!("ktest: panic with the page allocator lock held"))
        }
        "test_panic_console" => cprintf!("ktest: {}\n", Fails(false)),
        "test_kernel_fault" => cprintf!("ktest: {}\n", Fails(true)),
        // The page allocator's lock, taken again inside its own hold.
        "test_lock_twice" => {
            let n = pmap::with_allocator_locked(pmap::nfree_pages);
            cprintf!("ktest: took the page allocator's lock twice ({n} free pages)\n");
        }
        // The page allocator's lock, taken while printing (the console's locks come after
        // it in the order).
        _ => cprintf!("ktest: {}\n", CountsPages),
    }
}

/// A user trap `tf` about to be dispatched: with `test_exc_inject` armed, a breakpoint that
/// asks for it becomes the injected exception, as raised by the `int3` itself (a fault:
/// EIP at the instruction). Anything else is left alone.
/// Returns whether it did.
#[inline]
pub fn inject_exception(tf: &mut Trapframe) -> bool {
    let (eax, edx) = (tf.tf_regs.reg_eax, tf.tf_regs.reg_edx);
    if tf.tf_trapno != T_BRKPT
        || !INJECT.load(Ordering::Relaxed)
        || eax != KTEST_INJECT_MAGIC
        || !INJECTABLE.contains(&edx)
    {
        return false;
    }
    tf.tf_trapno = edx;
    tf.tf_err = tf.tf_regs.reg_ecx;
    // int3 is one byte; the trap left EIP after it.
    tf.tf_eip = tf.tf_eip.wrapping_sub(1);
    true
}

/// Formatting this takes the page allocator's lock inside `cprintf!`, that is with the
/// console's print and screen locks held.
struct CountsPages;

impl fmt::Display for CountsPages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} free pages", pmap::nfree_pages())
    }
}

/// Formatting this fails inside `cprintf!`, that is with the console's print lock held: by
/// panicking, or (`true`) by a kernel page fault (a read of address 0).
struct Fails(bool);

impl fmt::Display for Fails {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 {
            // SAFETY: not safe at all, on purpose: address 0 is unmapped in every address
            // space, so this read faults in kernel mode (the test).
            let v =
                unsafe { core::ptr::read_volatile(core::hint::black_box(0usize) as *const u32) };
            panic!("ktest: read {v:#x} from address 0");
        }
        panic!("ktest: panic with the console's print lock held")
    }
}
