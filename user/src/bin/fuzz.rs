//! fuzz (ours, no JOS counterpart): the seeded system-call fuzzer, short enough for
//! `make test` (20,000 calls, 4 workers; see user/src/fuzz.rs for what it does and checks).
#![no_std]
#![no_main]
// Unsafe code only in the shared module(s) below, which allow it by name.
#![deny(unsafe_code)]

#[path = "../fuzz.rs"]
#[allow(unsafe_code)]
mod fuzz;
#[path = "../hostile.rs"]
#[allow(unsafe_code)]
mod hostile;

jos_lib::entry!(umain);

const CALLS: u32 = 20_000;
const SEED: u32 = 0x2545_f491;

fn umain() {
    fuzz::run("fuzz", CALLS, SEED);
}
