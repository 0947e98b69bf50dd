//! bench (ours, no JOS counterpart): the kernel's cost in guest instructions per operation,
//! for `make bench` (see user/src/benchsuite.rs and README.md's "Benchmarks").
#![no_std]
#![no_main]
// Unsafe code only in the shared module(s) below, which allow it by name.
#![deny(unsafe_code)]

#[path = "../benchsuite.rs"]
#[allow(unsafe_code)]
mod benchsuite;

jos_lib::entry!(umain);

fn umain() {
    benchsuite::run(benchsuite::Suite::All);
}
