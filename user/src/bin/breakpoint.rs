//! breakpoint (JOS's user/breakpoint.c): executes `int $3`, which drops into the kernel monitor
//! (`trap 0x00000003 Breakpoint`) without destroying the environment.
#![no_std]
#![no_main]

use core::arch::asm;

jos_lib::entry!(umain);

fn umain() {
    // SAFETY: a breakpoint trap; the kernel handles it.
    unsafe { asm!("int $3", options(att_syntax, nomem, nostack)) };
}
