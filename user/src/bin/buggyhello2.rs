//! buggyhello2 (JOS's user/buggyhello2.c): prints its greeting with a length of 1 MiB, far past the
//! end of the program: the kernel must reject the whole request at the first unmapped page (`va
//! 0....000`), printing nothing.
#![no_std]
#![no_main]

use jos_lib::inc::syscall::SYS_CPUTS;
use jos_lib::syscall;

jos_lib::entry!(umain);

static HELLO: &str = "hello, world\n";

fn umain() {
    // SAFETY: a print request only reads memory, and the kernel checks the range.
    unsafe { syscall(SYS_CPUTS, HELLO.as_ptr() as u32, 1024 * 1024, 0, 0, 0) };
}
