//! The scheduler's set of runnable env slots: JOS's round-robin order without JOS's scan.
//!
//! JOS's `sched_yield` looks at every one of the NENV slots after the current env, in index
//! order, for the first RUNNABLE one: about 10 instructions a slot, 10,000 a yield. The
//! same choice ("the first runnable slot after `cur`, circularly") is a find-next-set-bit in
//! a bitmap. Two levels (a summary word says which of the 32 words have a bit set) make it a
//! handful of instructions whatever NENV and however many envs are live or runnable.

use jos_inc::env::NENV;

use crate::envid::EnvIdx;

const WORDS: usize = NENV / 32;

// The summary is one u32: one bit per word.
const _: () = assert!(WORDS <= 32 && NENV.is_multiple_of(32));

/// A set of env slots, `0..NENV`.
#[derive(Clone, Debug)]
pub struct RunSet {
    words: [u32; WORDS],
    /// Bit w is set iff `words[w]` is non-zero. (No count: `is_empty` is this word's test,
    /// and insert and remove stay a few instructions, with no overflow check.)
    summary: u32,
}

impl Default for RunSet {
    fn default() -> Self {
        Self::new()
    }
}

impl RunSet {
    pub const fn new() -> RunSet {
        RunSet {
            words: [0; WORDS],
            summary: 0,
        }
    }

    /// The number of members (a count of bits: for tests and reports, not hot paths).
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.summary == 0
    }

    pub fn contains(&self, i: EnvIdx) -> bool {
        let i = i.index();
        self.words[i / 32] & (1 << (i % 32)) != 0
    }

    /// Add slot `i` (no effect if present).
    #[inline]
    pub fn insert(&mut self, i: EnvIdx) {
        let i = i.index();
        let (w, b) = (i / 32, 1u32 << (i % 32));
        self.words[w] |= b;
        self.summary |= 1 << w;
    }

    /// Remove slot `i` (no effect if absent).
    #[inline]
    pub fn remove(&mut self, i: EnvIdx) {
        let i = i.index();
        let (w, b) = (i / 32, 1u32 << (i % 32));
        self.words[w] &= !b;
        if self.words[w] == 0 {
            self.summary &= !(1 << w);
        }
    }

    /// The first member at or after slot `start`, wrapping around past NENV - 1 (JOS's scan
    /// from `start`).
    pub fn next_from(&self, start: EnvIdx) -> Option<EnvIdx> {
        // LAB 4: BEGIN next_from
        // HINT: JOS's scan of envs[] from `start`, circularly, over this set's members. A loop
        // HINT: over `contains` is correct; the words and the summary let you skip 32 or 1,024
        // HINT: slots at once (the host tests compare with the plain scan).
        let start = start.index();
        let (w, b) = (start / 32, start % 32);
        // The rest of the start word.
        let here = self.words[w] & (!0u32 << b);
        if here != 0 {
            return EnvIdx::new(w * 32 + here.trailing_zeros() as usize);
        }
        // Later words, then (wrapping) the earlier ones, start word included: its bits below
        // `start` come last in the circular order.
        let later = if w + 1 < 32 {
            self.summary & (!0u32 << (w + 1))
        } else {
            0
        };
        let word = if later != 0 {
            later.trailing_zeros() as usize
        } else if self.summary != 0 {
            self.summary.trailing_zeros() as usize
        } else {
            return None;
        };
        EnvIdx::new(word * 32 + self.words[word].trailing_zeros() as usize)
        // LAB 4: END next_from
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

    /// JOS's scan, as the reference.
    fn scan(members: &[bool], start: usize) -> Option<usize> {
        (0..NENV).map(|k| (start + k) % NENV).find(|&i| members[i])
    }

    #[test]
    fn lab4_matches_jos_scan() {
        // A deterministic pseudo-random walk over insertions and removals, checking every
        // start position against the scan at each step.
        let mut set = RunSet::new();
        let mut members = std::vec![false; NENV];
        let mut x: u32 = 0x2545_F491;
        for step in 0..3000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // Cluster indices sometimes so words fill and empty.
            let i = if step % 3 == 0 {
                (x as usize) % 70
            } else {
                (x as usize) % NENV
            };
            if x & 0x100 != 0 {
                set.insert(e(i));
                members[i] = true;
            } else {
                set.remove(e(i));
                members[i] = false;
            }
            assert_eq!(set.len(), members.iter().filter(|&&m| m).count());
            if step % 50 == 0 {
                for start in EnvIdx::all() {
                    assert_eq!(
                        set.next_from(start).map(EnvIdx::index),
                        scan(&members, start.index())
                    );
                }
            }
        }
    }

    #[test]
    fn lab4_edges() {
        let mut s = RunSet::new();
        assert_eq!(s.next_from(e(0)), None);
        s.insert(e(NENV - 1));
        assert_eq!(s.next_from(e(0)), Some(e(NENV - 1)));
        // The slot after the last is the first.
        assert_eq!(s.next_from(e(NENV - 1).after()), Some(e(NENV - 1)));
        s.insert(e(5));
        // Wraps within the start word's own low bits last.
        assert_eq!(s.next_from(e(6)), Some(e(NENV - 1)));
        s.remove(e(NENV - 1));
        assert_eq!(s.next_from(e(6)), Some(e(5)));
        assert!(s.contains(e(5)) && !s.contains(e(6)));
        s.insert(e(5));
        assert_eq!(s.len(), 1);
        let all: Vec<_> = (0..NENV).filter(|&i| s.contains(e(i))).collect();
        assert_eq!(all, [5]);
    }
}
