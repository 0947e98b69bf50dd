//! Kernel logic that needs no hardware: parsers and decisions the kernel makes, factored out so
//! host unit tests exercise them. `#![forbid(unsafe_code)]`: the kernel hands in byte slices and
//! plain values; everything that touches hardware stays in the kernel.
#![no_std]
#![forbid(unsafe_code)]

pub mod addr;
pub mod cpuid;
pub mod elf;
pub mod envid;
pub mod kdebug;
pub mod lifecycle;
pub mod links;
pub mod mptable;
pub mod pagelist;
pub mod refcount;
pub mod runset;
pub mod sched;
pub mod trapname;
pub mod usermem;

/// A seeded xorshift generator for the host tests' random cases.
#[cfg(test)]
mod testrng {
    /// `rnd(n)`: a pseudo-random number below `n`, the same sequence for the same seed.
    pub(crate) fn below(mut seed: u32) -> impl FnMut(usize) -> usize {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as usize % n
        }
    }
}
