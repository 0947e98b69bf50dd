//! dyingcalls (ours, no JOS counterpart): a child being destroyed may no longer be
//! manipulated.
//!
//! Destroying a child that runs on another CPU leaves it ENV_DYING until that CPU notices.
//! JOS's envid2env only rejects FREE envs, so in the meantime the parent can still map pages
//! into it (leaking them into an env about to be freed), set its upcall, and set its status
//! to RUNNABLE, which turns the dying env back into a live one that another CPU may start a
//! second time. Specified: once destroyed, sys_page_alloc, sys_page_map into it,
//! sys_env_set_pgfault_upcall and sys_env_set_status on it return -E_BAD_ENV, and
//! sys_env_destroy returns 0 (or -E_BAD_ENV once it is FREE: envs[] tells which applies).
//!
//! Each round forks a child spinning in user mode, waits until it runs alongside us,
//! destroys it and at once makes the calls above. Prints `dyingcalls: ... ok` only if every
//! result was right and every child ended ENV_FREE, and stopped running once free.
#![no_std]
#![no_main]

use jos_lib::inc::env::{ENV_NOT_RUNNABLE, ENV_RUNNABLE, EnvId};
use jos_lib::inc::error::E_BAD_ENV;
use jos_lib::inc::syscall::*;
use jos_lib::{fork, pgfault_upcall, println, syscall};
use jos_user::hostile::{PU, PUW, Shared, Shown, exists, stopped, wait_change, wait_gone};

jos_lib::entry!(umain);

const ROUNDS: u32 = 10;
const SHARED: u32 = 0x0e00_0000;
/// A page the calls try to map into the child.
const SCRATCH: u32 = 0x1000_0000;

/// A raw system call aimed at the child.
fn sys(num: u32, a1: u32, a2: u32, a3: u32, a4: u32, a5: u32) -> i32 {
    // SAFETY: every call in this file targets the child (never us), except the source of
    // the page map, which only reads our shared page's mapping.
    unsafe { syscall(num, a1, a2, a3, a4, a5) }
}

fn spinner(sh: Shared) -> ! {
    loop {
        sh.add(0, 1);
        // Hand QEMU's single TCG thread to the other vCPUs now and then (no trap).
        core::hint::spin_loop();
    }
}

fn umain() {
    let sh = Shared::new(SHARED);
    let (mut failures, mut hit_dying) = (0u32, 0u32);
    for round in 0..ROUNDS {
        let kid: EnvId = match fork() {
            Ok(0) => spinner(sh),
            Ok(id) => id,
            Err(e) => panic!("fork: {}", e),
        };
        if !wait_change(sh, 0, sh.get(0), 200_000) {
            println!("dyingcalls: FAIL: round {}: the child never ran", round);
            failures += 1;
        }
        let r = sys(SYS_ENV_DESTROY, kid as u32, 0, 0, 0, 0);
        if r != 0 {
            println!(
                "dyingcalls: FAIL: round {}: destroy returned {}",
                round,
                Shown(r)
            );
            failures += 1;
        }
        if exists(kid) {
            hit_dying += 1;
        }
        let k = kid as u32;
        // Alternate the status: RUNNABLE would revive it, NOT_RUNNABLE suspend a corpse.
        let status = if round % 2 == 0 {
            ENV_RUNNABLE
        } else {
            ENV_NOT_RUNNABLE
        };
        let calls: [(&str, u32, [u32; 5]); 4] = [
            (
                "sys_page_alloc into it",
                SYS_PAGE_ALLOC,
                [k, SCRATCH, PUW, 0, 0],
            ),
            (
                "sys_page_map into it",
                SYS_PAGE_MAP,
                [0, SHARED, k, SCRATCH, PU],
            ),
            (
                "sys_env_set_pgfault_upcall on it",
                SYS_ENV_SET_PGFAULT_UPCALL,
                [k, pgfault_upcall(), 0, 0, 0],
            ),
            (
                "sys_env_set_status on it",
                SYS_ENV_SET_STATUS,
                [k, status, 0, 0, 0],
            ),
        ];
        for (what, num, a) in calls {
            let r = sys(num, a[0], a[1], a[2], a[3], a[4]);
            if r != -E_BAD_ENV {
                println!(
                    "dyingcalls: FAIL: round {}: {} returned {}, expected -E_BAD_ENV",
                    round,
                    what,
                    Shown(r)
                );
                failures += 1;
            }
        }
        let before = exists(kid);
        let r = sys(SYS_ENV_DESTROY, k, 0, 0, 0, 0);
        if !((r == 0 && before) || (r == -E_BAD_ENV && !exists(kid))) {
            println!(
                "dyingcalls: FAIL: round {}: destroying it again returned {}, child \
                 existed before the call: {}",
                round,
                Shown(r),
                before
            );
            failures += 1;
        }
        if !wait_gone(kid, 1_000_000) {
            println!(
                "dyingcalls: FAIL: round {}: {:08x} never became ENV_FREE",
                round, kid
            );
            failures += 1;
        } else if !stopped(sh, 0) {
            println!(
                "dyingcalls: FAIL: round {}: {:08x} is free but still running",
                round, kid
            );
            failures += 1;
        }
    }
    if failures == 0 {
        println!(
            "dyingcalls: {} rounds, the child was still dying during the calls {} times, \
             every call refused: ok",
            ROUNDS, hit_dying
        );
    } else {
        println!("dyingcalls: {} failure(s)", failures);
    }
}
