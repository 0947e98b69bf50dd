//! The scheduler's choice (JOS's `sched_yield` policy), factored out of the kernel so that its
//! fairness is host-tested: which runnable env a CPU runs next.
//!
//! JOS's rule is round robin: the first RUNNABLE env after the one this CPU ran, circularly.
//! Here the runnable envs are kept in run sets (bitmaps), one per priority level, so the
//! choice is a bit search rather than a scan of all NENV slots.
//!
//! Priorities (not in JOS; a lab 4 challenge): the highest non-empty level runs. To keep the
//! lower levels from starving, every `AGING_PERIOD`th timer tick of a CPU is an *aging turn*:
//! it goes to a level below the top instead, the levels below the top taking aging turns in
//! rotation (highest first), and each level has its own round-robin position, so the envs of
//! a level take its turns in order.
//!
//! The bound (host-tested in `tests::fairness`, a test of the priorities challenge, absent from
//! course handouts; the tests of the round robin alone are named `lab4_`: a handout skips them
//! before lab 4, where `round_robin` is the student's): with a fixed set of runnable envs, an env at
//! a level below the top runs within `AGING_PERIOD * (NPRIO - 1) * n` timer ticks of any one
//! CPU, `n` being the number of runnable envs at its level (its level gets one of every
//! `NPRIO - 1` aging turns at worst, and every aging turn of its level takes the next env of
//! that level); an env at the top level runs within `2 * n` ticks. With one level (no
//! priorities used), the choice is JOS's.

use jos_inc::env::NPRIO;

use crate::envid::EnvIdx;
use crate::runset::RunSet;

/// Every this many timer ticks of a CPU, a level below the top runs (an aging turn).
pub const AGING_PERIOD: u32 = 8;

const NLEVELS: usize = NPRIO as usize;
const _: () = assert!(NLEVELS <= 8);

/// The env a CPU is running when it chooses, as the choice needs it.
#[derive(Clone, Copy, Debug)]
pub struct Current {
    pub slot: EnvIdx,
    pub prio: usize,
    /// It may go on running (not blocked, suspended or dying).
    pub continues: bool,
}

/// The runnable envs (live, wanting a CPU, on none), by priority level.
pub struct RunQueues {
    runq: [RunSet; NLEVELS],
    /// Bit p set iff `runq[p]` is non-empty.
    levels: u8,
    /// Per level: where its round robin goes on (the slot after the env it chose last).
    // HANDOUT: #[allow(dead_code)] // read by the round robin (lab 4) once written
    next: [EnvIdx; NLEVELS],
    // CHALLENGE: BEGIN priorities-age
    // STUB: // (where the aging turns go on)
    /// The level the next aging turn tries first (then the ones below it, circularly).
    age: u8,
    // CHALLENGE: END priorities-age
}

impl Default for RunQueues {
    fn default() -> Self {
        Self::new()
    }
}

impl RunQueues {
    pub const fn new() -> RunQueues {
        RunQueues {
            runq: [const { RunSet::new() }; NLEVELS],
            levels: 0,
            next: [EnvIdx::FIRST; NLEVELS],
            // CHALLENGE: BEGIN priorities-age-init
            // STUB: // (the aging turns start at the top)
            age: NLEVELS as u8 - 1,
            // CHALLENGE: END priorities-age-init
        }
    }

    /// Env `i`, at level `prio`, becomes runnable.
    #[inline]
    pub fn insert(&mut self, i: EnvIdx, prio: usize) {
        self.runq[prio].insert(i);
        self.levels |= 1 << prio;
    }

    /// Env `i`, at level `prio`, is no longer runnable.
    #[inline]
    pub fn remove(&mut self, i: EnvIdx, prio: usize) {
        self.runq[prio].remove(i);
        if self.runq[prio].is_empty() {
            self.levels &= !(1 << prio);
        }
    }

    /// Is anything runnable?
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.levels == 0
    }

    /// The highest level with a runnable env, if any.
    #[inline]
    pub fn top_level(&self) -> Option<usize> {
        (self.levels != 0).then(|| 7 - self.levels.leading_zeros() as usize)
    }

    /// The env to run next on a CPU whose env is `cur` (if any), on an aging turn or not:
    /// None means keep `cur` (it may go on and outranks every runnable env) or nothing is
    /// runnable.
    #[inline(always)]
    pub fn pick(&mut self, cur: Option<Current>, aging: bool) -> Option<EnvIdx> {
        // CHALLENGE: BEGIN priorities-pick
        // STUB: // JOS's round robin: one level (every env has the default priority), no aging.
        // STUB: let _ = aging;
        // STUB: let level = self.top_level()?;
        // STUB: self.round_robin(level, cur.map(|c| c.slot))
        let top = self.top_level()?;
        // Not in JOS (a lab 4 challenge): priorities, and aging turns for the levels below
        // the highest that wants a CPU (the current env's, if it may go on, counts).
        let cur_level = cur.filter(|c| c.continues).map(|c| c.prio);
        let high = cur_level.map_or(top, |p| p.max(top));
        let below = self.levels & ((1u8 << high) - 1);
        if aging && below != 0 {
            let level = self.aging_level(below);
            return self.round_robin(level, None);
        }
        if cur_level.is_some_and(|p| p > top) {
            return None;
        }
        let after = cur.filter(|c| c.prio == top).map(|c| c.slot);
        self.round_robin(top, after)
        // CHALLENGE: END priorities-pick
    }

    // CHALLENGE: BEGIN priorities-aging
    // STUB: // (the aging turns of the levels below the top)
    /// The level an aging turn goes to, among the non-empty levels in `below` (all below the
    /// top): the first at or below `age`, circularly; the next turn starts below it.
    fn aging_level(&mut self, below: u8) -> usize {
        // Levels at or below the cursor, else wrap around to the highest.
        let at_or_below = below & (((1u16 << (self.age + 1)) - 1) as u8);
        let pool = if at_or_below != 0 { at_or_below } else { below };
        let level = 7 - pool.leading_zeros() as usize;
        self.age = if level == 0 {
            NLEVELS as u8 - 1
        } else {
            level as u8 - 1
        };
        level
    }
    // CHALLENGE: END priorities-aging

    /// JOS's round robin within one level: the first runnable env after `after` (the env this
    /// CPU ran, if it is of this level), circularly, else after the env this level chose last.
    #[inline(always)]
    fn round_robin(&mut self, level: usize, after: Option<EnvIdx>) -> Option<EnvIdx> {
        // LAB 4: BEGIN sched_yield
        // HINT: The first runnable env (runq[level]) after `after` (circularly), or, when
        // HINT: `after` is None, from where this level's round robin stopped (next[level]);
        // HINT: remember where it stops.
        // STUB: // Until then, as in lab 3: the first runnable env, when this CPU runs none.
        // STUB: if after.is_none() {
        // STUB:     return EnvIdx::all().find(|&i| self.runq[level].contains(i));
        // STUB: }
        // STUB: todo!("LAB 4: sched_yield");
        let start = match after {
            Some(c) => c.after(),
            None => self.next[level],
        };
        let i = self.runq[level].next_from(start)?;
        self.next[level] = i.after();
        Some(i)
        // LAB 4: END sched_yield
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn e(i: usize) -> EnvIdx {
        EnvIdx::new(i).unwrap()
    }

    /// With one level and one CPU the choice is JOS's: the first runnable slot after the
    /// current one, circularly.
    #[test]
    fn lab4_one_level_is_jos() {
        let mut q = RunQueues::new();
        for i in [3, 7, 9] {
            q.insert(e(i), 3);
        }
        let cur = |i: usize| {
            Some(Current {
                slot: e(i),
                prio: 3,
                continues: true,
            })
        };
        assert_eq!(q.pick(cur(3), false), Some(e(7)));
        assert_eq!(q.pick(cur(7), false), Some(e(9)));
        assert_eq!(q.pick(cur(9), false), Some(e(3)));
        assert_eq!(q.pick(cur(8), false), Some(e(9)));
    }

    // CHALLENGE: BEGIN priorities-tests
    // STUB: // (the tests of priorities and aging)
    /// The reported starvation: a busy high-priority env preempted at every tick, twelve
    /// envs at priority 0. Each aging turn used to start after the high env's slot, so the
    /// same low env won every time. Now each takes its turn.
    #[test]
    fn lowest_level_takes_turns() {
        let mut q = RunQueues::new();
        for i in 1..13 {
            q.insert(e(i), 0);
        }
        let high = Current {
            slot: e(20),
            prio: 3,
            continues: true,
        };
        let mut seen = Vec::new();
        for _ in 0..12 {
            let i = q.pick(Some(high), true).unwrap();
            seen.push(i.index());
            // It runs until the next tick, then is runnable again.
        }
        seen.sort();
        assert_eq!(seen, (1..13).collect::<Vec<_>>());
    }

    /// Intermediate levels get aging turns too, in rotation.
    #[test]
    fn aging_rotates_over_levels() {
        let mut q = RunQueues::new();
        q.insert(e(1), 0);
        q.insert(e(2), 1);
        q.insert(e(3), 2);
        q.insert(e(4), 3);
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(q.pick(None, true).unwrap().index());
        }
        assert_eq!(got, [3, 2, 1, 3, 2, 1]);
    }

    /// A simulation of `ncpu` CPUs and random mixes of busy envs at random levels: every CPU
    /// takes timer ticks in turn (the preempted env goes back to the run queue), and no env
    /// may wait longer than the bound the module comment states.
    #[test]
    fn fairness() {
        let mut rnd = crate::testrng::below(0x9e37_79b9_u32);
        for round in 0..300 {
            let ncpu = 1 + round % 4;
            let nenv = 1 + rnd(24);
            let mut q = RunQueues::new();
            let mut prio = Vec::new();
            let mut slots = Vec::new();
            for k in 0..nenv {
                let p = rnd(NLEVELS);
                let slot = k * (1 + rnd(3)) + rnd(2);
                if slots.contains(&slot) {
                    continue;
                }
                slots.push(slot);
                prio.push((slot, p));
                q.insert(e(slot), p);
            }
            let level_of = |s: usize| prio.iter().find(|&&(x, _)| x == s).unwrap().1;
            let count = |p: usize| prio.iter().filter(|&&(_, x)| x == p).count();
            let mut running: Vec<Option<usize>> = std::vec![None; ncpu];
            let mut ticks = std::vec![0u32; ncpu];
            // Per env: the tick (global step) it last ran.
            let mut last: Vec<(usize, usize)> = slots.iter().map(|&s| (s, 0)).collect();
            let top = prio.iter().map(|&(_, p)| p).max().unwrap();
            for step in 1..2000 {
                let c = step % ncpu;
                ticks[c] += 1;
                let aging = ticks[c].is_multiple_of(AGING_PERIOD);
                let cur = running[c].map(|s| Current {
                    slot: e(s),
                    prio: level_of(s),
                    continues: true,
                });
                if let Some(i) = q.pick(cur, aging) {
                    if let Some(old) = running[c] {
                        q.insert(e(old), level_of(old));
                    }
                    q.remove(i, level_of(i.index()));
                    running[c] = Some(i.index());
                }
                // Every env on a CPU runs this tick.
                for s in running.iter().flatten() {
                    let l = last.iter_mut().find(|(x, _)| x == s).unwrap();
                    l.1 = step;
                }
                // The bound, in ticks of one CPU (a CPU ticks every ncpu steps), for every
                // env: measured from its last run (or the start).
                for &(s, t) in &last {
                    let p = level_of(s);
                    let n = count(p) as u32;
                    let bound = if p == top {
                        2 * n
                    } else {
                        AGING_PERIOD * (NPRIO - 1) * n
                    };
                    let waited = ((step - t) / ncpu) as u32;
                    assert!(
                        waited <= bound + 1,
                        "round {round}: env {s} at level {p} waited {waited} ticks \
                         (bound {bound}, {ncpu} CPUs, levels {:?})",
                        prio
                    );
                }
            }
        }
    }
    // CHALLENGE: END priorities-tests
}
