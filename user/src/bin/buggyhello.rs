//! buggyhello (JOS's user/buggyhello.c): hands the kernel a bad pointer (address 1). The kernel
//! must notice and destroy the environment (`user_mem_check assertion failure for va 00000001`),
//! not print or fault.
#![no_std]
#![no_main]

use jos_lib::inc::syscall::SYS_CPUTS;
use jos_lib::syscall;

jos_lib::entry!(umain);

fn umain() {
    // SAFETY: a print request only reads memory, and the kernel checks the pointer.
    unsafe { syscall(SYS_CPUTS, 1, 1, 0, 0, 0) };
}
