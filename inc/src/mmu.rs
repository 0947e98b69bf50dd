//! x86 MMU definitions (JOS's inc/mmu.h): page sizes, address decomposition, PTE bits,
//! page-fault error bits and the GDT selector values.

use bitflags::bitflags;

pub const NPDENTRIES: usize = 1024;
pub const NPTENTRIES: usize = 1024;
pub const PGSIZE: u32 = 4096;
pub const PGSHIFT: u32 = 12;
pub const PTSIZE: u32 = PGSIZE * NPTENTRIES as u32;
pub const PTSHIFT: u32 = 22;
pub const PTXSHIFT: u32 = 12;
pub const PDXSHIFT: u32 = 22;

/// Page directory index of a linear address.
pub const fn pdx(la: u32) -> usize {
    ((la >> PDXSHIFT) & 0x3FF) as usize
}
/// Page table index of a linear address.
pub const fn ptx(la: u32) -> usize {
    ((la >> PTXSHIFT) & 0x3FF) as usize
}
/// Offset in page.
pub const fn pgoff(la: u32) -> u32 {
    la & 0xFFF
}
/// Page number field of an address.
pub const fn pgnum(la: u32) -> usize {
    (la >> PTXSHIFT) as usize
}
/// Construct a linear address from indexes and offset.
pub const fn pgaddr(d: usize, t: usize, o: u32) -> u32 {
    ((d as u32) << PDXSHIFT) | ((t as u32) << PTXSHIFT) | o
}
/// Round down to a multiple of `n` (a power of two).
pub const fn round_down(a: u32, n: u32) -> u32 {
    a - a % n
}
/// Round up to a multiple of `n` (a power of two); wraps like JOS's ROUNDUP, so callers that
/// take user input check for overflow first.
pub const fn round_up(a: u32, n: u32) -> u32 {
    round_down(a.wrapping_add(n - 1), n)
}

// Not x86's `bits32::paging` types (PDEntry/PTEntry/PTFlags): this is the ABI crate, whose
// PTE bits user space passes to system calls and reads at UVPT, and they include JOS's
// software bits (AVAIL, COW, SHARE) that x86's flags have no names for. One type serves
// page directory and page table entries alike, as in JOS.
bitflags! {
    /// Page table / page directory entry flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Pte: u32 {
        const P = 0x001;
        const W = 0x002;
        const U = 0x004;
        const PWT = 0x008;
        const PCD = 0x010;
        const A = 0x020;
        const D = 0x040;
        const PS = 0x080;
        const G = 0x100;
        /// Available for software use.
        const AVAIL = 0xE00;
        /// lib/fork.c's copy-on-write marker (one of the AVAIL bits).
        const COW = 0x800;
        /// inc/lib.h's shared-page marker (used from lab 5).
        const SHARE = 0x400;
    }
}

impl Pte {
    /// Flags that may be used in system calls.
    pub const SYSCALL: Pte = Pte::AVAIL.union(Pte::P).union(Pte::W).union(Pte::U);
}

/// Address in a page table or page directory entry.
pub const fn pte_addr(pte: u32) -> u32 {
    pte & !0xFFF
}

bitflags! {
    /// Page fault error code bits.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Fec: u32 {
        /// Page fault caused by protection violation.
        const PR = 0x1;
        /// Page fault caused by a write.
        const WR = 0x2;
        /// Page fault occurred while in user mode.
        const U = 0x4;
    }
}

/// Global descriptor numbers (selectors).
pub const GD_KT: u16 = 0x08;
pub const GD_KD: u16 = 0x10;
pub const GD_UT: u16 = 0x18;
pub const GD_UD: u16 = 0x20;
/// CPU 0's task state segment; CPU i's is at `GD_TSS0 + 8 * i`.
pub const GD_TSS0: u16 = 0x28;

/// EFLAGS bits used by the kernel.
pub const FL_IF: u32 = 0x0000_0200;
/// Trap flag (single step).
pub const FL_TF: u32 = 0x0000_0100;
/// Alignment check.
pub const FL_AC: u32 = 0x0004_0000;
pub const FL_IOPL_MASK: u32 = 0x0000_3000;
/// Virtual-8086 mode. User code never runs with it: a CPL-3 `iret` ignores it on real
/// hardware, but QEMU's TCG enters V86 mode (see kern/trap.rs, `v86_trap`).
pub const FL_VM: u32 = 0x0002_0000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_math() {
        let va = 0xEF7B_D123;
        assert_eq!(pdx(va), 0x3BD);
        assert_eq!(ptx(va), 0x3BD);
        assert_eq!(pgoff(va), 0x123);
        assert_eq!(pgaddr(pdx(va), ptx(va), pgoff(va)), va);
        assert_eq!(pgnum(0x0040_1000), 0x401);
    }

    #[test]
    fn rounding() {
        assert_eq!(round_down(0x1234, PGSIZE), 0x1000);
        assert_eq!(round_up(0x1234, PGSIZE), 0x2000);
        assert_eq!(round_up(0x2000, PGSIZE), 0x2000);
        assert_eq!(round_up(0, PGSIZE), 0);
    }

    #[test]
    fn pte_bits() {
        assert_eq!(Pte::SYSCALL.bits(), 0xE07);
        assert!(Pte::AVAIL.contains(Pte::COW));
        assert_eq!(pte_addr(0x1234_5067), 0x1234_5000);
    }
}
