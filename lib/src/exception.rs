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
use core::sync::atomic::{AtomicPtr, Ordering};

use jos_inc::memlayout::UXSTACKTOP;
use jos_inc::mmu::{PGSIZE, Pte};
use jos_inc::trap::{UExcframe, UTrapframe};

use crate::env::uvpt;
use crate::pgfault::upcall_entry;
use crate::syscall::{sys_env_set_exception_upcall, sys_page_alloc};

/// The handler: a `fn(&mut UExcframe)`, stored type-erased (null until set).
static HANDLER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

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
    let h = HANDLER.load(Ordering::Relaxed);
    if h.is_null() {
        panic!("exception with no handler set");
    }
    // SAFETY: HANDLER only ever holds a `fn(&mut UExcframe)` (see set_exception_handler).
    let handler = unsafe { core::mem::transmute::<*mut (), fn(&mut UExcframe)>(h) };
    // SAFETY: the upcall passes the frame the kernel just pushed; nothing else refers to it.
    handler(unsafe { &mut *uxf });
}

/// Set the handler for the exceptions other than page faults. The first call also allocates
/// the exception stack (unless the page-fault handler did) and registers the upcall; a
/// failure there is fatal (panic), as for `set_pgfault_handler`.
pub fn set_exception_handler(handler: fn(&mut UExcframe)) {
    // CHALLENGE: BEGIN set_exception_handler
    let first = HANDLER
        .swap(handler as *mut (), Ordering::Relaxed)
        .is_null();
    if first {
        let stack = UXSTACKTOP - PGSIZE;
        if !Pte::from_bits_retain(uvpt(jos_inc::mmu::pgnum(stack))).contains(Pte::P) {
            // SAFETY: the exception stack page belongs to the upcalls; no Rust object lives
            // there.
            if let Err(e) = unsafe { sys_page_alloc(0, stack, Pte::P | Pte::U | Pte::W) } {
                panic!(
                    "set_exception_handler: allocating the exception stack: {}",
                    e
                );
            }
        }
        // SAFETY: `_exception_upcall` is the upcall entry this module implements.
        if let Err(e) = unsafe { sys_env_set_exception_upcall(0, exception_upcall()) } {
            panic!("set_exception_handler: registering the upcall: {}", e);
        }
    }
    // CHALLENGE: END set_exception_handler
}

// The shared upcall entry reads the frame through UTrapframe's offsets.
const _: () = {
    assert!(offset_of!(UExcframe, uxf_regs) == offset_of!(UTrapframe, utf_regs));
    assert!(offset_of!(UExcframe, uxf_eip) == offset_of!(UTrapframe, utf_eip));
    assert!(offset_of!(UExcframe, uxf_esp) == offset_of!(UTrapframe, utf_esp));
};
