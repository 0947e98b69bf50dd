//! fuzz (ours, no JOS counterpart): the seeded system-call fuzzer, short enough for
//! `make test` (20,000 calls, 4 workers; see user/src/fuzz.rs for what it does and checks).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use jos_user::fuzz;

jos_lib::entry!(umain);

const CALLS: u32 = 20_000;
const SEED: u32 = 0x2545_f491;

fn umain() {
    fuzz::run("fuzz", CALLS, SEED);
}
