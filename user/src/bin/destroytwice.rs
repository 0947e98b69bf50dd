//! destroytwice (ours, no JOS counterpart): destroying a child twice in a row while it runs
//! on another CPU must be harmless.
//!
//! JOS's env_destroy marks an env running on another CPU ENV_DYING, to be freed when it next
//! traps. A second sys_env_destroy still finds it (it is not FREE), and env_destroy then
//! frees it at once: its address space goes while the other CPU is still running on it, and
//! its slot is reused by the next fork while that CPU still thinks it runs the old env.
//! Specified: destroy is idempotent. Both calls return 0 (the second -E_BAD_ENV only if the
//! child is already gone, which this program checks through envs[]), the child ends
//! ENV_FREE (and, once free, no longer runs), and the next fork, which gets the same slot,
//! works normally.
//!
//! Each round forks a child that spins in user mode (with `pause`, never trapping
//! voluntarily) incrementing a word of a shared page; once the word moves while we spin
//! (the child runs on another CPU), destroy it twice. The next round's child must run too,
//! and a last child must run and exit on its own. Prints `destroytwice: ... ok` only if
//! every check held.
#![no_std]
#![no_main]

use jos_lib::inc::env::EnvId;
use jos_lib::inc::error::E_BAD_ENV;
use jos_lib::inc::syscall::SYS_ENV_DESTROY;
use jos_lib::{exit, fork, println, syscall};
use jos_user::hostile::{Shared, Shown, exists, stopped, wait_change, wait_gone};

jos_lib::entry!(umain);

const ROUNDS: u32 = 10;
const SHARED: u32 = 0x0e00_0000;
/// Shared words: the spinning child's counter, and the last child's "I ran" flag.
const SPIN: usize = 0;
const LAST: usize = 1;

/// The raw destroy call, so that both results are seen as they are.
fn destroy(id: EnvId) -> i32 {
    // SAFETY: destroying a child changes nothing in our own address space.
    unsafe { syscall(SYS_ENV_DESTROY, id as u32, 0, 0, 0, 0) }
}

fn spinner(sh: Shared) -> ! {
    loop {
        sh.add(SPIN, 1);
        // Hand QEMU's single TCG thread to the other vCPUs now and then (no trap).
        core::hint::spin_loop();
    }
}

/// Check a destroy result: 0 if the child existed before the call, -E_BAD_ENV if it is
/// gone after it. Returns whether the result was acceptable.
fn destroy_ok(what: &str, round: u32, r: i32, existed_before: bool, kid: EnvId) -> bool {
    let ok = (r == 0 && existed_before) || (r == -E_BAD_ENV && !exists(kid));
    if !ok {
        println!(
            "destroytwice: FAIL: round {}: {} destroy of {:08x} returned {}, child \
             existed before the call: {}",
            round,
            what,
            kid,
            Shown(r),
            existed_before
        );
    }
    ok
}

fn umain() {
    let sh = Shared::new(SHARED);
    let (mut failures, mut hit_dying) = (0u32, 0u32);
    for round in 0..ROUNDS {
        let kid = match fork() {
            Ok(0) => spinner(sh),
            Ok(id) => id,
            Err(e) => panic!("fork: {}", e),
        };
        // Wait until the child runs alongside us (the slot it got may be the one the
        // previous round destroyed twice).
        if !wait_change(sh, SPIN, sh.get(SPIN), 200_000) {
            println!(
                "destroytwice: FAIL: round {}: the new child never ran",
                round
            );
            failures += 1;
        }
        let r1 = destroy(kid);
        let between = exists(kid);
        let r2 = destroy(kid);
        if !destroy_ok("first", round, r1, true, kid) {
            failures += 1;
        }
        if !destroy_ok("second", round, r2, between, kid) {
            failures += 1;
        }
        if between {
            hit_dying += 1;
        }
        if !wait_gone(kid, 1_000_000) {
            println!(
                "destroytwice: FAIL: round {}: {:08x} never became ENV_FREE",
                round, kid
            );
            failures += 1;
        } else if !stopped(sh, SPIN) {
            println!(
                "destroytwice: FAIL: round {}: {:08x} is free but still running",
                round, kid
            );
            failures += 1;
        }
    }

    // A last child, in the slot just freed: it must run and exit normally.
    let kid = match fork() {
        Ok(0) => {
            sh.set(LAST, 1);
            exit();
        }
        Ok(id) => id,
        Err(e) => panic!("fork: {}", e),
    };
    if !wait_gone(kid, 1_000_000) || sh.get(LAST) != 1 {
        println!("destroytwice: FAIL: the last child did not run and exit");
        failures += 1;
    }

    if failures == 0 {
        println!(
            "destroytwice: {} rounds, the second destroy found the child still dying {} \
             times, all children freed, later forks ran: ok",
            ROUNDS, hit_dying
        );
    } else {
        println!("destroytwice: {} failure(s)", failures);
    }
}
