//! stresssched (JOS's user/stresssched.c): 20 children each yield ten times and count to
//! 100000 in a private (copy-on-write) counter; a wrong total means one environment ran on
//! two CPUs at once. Each prints `[id] stresssched on CPU n`: with CPUS=4 all four must
//! appear.
#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use core::ptr::{read_volatile, write_volatile};

use jos_lib::inc::env::{ENV_FREE, envx};
use jos_lib::{envs, fork, println, sys_getenvid, sys_yield, thisenv};

jos_lib::entry!(umain);

/// JOS's `volatile int counter`: plain (non-atomic) volatile increments, so that two CPUs
/// running the same environment would lose updates.
struct Counter(UnsafeCell<i32>);
// SAFETY: each environment is single-threaded; sharing across CPUs is exactly the bug
// this program detects.
unsafe impl Sync for Counter {}
static COUNTER: Counter = Counter(UnsafeCell::new(0));

fn umain() {
    let parent = sys_getenvid();

    // Fork several environments.
    let mut i = 0;
    while i < 20 {
        match fork() {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => panic!("fork: {}", e),
        }
        i += 1;
    }
    if i == 20 {
        sys_yield();
        return;
    }

    // Wait for the parent to finish forking.
    while envs()[envx(parent)].env_status() != ENV_FREE {
        core::hint::spin_loop();
    }

    // Check that one environment doesn't run on two CPUs at once.
    let c = COUNTER.0.get();
    for _ in 0..10 {
        sys_yield();
        for _ in 0..10000 {
            // SAFETY: COUNTER is a valid static; see Counter.
            unsafe { write_volatile(c, read_volatile(c) + 1) };
        }
    }
    // SAFETY: as above.
    let total = unsafe { read_volatile(c) };
    if total != 10 * 10000 {
        panic!("ran on two CPUs at once (counter is {})", total);
    }

    // Check that we see environments running on different CPUs.
    println!(
        "[{:08x}] stresssched on CPU {}",
        thisenv().env_id(),
        thisenv().env_cpunum()
    );
}
