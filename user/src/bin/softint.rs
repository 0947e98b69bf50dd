//! softint (JOS's user/softint.c): executes `int $14` (the page-fault vector), which user code may
//! not invoke: the CPU raises a General Protection fault instead (`trap 0x0000000d`, err 0x72).
#![no_std]
#![no_main]

use core::arch::asm;

jos_lib::entry!(umain);

fn umain() {
    // SAFETY: the gate's DPL is 0, so this raises #GP and the kernel destroys us.
    unsafe { asm!("int $14", options(att_syntax, nomem, nostack)) };
}
