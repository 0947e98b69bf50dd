//! setstatusrace (ours, no JOS counterpart): setting the status of a child that is running
//! on another CPU must neither crash the kernel nor let the child run on two CPUs at once.
//!
//! JOS's sys_env_set_status simply overwrites env_status. For a child RUNNING on another
//! CPU, NOT_RUNNABLE and then RUNNABLE makes it look runnable while it still runs: the next
//! CPU to schedule starts it a second time from its stale trap frame; destroying it while it
//! is marked NOT_RUNNABLE frees its address space under the CPU still running it.
//!
//! Each round forks a child that counts with plain (non-atomic) increments of a private
//! counter, and in a register, until told to stop; it never traps voluntarily and publishes
//! its progress in a shared page. Once it runs, the parent toggles its status
//! NOT_RUNNABLE / RUNNABLE many times, mostly back to back, yielding at random so its own
//! CPU schedules too; every call must return 0. Even rounds then
//! destroy the child mid-count (0 expected) and check that its slot ends ENV_FREE and that
//! it then no longer runs (its progress counter stops); odd
//! rounds stop it: the counter must equal the loop count (stresssched's check: an env run
//! on two CPUs at once counts some increments twice or loses some) and it must exit. (Run
//! twice at once, a child may also wreck its own stack and die in a user panic, or the
//! kernel reuse its freed page tables: any of these keeps the last line from printing.)
//! Prints `setstatusrace: ... ok` only if every check held.
#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use core::ptr::{read_volatile, write_volatile};

use jos_lib::inc::env::{ENV_NOT_RUNNABLE, ENV_RUNNABLE, EnvId};
use jos_lib::{exit, fork, println, sys_env_destroy, sys_env_set_status, sys_getenvid, sys_yield};
use jos_user::hostile::{Rng, Shared, exists, spin, stopped, wait_change, wait_gone};

jos_lib::entry!(umain);

const ROUNDS: u32 = 12;
/// Status changes (pairs) per round.
const TOGGLES: u32 = 60;

/// The page shared with the children, and its words.
const SHARED: u32 = 0x0e00_0000;
/// The child's loop count, so we see it run (and see it stop).
const PROGRESS: usize = 0;
/// Set by the parent: stop counting, report and exit.
const STOP: usize = 1;
/// Set by the child when it has reported.
const DONE: usize = 2;
/// How many increments the child made (its loop count) ...
const COUNT: usize = 3;
/// ... and what its counter says.
const COUNTED: usize = 4;

/// The child's private counter (copy-on-write after fork, so each child has its own).
struct Counter(UnsafeCell<u32>);
// SAFETY: each environment is single-threaded; an env running on two CPUs at once is
// exactly the bug the count detects.
unsafe impl Sync for Counter {}
static COUNTER: Counter = Counter(UnsafeCell::new(0));

fn child(sh: Shared) -> ! {
    let c = COUNTER.0.get();
    // `n` lives in a register: an env restarted on a second CPU from a stale trap frame
    // brings an old `n` while the counter in memory has moved on.
    let mut n: u32 = 0;
    while sh.get(STOP) == 0 {
        // SAFETY: COUNTER is a valid static; see Counter.
        unsafe { write_volatile(c, read_volatile(c) + 1) };
        n += 1;
        // A `pause` (no trap) hands QEMU's single TCG thread back to the other vCPUs:
        // without it this vCPU keeps the host thread until its next timer tick, and the
        // parent's status changes could never land while we run.
        core::hint::spin_loop();
        sh.set(PROGRESS, n);
    }
    sh.set(COUNT, n);
    // SAFETY: as above.
    sh.set(COUNTED, unsafe { read_volatile(c) });
    sh.set(DONE, 1);
    exit();
}

/// Toggle `kid`'s status `TOGGLES` times. Returns the number of calls that failed while the
/// child still existed (none may).
fn toggle(kid: EnvId, rng: &mut Rng) -> u32 {
    for _ in 0..TOGGLES {
        for status in [ENV_NOT_RUNNABLE, ENV_RUNNABLE] {
            if let Err(e) = sys_env_set_status(kid, status) {
                if exists(kid) {
                    println!(
                        "setstatusrace: FAIL: set_status({:08x}, {}) failed: {}",
                        kid, status, e
                    );
                    return 1;
                }
                return 0;
            }
            // Mostly back to back: the child's CPU must not reach its next timer tick in
            // between, or it simply deschedules the child and there is no race.
            if rng.below(4) == 0 {
                spin(rng.below(16));
            }
        }
        // Let our own CPU schedule: with the child marked RUNNABLE while it still runs
        // elsewhere, this is when a second CPU would start it again.
        if rng.below(2) == 0 {
            sys_yield();
        }
    }
    0
}

fn umain() {
    let sh = Shared::new(SHARED);
    let mut rng = Rng(0x5e7_57a7 ^ sys_getenvid() as u32);
    let (mut failures, mut destroyed, mut finished) = (0u32, 0u32, 0u32);
    for round in 0..ROUNDS {
        for w in [PROGRESS, STOP, DONE, COUNT, COUNTED] {
            sh.set(w, 0);
        }
        let kid = match fork() {
            Ok(0) => child(sh),
            Ok(id) => id,
            Err(e) => panic!("fork: {}", e),
        };
        // Wait until it runs alongside us.
        if !wait_change(sh, PROGRESS, 0, 200_000) {
            println!("setstatusrace: FAIL: round {}: child never ran", round);
            failures += 1;
        }
        failures += toggle(kid, &mut rng);
        if round % 2 == 0 {
            match sys_env_destroy(kid) {
                Ok(()) => destroyed += 1,
                Err(e) => {
                    println!("setstatusrace: FAIL: destroy({:08x}): {}", kid, e);
                    failures += 1;
                }
            }
        } else {
            // Make sure it is runnable, then stop it.
            let r = sys_env_set_status(kid, ENV_RUNNABLE);
            sh.set(STOP, 1);
            for _ in 0..1_000_000 {
                if sh.get(DONE) != 0 {
                    break;
                }
                sys_yield();
            }
            if sh.get(DONE) == 0 {
                println!(
                    "setstatusrace: FAIL: round {}: child never finished (last set_status: {:?})",
                    round, r
                );
                failures += 1;
            } else if sh.get(COUNTED) != sh.get(COUNT) {
                println!(
                    "setstatusrace: FAIL: ran on two CPUs at once (counter is {}, expected {})",
                    sh.get(COUNTED),
                    sh.get(COUNT)
                );
                failures += 1;
            } else {
                finished += 1;
            }
        }
        if !wait_gone(kid, 1_000_000) {
            println!(
                "setstatusrace: FAIL: round {}: child {:08x} never became ENV_FREE",
                round, kid
            );
            failures += 1;
        } else if !stopped(sh, PROGRESS) {
            println!(
                "setstatusrace: FAIL: round {}: child {:08x} is free but still running",
                round, kid
            );
            failures += 1;
        }
    }
    if failures == 0 {
        println!(
            "setstatusrace: {} rounds of {} status toggles, {} children destroyed while \
             running, {} counted exactly: ok",
            ROUNDS,
            2 * TOGGLES,
            destroyed,
            finished
        );
    } else {
        println!("setstatusrace: {} failure(s)", failures);
    }
}
