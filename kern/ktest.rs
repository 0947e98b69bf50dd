//! Kernel tests that need the kernel to misbehave on purpose (not in JOS): panics and faults
//! raised with a lock held, on a busy SMP machine, to show that a panic always reports, reaches
//! the monitor, and stops the other CPUs (kern/panic.rs).
//!
//! Selected like programs (`make run-test_panic_pages+idle+idle+idle-nox CPUS=4`): the test is
//! armed at boot, the other names start as envs, and the test fires from a timer interrupt on
//! the last CPU, a few ticks in, while the others are running or spinning on the big lock.

use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::{cprintf, cpu, pmap};

/// The armed test (0: none).
static ARMED: AtomicU32 = AtomicU32::new(0);
/// Timer ticks seen on the firing CPU.
static TICKS: AtomicU32 = AtomicU32::new(0);
/// Ticks before the test fires: enough for every CPU to be running its env.
const FIRE_AFTER: u32 = 3;

const TESTS: [&str; 3] = [
    "test_panic_pages",
    "test_panic_console",
    "test_kernel_fault",
];

/// Arm the kernel test `name`; false if it is not one of these.
pub fn arm(name: &str) -> bool {
    match TESTS.iter().position(|t| *t == name) {
        Some(i) => {
            ARMED.store(i as u32 + 1, Ordering::Relaxed);
            true
        }
        None => false,
    }
}

/// Called on every timer interrupt on CPU `cpu`, with the big kernel lock held.
pub fn on_timer(cpu: usize) {
    let test = ARMED.load(Ordering::Relaxed);
    if test == 0 || cpu != cpu::ncpu() - 1 || TICKS.fetch_add(1, Ordering::Relaxed) < FIRE_AFTER {
        return;
    }
    match TESTS[test as usize - 1] {
        "test_panic_pages" => {
            pmap::with_allocator_locked(|| panic!("ktest: panic with the page allocator lock held"))
        }
        "test_panic_console" => cprintf!("ktest: {}\n", Fails(false)),
        _ => cprintf!("ktest: {}\n", Fails(true)),
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
