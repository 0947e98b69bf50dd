//! faultreadkernel (JOS's user/faultreadkernel.c): reads address 0xf0100000, which must fault (`err
//! 0x00000005` in the trapframe dump) before `I read {:08x} from location 0xf0100000!` can print.
#![no_std]
#![no_main]

use core::arch::asm;

use jos_lib::println;

jos_lib::entry!(umain);

fn umain() {
    let v: u32;
    // A load in asm: a Rust read of this address would be undefined behaviour, and the
    // point is the hardware fault. SAFETY: the load faults and the kernel destroys us.
    unsafe {
        asm!(
            "movl (0xf0100000), {v}",
            v = out(reg) v,
            options(att_syntax, nostack, readonly),
        );
    }
    println!("I read {:08x} from location 0xf0100000!", v);
}
