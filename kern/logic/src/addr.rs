//! Identities the kernel's memory code passes around, as types (JOS passes them all as
//! `uint32_t` or `physaddr_t`, and a page number where an address was meant compiles): a
//! physical address, a kernel virtual address, a physical page's number, a page of user address
//! space, and a page-table entry's value. Each converts
//! only where the conversion is meaningful; the ones that need the machine's size (a page
//! number must be below `npages`) are kern/pmap.rs's (`pa2page`, `page2kva`).

use core::fmt;

use jos_inc::memlayout::{UMAPMIN, UTOP};
use jos_inc::mmu::{PGSHIFT, PGSIZE, Pte};

/// A physical address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct PhysAddr(u32);

impl PhysAddr {
    pub const fn new(pa: u32) -> PhysAddr {
        PhysAddr(pa)
    }

    pub const fn get(self) -> u32 {
        self.0
    }

    /// The number of the page this address lies in (not checked against the machine's
    /// memory: that is `pmap::pa2page`).
    pub const fn page_number(self) -> usize {
        (self.0 >> PGSHIFT) as usize
    }

    pub const fn is_page_aligned(self) -> bool {
        self.0 & ((1 << PGSHIFT) - 1) == 0
    }
}

/// An address `n` bytes further on (overflow is a bug: it panics where overflow checks are on,
/// as in the kernel).
impl core::ops::Add<u32> for PhysAddr {
    type Output = PhysAddr;
    fn add(self, n: u32) -> PhysAddr {
        PhysAddr(self.0 + n)
    }
}

impl fmt::Debug for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhysAddr({:#010x})", self.0)
    }
}

impl fmt::LowerHex for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

/// A kernel virtual address: the kernel image, the KERNBASE mapping of physical memory, the
/// per-CPU stacks, MMIO (JOS's `uintptr_t` / `void *` in the kernel).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct KernVa(u32);

impl KernVa {
    pub const fn new(va: u32) -> KernVa {
        KernVa(va)
    }

    pub const fn get(self) -> u32 {
        self.0
    }

    /// The address as a pointer (using it is the caller's `unsafe` business).
    pub const fn as_ptr<T>(self) -> *mut T {
        self.0 as usize as *mut T
    }
}

/// An address `n` bytes further on (overflow panics where overflow checks are on).
impl core::ops::Add<u32> for KernVa {
    type Output = KernVa;
    fn add(self, n: u32) -> KernVa {
        KernVa(self.0 + n)
    }
}

impl fmt::Debug for KernVa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KernVa({:#010x})", self.0)
    }
}

impl fmt::LowerHex for KernVa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

/// A physical page, by number: its index in the `pages` array, below the number of physical
/// pages by construction (the only constructor checks it), so indexing `pages` with it
/// cannot go out of bounds and no other number can be passed where a page is meant.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(transparent)]
pub struct PageNum(usize);

impl PageNum {
    /// Page `n` of a machine with `npages` physical pages (the length of the `pages` array),
    /// if there is one. (Where the caller has compared `n` with `npages` already, as indexing
    /// `pages[n]` does, the compiler drops this second test.)
    #[inline(always)]
    pub const fn new(n: usize, npages: usize) -> Option<PageNum> {
        if n < npages { Some(PageNum(n)) } else { None }
    }

    /// The index into the `pages` array.
    pub const fn index(self) -> usize {
        self.0
    }

    /// The page's first byte (JOS's page2pa).
    pub const fn addr(self) -> PhysAddr {
        PhysAddr((self.0 as u32) << PGSHIFT)
    }
}

impl fmt::LowerHex for PageNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

/// A page of user address space: page-aligned, below UTOP and not below UMAPMIN, the only
/// addresses the page system calls map, unmap or copy and the ELF loader loads (JOS tests
/// `va >= UTOP || va % PGSIZE` in each of them; here a `u32` from a user register becomes one
/// only through [`UserPage::new`]). UMAPMIN is not JOS's: it keeps the addresses that
/// virtual-8086 mode reaches unmapped (see `jos_inc::memlayout::UMAPMIN`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(transparent)]
pub struct UserPage(u32);

impl UserPage {
    /// `va`, if it is a page-aligned address in `UMAPMIN..UTOP`.
    pub const fn new(va: u32) -> Option<UserPage> {
        if va < UTOP && va >= UMAPMIN && va.is_multiple_of(PGSIZE) {
            Some(UserPage(va))
        } else {
            None
        }
    }

    pub const fn addr(self) -> u32 {
        self.0
    }
}

/// The value of a page-directory or page-table entry: a page frame and the `Pte` flags (the
/// MMU's and JOS's software bits). `Entry::EMPTY` is not present.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[repr(transparent)]
pub struct Entry(u32);

impl Entry {
    /// Not present (all zero, as JOS clears entries).
    pub const EMPTY: Entry = Entry(0);

    /// The entry mapping the page at `frame` (page-aligned) with `flags`.
    pub const fn new(frame: PhysAddr, flags: Pte) -> Entry {
        debug_assert!(frame.is_page_aligned());
        Entry(frame.0 | flags.bits())
    }

    /// An entry read from page-table memory (every bit pattern is an entry).
    pub const fn from_bits(bits: u32) -> Entry {
        Entry(bits)
    }

    pub const fn bits(self) -> u32 {
        self.0
    }

    pub const fn present(self) -> bool {
        self.0 & Pte::P.bits() != 0
    }

    /// The flag bits (the low 12; unknown ones dropped).
    pub const fn flags(self) -> Pte {
        Pte::from_bits_truncate(self.0 & 0xfff)
    }

    pub const fn contains(self, flags: Pte) -> bool {
        self.0 & flags.bits() == flags.bits()
    }

    /// The frame's physical address (JOS's PTE_ADDR).
    pub const fn frame(self) -> PhysAddr {
        PhysAddr(self.0 & !0xfff)
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Entry({:#010x}, {:?})", self.0 & !0xfff, self.flags())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers_and_addresses() {
        assert_eq!(PageNum::new(0x123, 0x123), None);
        let pp = PageNum::new(0x123, 0x124).unwrap();
        assert_eq!(pp.addr(), PhysAddr::new(0x12_3000));
        assert_eq!(PhysAddr::new(0x12_3fff).page_number(), 0x123);
        assert!(PhysAddr::new(0x12_3000).is_page_aligned());
        assert!(!PhysAddr::new(0x12_3004).is_page_aligned());
        assert_eq!(PhysAddr::new(0x1000) + 0x234, PhysAddr::new(0x1234));
    }

    #[test]
    fn user_pages() {
        assert_eq!(
            UserPage::new(0x0080_0000).map(UserPage::addr),
            Some(0x0080_0000)
        );
        // The pages virtual-8086 mode could reach are never a user's.
        assert_eq!(UserPage::new(0), None);
        assert_eq!(UserPage::new(0x0010_f000), None);
        assert_eq!(
            UserPage::new(UMAPMIN).map(UserPage::addr),
            Some(0x0011_0000)
        );
        assert_eq!(
            UserPage::new(UTOP - PGSIZE).map(UserPage::addr),
            Some(UTOP - PGSIZE)
        );
        assert_eq!(UserPage::new(UTOP), None);
        assert_eq!(UserPage::new(0x0080_0004), None);
        assert_eq!(UserPage::new(0xffff_f000), None);
    }

    #[test]
    fn entries() {
        let e = Entry::new(PhysAddr::new(0x0040_2000), Pte::P | Pte::W | Pte::U);
        assert_eq!(e.bits(), 0x0040_2007);
        assert!(e.present());
        assert!(e.contains(Pte::W | Pte::U));
        assert!(!e.contains(Pte::PCD));
        assert_eq!(e.frame(), PhysAddr::new(0x0040_2000));
        assert_eq!(e.flags(), Pte::P | Pte::W | Pte::U);
        assert!(!Entry::EMPTY.present());
        assert_eq!(Entry::default(), Entry::EMPTY);
        // JOS's software bits survive a round trip.
        let sw = Entry::from_bits(0x0000_5805);
        assert_eq!(sw.flags(), Pte::P | Pte::U | Pte::COW);
        assert_eq!(sw.frame(), PhysAddr::new(0x5000));
    }
}
