//! prio (ours; JOS lab 4's priority challenge): a low-priority spinner cannot hold back a
//! high-priority env, and is not starved either.
//!
//! The program forks `SPINNERS` children that spin in user mode forever (more than there are
//! CPUs), then times a fixed CPU-bound job twice with `rdtsc`: with the spinners at its own
//! priority (JOS's round robin: the job shares its CPU), and with them lowered to priority 0.
//! The second run must take well under half as long (with K spinners sharing its CPU round
//! robin, the job gets 1/(K+1) of it; with priorities, all but one tick in eight). Then, while
//! the program keeps its CPU busy, the spinners must run all the same (every eighth tick goes
//! to the lowest priority), and a child may not be raised above its parent (-E_INVAL).
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

use core::hint::black_box;

use jos_lib::inc::env::{ENV_PRIO_DEFAULT, EnvId, NPRIO, envx};
use jos_lib::{Error, envs, fork, println, sys_env_destroy, sys_env_set_priority};

jos_lib::entry!(umain);

/// Enough to keep every CPU busy several times over (CPUS is at most 8 here).
const SPINNERS: usize = 12;
/// The job: long enough to span many timer ticks.
const WORK: u32 = 3_000_000;

fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: rdtsc only reads the time-stamp counter (CR4.TSD is clear).
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

fn job() -> u64 {
    let t0 = rdtsc();
    let mut x = 0u32;
    for i in 0..WORK {
        x = black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    black_box(x);
    rdtsc() - t0
}

fn runs(kids: &[EnvId]) -> u32 {
    kids.iter().map(|&k| envs()[envx(k)].env_runs()).sum()
}

fn umain() {
    let mut kids = [0 as EnvId; SPINNERS];
    for k in kids.iter_mut() {
        *k = match fork() {
            #[allow(clippy::empty_loop)]
            Ok(0) => loop {},
            Ok(id) => id,
            Err(e) => panic!("fork: {}", e),
        };
    }
    // Round robin among equals (JOS): the job shares its CPU with the spinners.
    let shared = job();
    for &k in &kids {
        sys_env_set_priority(k, 0).expect("lowering a child");
    }
    let before = runs(&kids);
    let alone = job();
    // Keep the CPU busy until the spinners have run (every eighth tick is theirs); a job is
    // about a tick, so this is bounded by some forty ticks.
    let mut extra = 0;
    while runs(&kids) == before && extra < 40 * 8 {
        job();
        extra += 1;
    }
    let spun = runs(&kids) - before;
    // Nobody rises above its parent; priorities are 0..NPRIO.
    let raise = sys_env_set_priority(kids[0], ENV_PRIO_DEFAULT);
    let too_high = sys_env_set_priority(0, NPRIO);
    for &k in &kids {
        let _ = sys_env_destroy(k);
    }
    println!(
        "prio: job took {} with equal priorities, {} above the spinners",
        shared, alone
    );
    assert!(
        alone * 2 < shared,
        "the low-priority spinners held the job back ({} vs {})",
        alone,
        shared
    );
    assert!(spun > 0, "the low-priority spinners starved");
    // Raising a child back to our own priority is allowed; above it (or past NPRIO) is not.
    assert_eq!(raise, Ok(()));
    assert_eq!(too_high, Err(Error::Inval));
    println!("prio: high priority unhindered, low priority not starved: ok");
}
