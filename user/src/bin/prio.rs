//! prio (ours; JOS lab 4's priority challenge): low-priority spinners cannot hold back a
//! high-priority env, and are not starved either.
//!
//! The program forks `SPINNERS` children that spin in user mode forever (more than there are
//! CPUs), then runs a fixed CPU-bound job twice: with the spinners at its own priority (JOS's
//! round robin: the job shares its CPU with them), and with them lowered to priority 0. It
//! measures in timer ticks, not time (the host's load does not matter): each time an env is
//! resumed after a tick its `env_runs` grows, so during the job the job's own count is the
//! ticks it ran and the spinners' total the ticks they ran. The job's share of those must at
//! least double with priorities (expected: from 1/(SPINNERS+1) to nearly all of its CPU), and
//! the spinners must still have run (every eighth tick goes to the lowest priority). A child
//! may not be raised above its parent (-E_INVAL).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use jos_lib::inc::env::{ENV_PRIO_DEFAULT, EnvId, NPRIO, envx};
use jos_lib::{Error, envs, fork, println, sys_env_destroy, sys_env_set_priority, thisenv};

jos_lib::entry!(umain);

/// More than there are CPUs (the grader runs this on 1 and 4).
const SPINNERS: usize = 12;
/// The job: a few timer ticks of computation on its own.
const WORK: u32 = 6_000_000;

/// Runs the job; returns (ticks the job ran, ticks the spinners ran) meanwhile.
fn job(kids: &[EnvId]) -> (u32, u32) {
    let spins = || -> u32 { kids.iter().map(|&k| envs()[envx(k)].env_runs()).sum() };
    let (me0, sp0) = (thisenv().env_runs(), spins());
    let mut x = 0u32;
    for i in 0..WORK {
        x = black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    black_box(x);
    (thisenv().env_runs() - me0, spins() - sp0)
}

fn umain() {
    let mut kids = [0 as EnvId; SPINNERS];
    for k in kids.iter_mut() {
        *k = match fork() {
            // `pause` in the loop: QEMU 7.2's single-threaded TCG was seen (about one run in
            // ten, with the host's cores busy) to leave a pending LAPIC timer interrupt
            // undelivered to a bare `jmp .` loop (IRR set, IF=1, for minutes); a pause
            // returns to QEMU's loop, which delivers it.
            Ok(0) => loop {
                core::hint::spin_loop();
            },
            Ok(id) => id,
            Err(e) => panic!("fork: {}", e),
        };
    }
    // Round robin among equals (JOS): the job shares its CPU with the spinners.
    let (job_eq, spin_eq) = job(&kids);
    for &k in &kids {
        sys_env_set_priority(k, 0).expect("lowering a child");
    }
    let (job_pr, mut spin_pr) = job(&kids);
    // The spinners get every eighth tick: if the job was shorter than that, keep the CPU busy
    // (a bounded number of jobs) until they have run.
    let mut more = 0;
    while spin_pr == 0 && more < 40 {
        spin_pr += job(&kids).1;
        more += 1;
    }
    // Nobody rises above its parent; priorities are 0..NPRIO.
    let raise = sys_env_set_priority(kids[0], ENV_PRIO_DEFAULT);
    let too_high = sys_env_set_priority(0, NPRIO);
    for &k in &kids {
        let _ = sys_env_destroy(k);
    }
    println!(
        "prio: ticks job/spinners: {}/{} with equal priorities, {}/{} above them",
        job_eq, spin_eq, job_pr, spin_pr
    );
    // share_pr > 2 * share_eq, as integers: job_pr/(job_pr+spin_pr) > 2 job_eq/(job_eq+spin_eq).
    let (a, b) = (u64::from(job_pr), u64::from(job_pr + spin_pr));
    let (c, d) = (u64::from(job_eq), u64::from(job_eq + spin_eq));
    assert!(
        a * d > 2 * c * b,
        "the low-priority spinners held the job back"
    );
    assert!(spin_pr > 0, "the low-priority spinners starved");
    // Raising a child back to our own priority is allowed; above it (or past NPRIO) is not.
    assert_eq!(raise, Ok(()));
    assert_eq!(too_high, Err(Error::Inval));
    println!("prio: high priority unhindered, low priority not starved: ok");
}
