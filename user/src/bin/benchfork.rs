//! benchfork (ours): the fork rows of `bench` on C JOS's workload, for `make bench` (see
//! user/src/benchsuite.rs): this program's own pages plus a 64-page array written before the
//! fork, the shape C JOS's fork figures were measured on.
#![no_std]
#![no_main]
// Unsafe code only where this file allows it by name.
#![deny(unsafe_code)]

use jos_user::benchsuite;

use core::cell::UnsafeCell;
use jos_lib::inc::mmu::PGSIZE;

/// The 64 pages of data C JOS's benchmark forks with (in the bss: mapped by the loader).
const ARRAY_PAGES: usize = 64;

struct Array(UnsafeCell<[u8; ARRAY_PAGES * PGSIZE as usize]>);
#[allow(unsafe_code)]
// SAFETY: this single-threaded program is the only one to touch it (a forked child has its
// own copy-on-write copy).
unsafe impl Sync for Array {}
static ARRAY: Array = Array(UnsafeCell::new([0; ARRAY_PAGES * PGSIZE as usize]));

jos_lib::entry!(umain);

fn umain() {
    // Write every page before the fork, as C JOS's benchmark does.
    let base = ARRAY.0.get().cast::<u8>();
    for i in 0..ARRAY_PAGES {
        #[allow(unsafe_code)]
        // SAFETY: a byte inside our own static array, which nothing else refers to.
        unsafe {
            core::ptr::write_volatile(base.add(i * PGSIZE as usize), 1)
        };
    }
    benchsuite::run(benchsuite::Suite::Fork);
}
