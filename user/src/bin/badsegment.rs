//! badsegment (JOS's user/badsegment.c): loads selector 0x28 (a kernel TSS descriptor) into DS,
//! which raises a General Protection fault with error code 0x28.
#![no_std]
#![no_main]

use core::arch::asm;

jos_lib::entry!(umain);

fn umain() {
    // SAFETY: the load faults (#GP), and the kernel destroys us before DS could be used.
    unsafe {
        asm!(
            "movw $0x28, %ax",
            "movw %ax, %ds",
            out("eax") _,
            options(att_syntax, nomem, nostack),
        );
    }
}
