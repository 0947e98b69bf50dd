//! Console input and raw output (JOS's lib/console.c, lab 4 version: straight system calls,
//! no file descriptors).
#![forbid(unsafe_code)]

use crate::syscall::{sys_cgetc, sys_cputs, sys_yield};

/// Print `s` with one system call (no formatting).
pub fn cputs(s: &str) {
    sys_cputs(s.as_bytes());
}

/// Wait for a console character, yielding the CPU while none is there.
pub fn getchar() -> u8 {
    loop {
        let c = sys_cgetc();
        if c != 0 {
            return c as u8;
        }
        sys_yield();
    }
}
