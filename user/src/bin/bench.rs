//! bench (ours, no JOS counterpart): the kernel's cost in guest instructions per operation,
//! for `make bench` (see user/src/benchsuite.rs and README.md's "Benchmarks").
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

#[path = "../benchsuite.rs"]
mod benchsuite;

jos_lib::entry!(umain);

fn umain() {
    benchsuite::run(benchsuite::Suite::All);
}
