//! fpusecret (ours, no JOS counterpart): the first half of the FPU isolation test, run as
//! `fpusecret+fpuclean` (two envs the kernel starts, neither forked from the other).
//!
//! JOS saves no x87/SSE state on a context switch: whatever one environment leaves in the FPU,
//! the next one to run on that CPU sees, and may overwrite. Specified: each env has its own
//! x87/SSE state, saved and restored on every switch.
//!
//! Loads recognisable secrets into the x87 control word and stack, MXCSR and XMM0..7 as its
//! very first act (so fpuclean, started next, can look for them), then yields many times
//! and runs busy loops that span timer ticks, and checks that its registers still hold
//! exactly what it loaded. Prints `fpusecret: x87 and SSE registers kept across N yields:
//! ok`, or what changed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use jos_lib::println;
use jos_user::fpu;

jos_lib::entry!(umain);

/// fpuclean's own values use other seeds, so no coincidence can hide a mix-up.
const SEED: u32 = 0x005e_c2e7;
const YIELDS: u32 = 300;
const SPIN: u32 = 100_000;

fn umain() {
    // Rounding mode 3 (toward zero) in both FCW and MXCSR: not the clean default.
    let v = fpu::values(SEED, 3);
    let got = fpu::hold(&v, YIELDS, SPIN);
    report(&v, &got);
}

fn report(v: &fpu::Regs, got: &fpu::Regs) {
    if got == v {
        println!(
            "fpusecret: x87 and SSE registers kept across {} yields: ok",
            YIELDS
        );
        return;
    }
    if got.fcw != v.fcw || got.st != v.st {
        println!(
            "fpusecret: FAIL: x87 changed: FCW {:04x} (loaded {:04x}), st {:x?} (loaded {:x?})",
            got.fcw, v.fcw, got.st, v.st
        );
    }
    if got.mxcsr != v.mxcsr || got.xmm != v.xmm {
        println!(
            "fpusecret: FAIL: SSE changed: MXCSR {:08x} (loaded {:08x}), xmm0 {:08x?} (loaded \
             {:08x?})",
            got.mxcsr, v.mxcsr, got.xmm[0], v.xmm[0]
        );
    }
}
