//! Env ids and slots: the kernel's [`EnvId`] (the ABI's `i32` only at the system-call
//! boundary and in the `Env` record), [`EnvIdx`], and env-id generation (JOS's `env_alloc`
//! in kern/env.c): the generation scheme that gives a reused `envs[]` slot a new id. User
//! space only decodes ids (`ENVX`, in `jos_inc::env`), as plain `i32`s.

use core::fmt;

use jos_inc::env::{LOG2NENV, NENV, envx};

/// An env id inside the kernel. The ABI's id is an `i32` (`jos_inc::env::EnvId`, what user
/// code and the `Env` record use); the kernel converts at the boundary only: where it decodes
/// a system call's arguments ([`EnvId::from_abi`]), encodes a result or writes the `Env`
/// record ([`EnvId::abi`]). So an id cannot be confused with a count, a status or an error
/// code, nor passed where a slot ([`EnvIdx`]) is meant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(transparent)]
pub struct EnvId(i32);

impl EnvId {
    /// Id 0: no env (a kernel-created env's parent, a message's "from" when none was sent,
    /// the kernel's messages when no env runs); as a system call's env argument, the caller.
    pub const NONE: EnvId = EnvId(0);

    /// The id of the ABI's value `id` (a system call argument, an `Env` record's field).
    #[inline(always)]
    pub const fn from_abi(id: i32) -> EnvId {
        EnvId(id)
    }

    /// The ABI's value of this id (a system call result, an `Env` record's field).
    #[inline(always)]
    pub const fn abi(self) -> i32 {
        self.0
    }
}

impl fmt::LowerHex for EnvId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

/// An env's slot in `envs[]` (JOS passes `envs + ENVX(id)` pointers or plain ints): below
/// NENV by construction, so indexing per-env arrays with it needs no other check, and an env
/// id, a CPU number or a page number cannot be passed where a slot is meant.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(transparent)]
pub struct EnvIdx(usize);

impl EnvIdx {
    /// The slot of env id `id` (JOS's ENVX; always a slot, maybe not that env's).
    pub const fn of(id: EnvId) -> EnvIdx {
        EnvIdx(envx(id.0))
    }

    /// Slot 0.
    pub const FIRST: EnvIdx = EnvIdx(0);

    /// The slot after this one, circularly (slot 0 after the last): where a round robin
    /// that chose this one goes on.
    #[inline(always)]
    pub const fn after(self) -> EnvIdx {
        EnvIdx((self.0 + 1) % NENV)
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
/// ([`EnvId::NONE`] for a never-used slot): JOS's generation scheme, so a reused slot gets a
/// new id.
pub const fn next_envid(old_id: EnvId, index: EnvIdx) -> EnvId {
    let mut generation = old_id.0.wrapping_add(1 << (LOG2NENV + 2)) & !((NENV as i32) - 1);
    if generation <= 0 {
        // Don't create a negative env id.
        generation = 1 << (LOG2NENV + 2);
    }
    EnvId(generation | index.0 as i32)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn slots() {
        assert_eq!(EnvIdx::of(EnvId::from_abi(0x1003)).index(), 3);
        assert_eq!(EnvIdx::of(EnvId::from_abi(0x7FFF_F3FF)).index(), 0x3FF);
        assert_eq!(EnvIdx::new(NENV - 1).map(EnvIdx::index), Some(NENV - 1));
        assert_eq!(EnvIdx::new(NENV), None);
        assert_eq!(EnvIdx::all().count(), NENV);
        assert_eq!(EnvIdx::all().last().map(EnvIdx::index), Some(NENV - 1));
        assert_eq!(EnvIdx::FIRST.after().index(), 1);
        assert_eq!(
            EnvIdx::new(NENV - 1).map(EnvIdx::after),
            Some(EnvIdx::FIRST)
        );
    }

    /// `next_envid` on ABI values, for the tables below.
    fn next(old: i32, index: usize) -> i32 {
        next_envid(EnvId::from_abi(old), EnvIdx::new(index).unwrap()).abi()
    }

    #[test]
    fn first_ids_are_jos_ids() {
        assert_eq!(next(0, 0), 0x1000);
        assert_eq!(next(0, 1), 0x1001);
        assert_eq!(next(0, 288), 0x1120);
        // A reused slot gets the next generation.
        assert_eq!(next(0x1000, 0), 0x2000);
        assert_eq!(next(0x2009, 9), 0x3009);
        assert_eq!(envx(0x3009), 9);
        assert_eq!(EnvIdx::of(EnvId::from_abi(next(0x2009, 9))).index(), 9);
    }

    #[test]
    fn ids_stay_positive() {
        let id = next(0x7FFF_F3FF, 0x3FF);
        assert!(id > 0);
        assert_eq!(envx(id), 0x3FF);
        assert_eq!(id & !0x3FF, 0x1000);
    }

    #[test]
    fn abi_round_trip_and_print() {
        for v in [0, 1, 0x1000, 0x7FFF_F3FF, -3] {
            assert_eq!(EnvId::from_abi(v).abi(), v);
        }
        assert_eq!(EnvId::NONE.abi(), 0);
        assert_eq!(std::format!("{:08x}", EnvId::from_abi(0x1001)), "00001001");
    }
}
