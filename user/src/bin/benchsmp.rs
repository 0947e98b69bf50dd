//! benchsmp (ours): the null syscall, yield and IPC rows of `bench`, which `make bench`
//! runs again with 2 and 4 CPUs to compare with 1 (see user/src/benchsuite.rs).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use jos_user::benchsuite;

jos_lib::entry!(umain);

fn umain() {
    benchsuite::run(benchsuite::Suite::Smp);
}
