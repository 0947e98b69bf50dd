//! The kernel's printf (JOS's kern/printf.c: `cprintf`, `vcprintf`, `putch`): the `cprintf!`
//! and `kwarn!` macros and the print lock that makes one print from one CPU one unbroken run on
//! the console (lines from different CPUs never interleave). The devices are console.rs's; the
//! `%e`-style error strings are inc's; the panic handler is panic.rs's.

use core::fmt;

use crate::console::Output;
use crate::spinlock::{Mutex, rank};

/// The kernel's printf: formatted output to the console (CGA, serial, parallel port), one
/// lock hold per call so lines from different CPUs don't interleave.
#[macro_export]
macro_rules! cprintf {
    ($($arg:tt)*) => { $crate::printf::print_fmt(format_args!($($arg)*)) };
}

/// JOS's `warn()`: `kernel warning at file:line: msg`.
#[macro_export]
macro_rules! kwarn {
    ($($arg:tt)*) => {
        $crate::cprintf!("kernel warning at {}:{}: {}\n", file!(), line!(), format_args!($($arg)*))
    };
}

/// Keeps one CPU's formatted print from interleaving with another's.
static PRINT: Mutex<(), rank::Print> = Mutex::new(());

/// Prints formatted output atomically with respect to other CPUs' prints. The backend of the
/// `cprintf!` macro.
///
/// Not reentrant: a print issued while this CPU is inside `print_fmt` (e.g. from a `Display`
/// impl) panics (`cannot acquire print: already holding`); the panic path breaks every lock
/// before it prints.
pub fn print_fmt(args: fmt::Arguments<'_>) {
    let _guard = PRINT.lock();
    // The console itself never fails; an error can only come from a `Display` impl, and the
    // output up to that point has been printed already, as with C's printf.
    let _ = fmt::Write::write_fmt(&mut Output::new(), args);
}

/// Prints raw bytes (not necessarily UTF-8, e.g. a user's `sys_cputs` buffer) atomically with
/// respect to other CPUs' prints, like JOS's `cprintf("%.*s", len, s)`: `f` is handed a
/// writer it may call several times (once per chunk) while the print lock is held.
pub fn print_with(f: impl FnOnce(&mut dyn FnMut(&[u8]))) {
    let _guard = PRINT.lock();
    let mut out = Output::new();
    f(&mut |bytes: &[u8]| out.write_bytes(bytes));
}
