//! benchsmp (ours): the null syscall, yield and IPC rows of `bench`, which `make bench`
//! runs again with 2 and 4 CPUs to compare with 1 (see user/src/benchsuite.rs).
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

#[path = "../benchsuite.rs"]
mod benchsuite;

jos_lib::entry!(umain);

fn umain() {
    benchsuite::run(benchsuite::Suite::Smp);
}
