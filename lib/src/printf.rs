//! Formatted console output (JOS's lib/printf.c over lib/printfmt.c, with `core::fmt` as the
//! formatter).
//!
//! Output is collected in a 256-byte buffer on the caller's stack and handed to the kernel
//! with one `sys_cputs`: one call per `print!`/`println!` when the text fits, so lines from
//! environments on different CPUs never interleave mid-line. Longer output is flushed each
//! time the buffer fills, as JOS's `cprintf` does.
#![forbid(unsafe_code)]

use core::fmt::{self, Write};

use crate::syscall::sys_cputs;

const BUFSIZE: usize = 256;

/// A `fmt::Write` sink that batches output into as few `sys_cputs` calls as possible.
struct Printer {
    buf: [u8; BUFSIZE],
    len: usize,
}

impl Printer {
    fn flush(&mut self) {
        if self.len > 0 {
            sys_cputs(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Write for Printer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut bytes = s.as_bytes();
        while !bytes.is_empty() {
            if self.len == BUFSIZE {
                self.flush();
            }
            let n = bytes.len().min(BUFSIZE - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
        Ok(())
    }
}

/// Print formatted arguments; the implementation of [`print!`](crate::print) and
/// [`println!`](crate::println).
#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let mut p = Printer {
        buf: [0; BUFSIZE],
        len: 0,
    };
    // Our sink never fails; an error could only come from a Display impl, and then the
    // text so far is still worth printing.
    let _ = p.write_fmt(args);
    p.flush();
}

/// JOS's `cprintf`: format and print on the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::printf::_print(format_args!($($arg)*))
    };
}

/// `print!` plus a newline, in the same system call.
#[macro_export]
macro_rules! println {
    () => {
        $crate::printf::_print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::printf::_print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
