//! priostarve (ours; JOS lab 4's priority challenge): no runnable env waits without bound,
//! at any priority, while higher priorities keep every CPU busy.
//!
//! With priorities (`sys_env_set_priority`, 15) a strict rule would starve every level below
//! a busy one, so some timer ticks go to the lower levels ("aging"). Two ways to get that
//! wrong, both found here: an aging tick that starts its round robin after the preempted
//! (high-priority) env's slot picks the same low env every time, so the others at that
//! level never run; and aging ticks that only ever go to the lowest level leave the levels
//! in between starved for good. Specified: every level keeps its own round-robin position,
//! and every level below the top gets aging turns, so an env at a level of `n` envs waits at
//! most about `AGING_PERIOD * (NPRIO - 1) * n` ticks of a CPU.
//!
//! The program (priority 3) forks spinners that never trap voluntarily: `HIGH` at priority 3
//! (with us, more than the 4 CPUs the grader gives it at most, so every CPU is always busy at
//! the top level), `MID` at each of priorities 2 and 1, and `LOW` at priority 0, interleaved
//! in the env table (`LEVELS`), so that no slot order favours anyone. Then it watches, without
//! a system call, every env's `env_runs` in envs[]: a spinner's count grows by one each time
//! a timer tick gives it a CPU (or keeps it there), so the sum of all counts is the number of
//! ticks of all CPUs together, and divided by the number of CPUs (the highest `env_cpunum`
//! seen, plus one) the ticks of one CPU. For each env it records the longest stretch of
//! ticks during which its count did not move (what it waited), over `RUN` ticks of each CPU.
//! We are one of the spinners and sample only while we run, so a count that moved between
//! two samples is counted as having moved at the later one, but its wait only up to the
//! earlier: what it waited at least (our own lateness is never blamed on it). Each env's wait
//! must stay within `bound(n)` for its level of `n` envs: twice the specified worst case,
//! plus `SLACK`. `RUN` is longer than every bound, so an env that never runs fails.
//!
//! Prints, per level, the envs and the longest wait, then `priostarve: every env ran
//! within its bound: ok`, or a FAIL line per env that waited too long.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use jos_lib::inc::env::{EnvId, NPRIO, envx};
use jos_lib::{envs, fork, println, sys_env_destroy, sys_env_set_priority, thisenv};

jos_lib::entry!(umain);

/// The scheduler's aging period (README "Priorities": every eighth tick of a CPU).
const AGING_PERIOD: u32 = 8;
/// Ticks of a CPU added to every bound: the CPUs' timers are not in step (a tick of one
/// CPU is a quarter of the total only on average).
const SLACK: u32 = 16;

/// The bound on an env's wait, in ticks of one CPU, at a level of `n` runnable envs: twice
/// `AGING_PERIOD * (NPRIO - 1) * n`, plus SLACK.
const fn bound(n: u32) -> u32 {
    2 * AGING_PERIOD * (NPRIO - 1) * n + SLACK
}

/// The children's priorities, in fork order (so in env-table order): 4 at the top, 2 at each
/// middle level, 8 at the bottom, mixed.
const LEVELS: [u32; 16] = [0, 3, 0, 2, 0, 1, 0, 3, 0, 2, 0, 3, 1, 0, 3, 0];
const N: usize = LEVELS.len() + 1;

/// How many ticks of each CPU to watch: longer than the largest bound, so that an env that
/// never runs is caught (with 8 envs at priority 0: bound 400).
const RUN: u32 = 500;

/// Envs at level `p` (counting us at the top).
const fn at_level(p: u32) -> u32 {
    let mut n = if p == NPRIO - 1 { 1 } else { 0 };
    let mut i = 0;
    while i < LEVELS.len() {
        if LEVELS[i] == p {
            n += 1;
        }
        i += 1;
    }
    n
}

const _: () = {
    let mut p = 0;
    while p < NPRIO {
        assert!(bound(at_level(p)) < RUN);
        p += 1;
    }
};

fn umain() {
    // Index 0 is us, 1.. the children in fork order.
    let mut ids = [0 as EnvId; N];
    let mut prio = [NPRIO - 1; N];
    ids[0] = thisenv().env_id();
    for (i, &p) in LEVELS.iter().enumerate() {
        ids[i + 1] = match fork() {
            // A spinner: never traps voluntarily. The `pause` lets QEMU's single TCG thread
            // deliver a pending timer interrupt (see prio.rs).
            Ok(0) => loop {
                core::hint::spin_loop();
            },
            Ok(id) => id,
            Err(e) => panic!("fork: {}", e),
        };
        prio[i + 1] = p;
        if let Err(e) = sys_env_set_priority(ids[i + 1], p) {
            panic!("sys_env_set_priority({:08x}, {}): {}", ids[i + 1], p, e);
        }
    }

    // Watch. `total` counts ticks of all CPUs since the start; per env, the total when we
    // last saw its count move, and its longest wait so far (both in ticks of all CPUs).
    let runs = |i: usize| envs()[envx(ids[i])].env_runs();
    let mut last = [0u32; N];
    let mut base = [0u32; N];
    for i in 0..N {
        base[i] = runs(i);
        last[i] = base[i];
    }
    let mut seen = [0u32; N];
    let mut wait = [0u32; N];
    let mut ran = [0u32; N];
    let mut ncpu = 1u32;
    let mut total = 0u32;
    // The total at the previous sample: an env whose count moved since ran after it.
    let mut prev = 0u32;
    while total < RUN * ncpu {
        let mut sum = 0u32;
        for i in 0..N {
            let r = runs(i);
            sum = sum.wrapping_add(r.wrapping_sub(base[i]));
            let cpu = envs()[envx(ids[i])].env_cpunum();
            if cpu >= 0 {
                ncpu = ncpu.max(cpu as u32 + 1);
            }
        }
        total = sum;
        for i in 0..N {
            let r = runs(i);
            if r != last[i] {
                // It ran after `prev`, and (before this) last ran by `seen[i]`: it waited at
                // least `prev - seen[i]`. Counting only that much, we never blame an env for
                // our own lateness in noticing.
                wait[i] = wait[i].max(prev.saturating_sub(seen[i]));
                seen[i] = total;
                last[i] = r;
                ran[i] += 1;
            }
        }
        prev = total;
        core::hint::spin_loop();
    }
    for i in 0..N {
        wait[i] = wait[i].max(total - seen[i]);
    }
    for &id in &ids[1..] {
        let _ = sys_env_destroy(id);
    }

    println!(
        "priostarve: {} envs, {} CPU(s), {} ticks of each CPU watched",
        N,
        ncpu,
        total / ncpu
    );
    let mut failures = 0;
    for p in (0..NPRIO).rev() {
        let n = at_level(p);
        let b = bound(n);
        let longest = (0..N)
            .filter(|&i| prio[i] == p)
            .map(|i| wait[i].div_ceil(ncpu))
            .max()
            .unwrap_or(0);
        println!(
            "priostarve: priority {}: {} envs, longest wait {} ticks of a CPU (bound {})",
            p, n, longest, b
        );
        for i in (0..N).filter(|&i| prio[i] == p) {
            let w = wait[i].div_ceil(ncpu);
            if w > b {
                if ran[i] == 0 {
                    println!(
                        "priostarve: FAIL: env {:08x} at priority {} never ran in {} ticks \
                         of a CPU (bound {})",
                        ids[i],
                        p,
                        total / ncpu,
                        b
                    );
                } else {
                    println!(
                        "priostarve: FAIL: env {:08x} at priority {} waited {} ticks of a CPU \
                         (bound {}; it ran {} times)",
                        ids[i], p, w, b, ran[i]
                    );
                }
                failures += 1;
            }
        }
    }
    if failures == 0 {
        println!("priostarve: every env ran within its bound: ok");
    } else {
        println!("priostarve: {} env(s) starved", failures);
    }
}
