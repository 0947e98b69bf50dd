//! recvwake (ours, no JOS counterpart): suspending or resuming an env is orthogonal to its
//! blocking in `sys_ipc_recv`.
//!
//! JOS blocks a receiver by marking it NOT_RUNNABLE and wakes it by marking it RUNNABLE, the
//! same field sys_env_set_status writes. So its parent can "wake" a receiver that has no
//! message (its sys_ipc_recv then returns whatever was in EAX: the syscall number, 12), and a
//! send to a receiver its parent suspended resumes it anyway. Specified:
//! 1. sys_env_set_status(child, RUNNABLE) on a receiving child returns 0 and does not end
//!    the receive: the child stays blocked (env_ipc_recving stays true) until a message
//!    comes; sent 42 by ipc_send, its ipc_recv returns Ok with 42 from us.
//! 2. A receiving child set NOT_RUNNABLE still accepts a send (sys_ipc_try_send returns 0),
//!    but does not run until set RUNNABLE again; then it reports the value.
//!
//! The children call sys_ipc_recv raw and report its result, the value and the sender
//! through a shared page (so that a wrong wake-up is reported, not a user panic), and print
//! `recvwake: child: ipc_recv returned Ok with value V from P`. Prints
//! `recvwake: ... ok` only if every check held.
#![no_std]
#![no_main]

use jos_lib::inc::env::{ENV_NOT_RUNNABLE, ENV_RUNNABLE, EnvId, envx};
use jos_lib::inc::memlayout::UTOP;
use jos_lib::inc::syscall::{SYS_IPC_RECV, SYS_IPC_TRY_SEND};
use jos_lib::{
    envs, exit, fork, ipc_send, println, sys_env_set_status, sys_getenvid, sys_yield, syscall,
    thisenv,
};
use jos_user::hostile::{Shared, Shown, spin, wait_gone};

jos_lib::entry!(umain);

const SHARED: u32 = 0x0e00_0000;
/// Shared words: the child's sys_ipc_recv result, + 1 once it returned; value; sender.
const RESULT: usize = 0;
const VALUE: usize = 1;
const FROM: usize = 2;

/// How long to watch a child that must not run: yields, with a spin between, on every CPU
/// count: far longer than a runnable child needs to be scheduled.
const WATCH: u32 = 200;

/// Receive once (no page) and report.
fn receiver(sh: Shared) -> ! {
    // SAFETY: with dstva = UTOP no page is mapped into our address space.
    let r = unsafe { syscall(SYS_IPC_RECV, UTOP, 0, 0, 0, 0) };
    let me = thisenv();
    sh.set(VALUE, me.env_ipc_value());
    sh.set(FROM, me.env_ipc_from() as u32);
    sh.set(RESULT, (r + 1) as u32);
    if r == 0 {
        println!(
            "recvwake: child: ipc_recv returned Ok with value {} from {:08x}",
            me.env_ipc_value(),
            me.env_ipc_from()
        );
    } else {
        println!("recvwake: child: ipc_recv returned {}", Shown(r));
    }
    exit();
}

fn fork_receiver(sh: Shared) -> EnvId {
    for w in [RESULT, VALUE, FROM] {
        sh.set(w, 0);
    }
    let kid = match fork() {
        Ok(0) => receiver(sh),
        Ok(id) => id,
        Err(e) => panic!("fork: {}", e),
    };
    while !envs()[envx(kid)].env_ipc_recving() {
        sys_yield();
    }
    kid
}

/// Yield and spin for a while; false if the child's receive returned meanwhile.
fn stays_blocked(sh: Shared) -> bool {
    for _ in 0..WATCH {
        sys_yield();
        spin(50);
        if sh.get(RESULT) != 0 {
            return false;
        }
    }
    true
}

/// Wait for the child's report and check it: Ok, `value`, from us.
fn check_report(sh: Shared, value: u32, what: &str) -> bool {
    let me = sys_getenvid() as u32;
    for _ in 0..100_000 {
        if sh.get(RESULT) != 0 {
            break;
        }
        sys_yield();
    }
    let (r, v, from) = (sh.get(RESULT), sh.get(VALUE), sh.get(FROM));
    if r == 1 && v == value && from == me {
        return true;
    }
    if r == 0 {
        println!(
            "recvwake: FAIL: {}: the child never returned from ipc_recv",
            what
        );
    } else {
        println!(
            "recvwake: FAIL: {}: the child's ipc_recv returned {} with value {} from {:08x}, \
             expected 0 with {} from {:08x}",
            what,
            Shown(r as i32 - 1),
            v,
            from,
            value,
            me
        );
    }
    false
}

fn umain() {
    let sh = Shared::new(SHARED);
    let mut failures = 0;

    // 1. RUNNABLE does not cancel a receive.
    let kid = fork_receiver(sh);
    if let Err(e) = sys_env_set_status(kid, ENV_RUNNABLE) {
        println!("recvwake: FAIL: set_status(RUNNABLE) on a receiver: {}", e);
        failures += 1;
    }
    if !stays_blocked(sh) || !envs()[envx(kid)].env_ipc_recving() {
        println!(
            "recvwake: FAIL: setting a receiving child RUNNABLE woke it without a message \
             (its ipc_recv returned {})",
            Shown(sh.get(RESULT) as i32 - 1)
        );
        failures += 1;
    } else {
        println!("recvwake: a receiving child set RUNNABLE stays blocked: ok");
        ipc_send(kid, 42, None, jos_lib::Pte::empty());
        if !check_report(sh, 42, "after RUNNABLE") {
            failures += 1;
        }
    }
    if !wait_gone(kid, 100_000) {
        println!("recvwake: FAIL: the first child never exited");
        failures += 1;
    }

    // 2. A suspended receiver takes the message but runs only once resumed.
    let kid = fork_receiver(sh);
    if let Err(e) = sys_env_set_status(kid, ENV_NOT_RUNNABLE) {
        println!(
            "recvwake: FAIL: set_status(NOT_RUNNABLE) on a receiver: {}",
            e
        );
        failures += 1;
    }
    // SAFETY: a send without a page changes nothing in our address space.
    let r = unsafe { syscall(SYS_IPC_TRY_SEND, kid as u32, 43, UTOP, 0, 0) };
    if r != 0 {
        println!(
            "recvwake: FAIL: sending to a suspended receiver returned {}, expected 0",
            Shown(r)
        );
        failures += 1;
    }
    if !stays_blocked(sh) {
        println!("recvwake: FAIL: a suspended receiver ran when sent a message");
        failures += 1;
    } else {
        println!("recvwake: a suspended receiver stays suspended after a send: ok");
    }
    if let Err(e) = sys_env_set_status(kid, ENV_RUNNABLE) {
        println!("recvwake: FAIL: set_status(RUNNABLE) after the send: {}", e);
        failures += 1;
    }
    if !check_report(sh, 43, "after resuming") {
        failures += 1;
    }
    if !wait_gone(kid, 100_000) {
        println!("recvwake: FAIL: the second child never exited");
        failures += 1;
    }

    if failures == 0 {
        println!("recvwake: receive and suspension are independent: ok");
    } else {
        println!("recvwake: {} failure(s)", failures);
    }
}
