//! JOS's round-robin choice (kern/sched.c `sched_yield`), as a pure function.

use jos_inc::env::{ENV_RUNNABLE, ENV_RUNNING};

/// What the scheduler should do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Run the env in this slot.
    Run(usize),
    /// Nothing to run: halt this CPU.
    Halt,
}

/// Search the `n` slots circularly starting just after `cur` (this CPU's current env, or from
/// slot 0 when there is none); the first RUNNABLE env wins. If none is runnable but `cur` is
/// still RUNNING (on this CPU), keep it. An env RUNNING elsewhere is never chosen, because
/// only RUNNABLE ones are.
pub fn pick(n: usize, cur: Option<usize>, status: impl Fn(usize) -> u32) -> Choice {
    let start = cur.map_or(0, |c| c + 1);
    for k in 0..n {
        let i = (start + k) % n;
        if status(i) == ENV_RUNNABLE {
            return Choice::Run(i);
        }
    }
    match cur {
        Some(c) if status(c) == ENV_RUNNING => Choice::Run(c),
        _ => Choice::Halt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jos_inc::env::{ENV_FREE, ENV_NOT_RUNNABLE};

    #[test]
    fn round_robin_after_current() {
        let st = [ENV_RUNNABLE, ENV_RUNNING, ENV_RUNNABLE, ENV_FREE];
        assert_eq!(pick(4, Some(1), |i| st[i]), Choice::Run(2));
        assert_eq!(pick(4, Some(2), |i| st[i]), Choice::Run(0));
        assert_eq!(pick(4, None, |i| st[i]), Choice::Run(0));
    }

    #[test]
    fn keeps_current_when_alone() {
        let st = [ENV_NOT_RUNNABLE, ENV_RUNNING, ENV_FREE];
        assert_eq!(pick(3, Some(1), |i| st[i]), Choice::Run(1));
    }

    #[test]
    fn never_takes_another_cpus_env() {
        // Slot 0 is running on another CPU; this CPU's env (2) is not runnable.
        let st = [ENV_RUNNING, ENV_FREE, ENV_NOT_RUNNABLE];
        assert_eq!(pick(3, Some(2), |i| st[i]), Choice::Halt);
        assert_eq!(pick(3, None, |i| st[i]), Choice::Halt);
    }
}
