//! Virtual memory layout (JOS's inc/memlayout.h).
//!
//! ```text
//!    4 Gig -------->  +------------------------------+
//!                     |   Remapped Physical Memory   | RW/--
//!    KERNBASE, ---->  +------------------------------+ 0xf0000000
//!    KSTACKTOP        |     CPU0's Kernel Stack      | RW/--  KSTKSIZE
//!                     |      Invalid Memory (*)      | --/--  KSTKGAP
//!                     |     CPU1's Kernel Stack      | RW/--  KSTKSIZE
//!                     :              .               :
//!    MMIOLIM ------>  +------------------------------+ 0xefc00000
//!                     |       Memory-mapped I/O      | RW/--  PTSIZE
//! ULIM, MMIOBASE -->  +------------------------------+ 0xef800000
//!                     |  Cur. Page Table (User R-)   | R-/R-  PTSIZE
//!    UVPT      ---->  +------------------------------+ 0xef400000
//!                     |          RO PAGES            | R-/R-  PTSIZE
//!    UPAGES    ---->  +------------------------------+ 0xef000000
//!                     |           RO ENVS            | R-/R-  PTSIZE
//! UTOP,UENVS ------>  +------------------------------+ 0xeec00000
//! UXSTACKTOP -/       |     User Exception Stack     | RW/RW  PGSIZE
//!                     +------------------------------+ 0xeebff000
//!                     |       Empty Memory (*)       | --/--  PGSIZE
//!    USTACKTOP  --->  +------------------------------+ 0xeebfe000
//!                     |      Normal User Stack       | RW/RW  PGSIZE
//!                     +------------------------------+ 0xeebfd000
//!                     :              .               :
//!    UTEXT -------->  +------------------------------+ 0x00800000
//!    PFTEMP ------->  |       Empty Memory (*)       |        PTSIZE
//!    UTEMP -------->  +------------------------------+ 0x00400000
//!                     |       Empty Memory (*)       |
//!    0 ------------>  +------------------------------+
//! ```

use crate::mmu::{PGSIZE, PTSIZE};

/// All physical memory is mapped at this address.
pub const KERNBASE: u32 = 0xF000_0000;

/// At IOPHYSMEM (640K) there is a 384K hole for I/O.
pub const IOPHYSMEM: u32 = 0x0A_0000;
/// Extended memory starts at 1 MiB.
pub const EXTPHYSMEM: u32 = 0x10_0000;

/// Kernel stacks.
pub const KSTACKTOP: u32 = KERNBASE;
/// Size of a kernel stack.
pub const KSTKSIZE: u32 = 8 * PGSIZE;
/// Size of a kernel stack guard.
pub const KSTKGAP: u32 = 8 * PGSIZE;

/// Memory-mapped I/O.
pub const MMIOLIM: u32 = KSTACKTOP - PTSIZE;
pub const MMIOBASE: u32 = MMIOLIM - PTSIZE;

pub const ULIM: u32 = MMIOBASE;

/// User read-only virtual page table.
pub const UVPT: u32 = ULIM - PTSIZE;
/// The page directory as seen through the UVPT recursive mapping.
pub const UVPD: u32 = UVPT + (UVPT >> 12) * 4;
/// Read-only copies of the Page structures.
pub const UPAGES: u32 = UVPT - PTSIZE;
/// Read-only copies of the global env structures.
pub const UENVS: u32 = UPAGES - PTSIZE;

/// Top of user-accessible VM.
pub const UTOP: u32 = UENVS;
/// Top of one-page user exception stack.
pub const UXSTACKTOP: u32 = UTOP;
/// Top of normal user stack (below the exception stack and an empty guard page).
pub const USTACKTOP: u32 = UTOP - 2 * PGSIZE;

/// Where user programs generally begin.
pub const UTEXT: u32 = 2 * PTSIZE;
/// Used for temporary page mappings.
pub const UTEMP: u32 = PTSIZE;

/// The lowest address a user page may be mapped at. Not in JOS, which lets user programs map
/// pages anywhere below UTOP (none of its programs maps one below UTEMP). Below this are the
/// linear addresses a virtual-8086-mode program can reach (segment * 16 + offset, at most
/// 0x10FFEF): kept unmapped in every env, code that enters V86 mode (QEMU's TCG lets a CPL-3
/// `iret` do it, real hardware does not) faults on its first instruction, so it can neither
/// run nor spin there with interrupts off, whatever flags its `iret` loaded.
pub const UMAPMIN: u32 = 0x0011_0000;
const _: () = assert!(UMAPMIN.is_multiple_of(PGSIZE) && UMAPMIN <= UTEMP);
/// Used for temporary page mappings by the user page-fault handler.
pub const PFTEMP: u32 = UTEMP + PTSIZE - PGSIZE;
/// The location of the user-level STABS data structure.
pub const USTABDATA: u32 = PTSIZE / 2;

/// Physical address of startup code for non-boot CPUs (APs).
pub const MPENTRY_PADDR: u32 = 0x7000;

/// Kernel stack top of CPU `i` (stacks grow down, separated by unmapped guard gaps).
pub const fn kstacktop(cpu: u32) -> u32 {
    KSTACKTOP - cpu * (KSTKSIZE + KSTKGAP)
}

/// `struct PageInfo`: one per physical page, mapped read-only to user space at UPAGES.
///
/// `pp_link` is the kernel virtual address of the next free page's record (0 = end of list);
/// kept as a plain `u32` so the record has C's layout on every host.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageInfo {
    pub pp_link: u32,
    pub pp_ref: u16,
}

const _: () = {
    assert!(core::mem::size_of::<PageInfo>() == 8);
    assert!(core::mem::offset_of!(PageInfo, pp_link) == 0);
    assert!(core::mem::offset_of!(PageInfo, pp_ref) == 4);
    assert!(MMIOLIM == 0xEFC0_0000);
    assert!(MMIOBASE == 0xEF80_0000);
    assert!(UVPT == 0xEF40_0000);
    assert!(UVPD == 0xEF7B_D000);
    assert!(UPAGES == 0xEF00_0000);
    assert!(UTOP == 0xEEC0_0000);
    assert!(USTACKTOP == 0xEEBF_E000);
    assert!(PFTEMP == 0x007F_F000);
    assert!(kstacktop(1) == 0xEFFF_0000);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_jos() {
        assert_eq!(UENVS, 0xEEC0_0000);
        assert_eq!(UXSTACKTOP - PGSIZE, 0xEEBF_F000);
        assert_eq!(UTEXT, 0x0080_0000);
        assert_eq!(UTEMP, 0x0040_0000);
        assert_eq!(kstacktop(7), 0xF000_0000 - 7 * 0x10000);
        // Eight CPU stacks with their gaps fit between MMIOLIM and KSTACKTOP.
        assert!(kstacktop(7) - KSTKSIZE > MMIOLIM);
    }
}
