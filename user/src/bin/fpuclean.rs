//! fpuclean (ours, no JOS counterpart): the second half of the FPU isolation test, run as
//! `fpusecret+fpuclean`.
//!
//! A new environment must start with a clean FPU: the state after `fninit` (FCW 0x037F,
//! status 0, empty stack, data registers zero in the FXSAVE image), MXCSR 0x1F80 and zero XMM
//! registers; in particular none of fpusecret's secrets. This program first yields a while
//! without touching the FPU (the library and its system calls are soft-float), so that
//! fpusecret, whatever order the two start in, has loaded its secrets on the same CPU (the
//! test runs with CPUS=1); then its first FPU instruction is an FXSAVE, which must show the
//! clean state (however the kernel provides it: eagerly, or lazily on first use). Prints `fpuclean: clean initial state: ok`, or each register that is not clean.
//!
//! Then, like fpusecret with other values, it loads its own x87 and SSE registers, yields
//! many times and checks they survive: `fpuclean: x87 and SSE registers kept across N
//! yields: ok`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use jos_lib::{println, sys_yield};
use jos_user::fpu;

jos_lib::entry!(umain);

const SEED: u32 = 0x00c1_ea11;
const YIELDS: u32 = 300;
const SPIN: u32 = 100_000;
/// Yields before the FXSAVE: fpusecret loads its secrets in its first time slice.
const WAIT: u32 = 50;

fn umain() {
    for _ in 0..WAIT {
        sys_yield();
    }
    let fx = fpu::fxsave();
    let mut diff = fpu::Line::new();
    if fx.check_clean(&mut diff) {
        println!("fpuclean: clean initial state: ok");
    } else {
        println!("fpuclean: FAIL: initial state not clean:{}", diff.as_str());
    }

    // Rounding mode 1 (down): neither the default nor fpusecret's.
    let v = fpu::values(SEED, 1);
    let got = fpu::hold(&v, YIELDS, SPIN);
    if got == v {
        println!(
            "fpuclean: x87 and SSE registers kept across {} yields: ok",
            YIELDS
        );
    } else {
        println!(
            "fpuclean: FAIL: registers changed: FCW {:04x} (loaded {:04x}), st {:x?} (loaded \
             {:x?}), MXCSR {:08x} (loaded {:08x}), xmm0 {:08x?} (loaded {:08x?})",
            got.fcw, v.fcw, got.st, v.st, got.mxcsr, v.mxcsr, got.xmm[0], v.xmm[0]
        );
    }
}
