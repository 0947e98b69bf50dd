//! User panics (JOS's lib/panic.c): print the message, then trap into the kernel monitor.

use core::arch::asm;
use core::panic::PanicInfo;

use crate::entry::binaryname;
use crate::syscall::sys_getenvid;

/// `panic!` in a user program: prints
/// `[%08x] user panic in <binaryname> at <file>:<line>: <msg>` (one line, one system call
/// when it fits) and then executes `int3` forever, which drops into the kernel monitor.
#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    let (file, line) = info
        .location()
        .map_or(("<unknown>", 0), |l| (l.file(), l.line()));
    crate::println!(
        "[{:08x}] user panic in {} at {}:{}: {}",
        sys_getenvid(),
        binaryname(),
        file,
        line,
        info.message()
    );
    loop {
        // SAFETY: a breakpoint trap; the kernel handles it (monitor) and never resumes us
        // into anything but this loop.
        unsafe { asm!("int3", options(nomem, nostack)) };
    }
}
