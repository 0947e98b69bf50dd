//! Env-id generation (JOS's `env_alloc` in kern/env.c): the generation scheme that gives a
//! reused `envs[]` slot a new id. User space only decodes ids (`ENVX`, in `jos_inc::env`).

use core::fmt;

use jos_inc::env::{EnvId, LOG2NENV, NENV, envx};

/// An env's slot in `envs[]` (JOS passes `envs + ENVX(id)` pointers or plain ints): below
/// NENV by construction, so indexing per-env arrays with it needs no other check, and an env
/// id, a CPU number or a page number cannot be passed where a slot is meant.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(transparent)]
pub struct EnvIdx(usize);

impl EnvIdx {
    /// The slot of env id `id` (JOS's ENVX; always a slot, maybe not that env's).
    pub const fn of(id: EnvId) -> EnvIdx {
        EnvIdx(envx(id))
    }

    /// Slot `i`, if there is one.
    pub const fn new(i: usize) -> Option<EnvIdx> {
        if i < NENV { Some(EnvIdx(i)) } else { None }
    }

    /// The index into `envs[]` and the kernel's per-env arrays (< NENV).
    pub const fn index(self) -> usize {
        self.0
    }

    /// Every slot, in order.
    pub fn all() -> impl DoubleEndedIterator<Item = EnvIdx> {
        (0..NENV).map(EnvIdx)
    }
}

impl fmt::Display for EnvIdx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The id for a new occupant of slot `index` whose previous occupant had `old_id`
/// (0 for a never-used slot): JOS's generation scheme, so a reused slot gets a new id.
pub const fn next_envid(old_id: EnvId, index: usize) -> EnvId {
    let mut generation = old_id.wrapping_add(1 << (LOG2NENV + 2)) & !((NENV as i32) - 1);
    if generation <= 0 {
        // Don't create a negative env id.
        generation = 1 << (LOG2NENV + 2);
    }
    generation | index as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots() {
        assert_eq!(EnvIdx::of(0x1003).index(), 3);
        assert_eq!(EnvIdx::of(0x7FFF_F3FF).index(), 0x3FF);
        assert_eq!(EnvIdx::new(NENV - 1).map(EnvIdx::index), Some(NENV - 1));
        assert_eq!(EnvIdx::new(NENV), None);
        assert_eq!(EnvIdx::all().count(), NENV);
        assert_eq!(EnvIdx::all().last().map(EnvIdx::index), Some(NENV - 1));
    }

    #[test]
    fn first_ids_are_jos_ids() {
        assert_eq!(next_envid(0, 0), 0x1000);
        assert_eq!(next_envid(0, 1), 0x1001);
        assert_eq!(next_envid(0, 288), 0x1120);
        // A reused slot gets the next generation.
        assert_eq!(next_envid(0x1000, 0), 0x2000);
        assert_eq!(next_envid(0x2009, 9), 0x3009);
        assert_eq!(envx(0x3009), 9);
    }

    #[test]
    fn ids_stay_positive() {
        let id = next_envid(0x7FFF_F3FF, 0x3FF);
        assert!(id > 0);
        assert_eq!(envx(id), 0x3FF);
        assert_eq!(id & !0x3FF, 0x1000);
    }
}
