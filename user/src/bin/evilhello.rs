//! evilhello (JOS's user/evilhello.c): asks the kernel to print its own memory (0xf010000c, the
//! kernel's entry code). The kernel must refuse (`user_mem_check assertion failure for va
//! f010000c`).
#![no_std]
#![no_main]

use jos_lib::inc::syscall::SYS_CPUTS;
use jos_lib::syscall;

jos_lib::entry!(umain);

fn umain() {
    // SAFETY: a print request only reads memory, and the kernel checks the pointer.
    unsafe { syscall(SYS_CPUTS, 0xf010_000c, 100, 0, 0, 0) };
}
