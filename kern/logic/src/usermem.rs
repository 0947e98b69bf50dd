//! The range walk of `user_mem_check` (kern/pmap.c), pure: which address, if any, makes a user
//! access of `[va, va+len)` with permissions `perm` illegal.

use jos_inc::memlayout::ULIM;
use jos_inc::mmu::{PGSIZE, Pte, round_down};

/// Returns the first faulting address (JOS reports `max(va, page start)`), or `None` when
/// every page is below ULIM and its PTE (from `pte(page va)`, 0 when unmapped) has
/// `perm | P`. A range that wraps around the address space faults at ULIM or below: it
/// necessarily crosses into kernel space.
pub fn first_bad(va: u32, len: u32, perm: Pte, pte: impl Fn(u32) -> u32) -> Option<u32> {
    // LAB 3: BEGIN user_mem_check
    // HINT: Each page of [va, va+len) must lie below ULIM and have perm|P in its PTE; report the
    // HINT: first bad address (va itself for the first page).
    // STUB: let _ = (va, len, perm, pte);
    // STUB: todo!("LAB 3: user_mem_check");
    if len == 0 {
        return None;
    }
    let need = (perm | Pte::P).bits();
    let end = va as u64 + len as u64;
    let mut a = round_down(va, PGSIZE);
    while (a as u64) < end {
        if a >= ULIM || pte(a) & need != need {
            return Some(a.max(va));
        }
        a += PGSIZE; // cannot overflow: a < ULIM
    }
    None
    // LAB 3: END user_mem_check
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped_user(a: u32) -> u32 {
        if (0x0080_0000..0x0080_3000).contains(&a) {
            a | 0x7
        } else {
            0
        }
    }

    #[test]
    fn lab3_good_and_bad_ranges() {
        assert_eq!(first_bad(0x0080_0010, 0x100, Pte::U, mapped_user), None);
        assert_eq!(
            first_bad(0x0080_2ff0, 0x20, Pte::U, mapped_user),
            Some(0x0080_3000)
        );
        assert_eq!(first_bad(1, 1, Pte::U, mapped_user), Some(1));
        assert_eq!(
            first_bad(0xF010_000C, 100, Pte::U, |_| 0x7),
            Some(0xF010_000C)
        );
        assert_eq!(first_bad(0x0080_0000, 0, Pte::U, mapped_user), None);
    }

    #[test]
    fn lab3_wrapping_lengths() {
        assert_eq!(
            first_bad(0x0080_0000, u32::MAX, Pte::U, |_| 0x7),
            Some(ULIM)
        );
        assert_eq!(first_bad(u32::MAX, 2, Pte::U, |_| 0x7), Some(u32::MAX));
    }

    #[test]
    fn lab3_permissions() {
        let ro = |a: u32| a | 0x5;
        assert_eq!(first_bad(0x1000, 4, Pte::U, ro), None);
        assert_eq!(first_bad(0x1000, 4, Pte::U | Pte::W, ro), Some(0x1000));
        let kernel_only = |a: u32| a | 0x3;
        assert_eq!(first_bad(0x1000, 4, Pte::U, kernel_only), Some(0x1000));
    }
}
