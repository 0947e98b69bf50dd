//! fuzzlong (ours, no JOS counterpart): the seeded system-call fuzzer of `fuzz`, ten times
//! longer (200,000 calls, 4 workers; see user/src/fuzz.rs), with another seed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use jos_user::fuzz;

jos_lib::entry!(umain);

const CALLS: u32 = 200_000;
const SEED: u32 = 0x9e37_79b1;

fn umain() {
    fuzz::run("fuzzlong", CALLS, SEED);
}
