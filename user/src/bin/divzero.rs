//! divzero (JOS's user/divzero.c): divides 1 by zero at run time, which must trap (`trap 0x00000000
//! Divide error`): `1/0 is ...!` must never print.
#![no_std]
#![no_main]

use core::arch::asm;
use core::ptr::read_volatile;

use jos_lib::println;

jos_lib::entry!(umain);

static ZERO: i32 = 0;

fn umain() {
    // A volatile read, so the compiler cannot know the divisor; and the division itself in
    // asm, because Rust's `/` checks for zero and panics instead of trapping.
    // SAFETY: ZERO is a valid, aligned static.
    let zero = unsafe { read_volatile(&raw const ZERO) };
    let quotient: i32;
    // SAFETY: `idivl` only reads its operands; dividing by zero raises #DE, which the kernel
    // handles by destroying us.
    unsafe {
        asm!(
            "cltd",
            "idivl {d}",
            d = in(reg) zero,
            inlateout("eax") 1i32 => quotient,
            lateout("edx") _,
            options(att_syntax, nomem, nostack),
        );
    }
    println!("1/0 is {:08x}!", quotient);
}
