//! bench (ours, no JOS counterpart): the kernel's cost in guest instructions per operation,
//! for `make bench` (see user/src/benchsuite.rs and README.md's "Benchmarks").
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use jos_user::benchsuite;

jos_lib::entry!(umain);

fn umain() {
    benchsuite::run(benchsuite::Suite::All);
}
