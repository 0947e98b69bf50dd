//! Env-id generation (JOS's `env_alloc` in kern/env.c): the generation scheme that gives a
//! reused `envs[]` slot a new id. User space only decodes ids (`ENVX`, in `jos_inc::env`).

use jos_inc::env::{EnvId, LOG2NENV, NENV};

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
    use jos_inc::env::envx;

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
