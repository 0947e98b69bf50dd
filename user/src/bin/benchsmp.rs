//! benchsmp (ours): the null syscall, yield and IPC rows of `bench`, which `make bench`
//! runs again with 2 and 4 CPUs to compare with 1 (see user/src/benchsuite.rs).
#![no_std]
#![no_main]
// Unsafe code only in the shared module(s) below, which allow it by name.
#![deny(unsafe_code)]

#[path = "../benchsuite.rs"]
#[allow(unsafe_code)]
mod benchsuite;

jos_lib::entry!(umain);

fn umain() {
    benchsuite::run(benchsuite::Suite::Smp);
}
