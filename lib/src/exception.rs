//! User-level handlers for the exceptions other than page faults (not in JOS: a lab 4
//! challenge). The kernel delivers the exceptions in `trap::USER_EXCEPTIONS` (divide error,
//! debug, breakpoint, overflow, bound, invalid opcode, segment/stack faults, general
//! protection, x87 and SIMD floating point, alignment check) to a registered upcall, on the
//! exception stack, with a [`UExcframe`] that names the trap and carries its error code. The
//! handler may change the saved registers, EIP (to skip or retry the instruction) and EFLAGS,
//! and the upcall returns to them. Without a handler the kernel does what JOS does (the env is
//! destroyed; a breakpoint enters the kernel monitor). Page faults keep their own upcall
//! ([`crate::pgfault`]).

use core::arch::global_asm;
use core::mem::offset_of;

use jos_inc::trap::{UExcframe, UTrapframe};

use crate::pgfault::{Handler, install_upcall, upcall_entry};
use crate::syscall::sys_env_set_exception_upcall;

/// The handler the upcall calls (null until the first `set_exception_handler`).
static HANDLER: Handler<UExcframe> = Handler::new();

upcall_entry!(
    ".text.exception_upcall",
    "_exception_upcall",
    exception_dispatch
);

unsafe extern "C" {
    /// The assembly upcall; registered with the kernel, never called from Rust.
    fn _exception_upcall();
}

/// The address of `_exception_upcall`, for `sys_env_set_exception_upcall`.
pub fn exception_upcall() -> u32 {
    _exception_upcall as *const () as u32
}

extern "C" fn exception_dispatch(uxf: *mut UExcframe) {
    // SAFETY: the upcall passes the frame the kernel just pushed.
    unsafe { HANDLER.call(uxf, "exception") }
}

/// Set the handler for the exceptions other than page faults. The first call also allocates
/// the exception stack (unless the page-fault handler did) and registers the upcall; a
/// failure there is fatal (panic), as for `set_pgfault_handler`.
pub fn set_exception_handler(handler: fn(&mut UExcframe)) {
    // CHALLENGE: BEGIN set_exception_handler
    if HANDLER.set(handler) {
        // SAFETY: `_exception_upcall` is the exception upcall entry this module implements.
        unsafe {
            install_upcall(
                "set_exception_handler",
                sys_env_set_exception_upcall,
                exception_upcall(),
            )
        };
    }
    // CHALLENGE: END set_exception_handler
}

// The shared upcall entry reads the frame through UTrapframe's offsets.
const _: () = {
    assert!(offset_of!(UExcframe, uxf_regs) == offset_of!(UTrapframe, utf_regs));
    assert!(offset_of!(UExcframe, uxf_eip) == offset_of!(UTrapframe, utf_eip));
    assert!(offset_of!(UExcframe, uxf_esp) == offset_of!(UTrapframe, utf_esp));
};
