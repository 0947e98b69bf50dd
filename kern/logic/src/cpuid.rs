//! CPU identities: a CPU's number, below NCPU by construction, so per-CPU arrays need no
//! other check and an env slot or a page number cannot be passed where a CPU is meant. How the
//! kernel finds which CPU it runs on (the stack pointer, the local APIC) is kern/cpu.rs's.

use core::fmt;

/// Maximum number of CPUs.
pub const NCPU: usize = 8;

const _: () = assert!(NCPU.is_power_of_two() && NCPU <= u8::MAX as usize);

/// A CPU's number (JOS's `cpunum()`, an index into `cpus[]`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(transparent)]
pub struct CpuId(usize);

impl CpuId {
    /// CPU 0 (the boot CPU when there is no MP table).
    pub const FIRST: CpuId = CpuId(0);

    /// CPU `i`, if there can be one.
    #[inline]
    pub const fn new(i: usize) -> Option<CpuId> {
        if i < NCPU { Some(CpuId(i)) } else { None }
    }

    /// CPU `i` modulo NCPU: for a number the hardware guarantees to be a CPU's (the kernel
    /// starts only CPUs whose APIC ids are below NCPU), in one instruction.
    #[inline]
    pub const fn wrapping(i: usize) -> CpuId {
        CpuId(i % NCPU)
    }

    /// The index into per-CPU arrays (< NCPU).
    #[inline]
    pub const fn index(self) -> usize {
        self.0
    }

    /// Every CPU number, in order.
    pub fn all() -> impl DoubleEndedIterator<Item = CpuId> {
        (0..NCPU).map(CpuId)
    }
}

impl fmt::Display for CpuId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert_eq!(CpuId::new(NCPU - 1).map(CpuId::index), Some(NCPU - 1));
        assert_eq!(CpuId::new(NCPU), None);
        assert_eq!(CpuId::wrapping(NCPU + 3).index(), 3);
        assert_eq!(CpuId::all().count(), NCPU);
    }
}
