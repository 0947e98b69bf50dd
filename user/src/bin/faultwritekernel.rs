//! faultwritekernel (JOS's user/faultwritekernel.c): writes address 0xf0100000, which must fault
//! (`err 0x00000007` in the trapframe dump).
#![no_std]
#![no_main]

use core::arch::asm;

jos_lib::entry!(umain);

fn umain() {
    // A store in asm: a Rust write to this address would be undefined behaviour, and the
    // point is the hardware fault. SAFETY: the store faults and the kernel destroys us.
    unsafe { asm!("movl $0, (0xf0100000)", options(att_syntax, nostack)) };
}
