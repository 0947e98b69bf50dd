//! User-level page-fault handling (JOS's lib/pgfault.c and lib/pfentry.S).
//!
//! On a page fault the kernel switches the environment to its exception stack
//! [UXSTACKTOP - PGSIZE, UXSTACKTOP), pushes a `UTrapframe` there and resumes it at the
//! registered upcall, `_pgfault_upcall`. The upcall calls the Rust handler with the frame and
//! then returns straight to the faulting instruction, without entering the kernel: every
//! register, EFLAGS, ESP and EIP are as they were at the fault.

use core::arch::global_asm;
use core::mem::offset_of;
use core::sync::atomic::{AtomicPtr, Ordering};

use jos_inc::memlayout::UXSTACKTOP;
use jos_inc::mmu::{PGSIZE, Pte};
use jos_inc::trap::UTrapframe;

use crate::syscall::{sys_env_set_pgfault_upcall, sys_page_alloc};

/// The handler the upcall calls: a `fn(&mut UTrapframe)`, stored type-erased (null until
/// the first `set_pgfault_handler`). The upcall may interrupt any code, so this is an atomic.
static HANDLER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// An upcall entry: the kernel resumes the env here with ESP at the frame it pushed (a
/// `UTrapframe`, or a `UExcframe` of the same layout); the entry calls `$dispatch` with it and
/// returns to the trap-time state. Shared by the page-fault upcall and the exception upcall
/// (crate::exception).
macro_rules! upcall_entry {
    ($section:literal, $name:literal, $dispatch:path) => {
        global_asm!(
            concat!(".section ", $section, ", \"ax\""),
            concat!(".globl ", $name),
            concat!($name, ":"),
            // ESP points at the frame. Call the handler with it, keeping the frame's address
            // in EBX (callee-saved, so it survives the call; the trap-time EBX is in the
            // frame). The ABI wants DF clear and the stack aligned at a call; neither holds at
            // trap time.
            "    movl %esp, %ebx",
            "    cld",
            "    andl $-16, %esp",
            "    subl $12, %esp",
            "    pushl %ebx",
            "    call {dispatch}",
            "    movl %ebx, %esp",
            // Return to the trap-time state. The trap-time EIP goes onto the trap-time stack,
            // just below its ESP (the kernel left a free word there when that stack is this
            // one), and the saved ESP is moved down to it, so the final `ret` pops it. When the
            // trap happened on the normal stack, that word is below ESP: free, since there is
            // no red zone.
            // LAB 4: BEGIN pgfault_upcall-return
            // HINT: Return to the trap-time state without the kernel: push the trap-time EIP on
            // HINT: the trap-time stack (utf_esp - 4), restore the registers (popal), EFLAGS
            // HINT: (popfl), switch to that stack and `ret`. No flag may change after popfl.
            // STUB: "    # return to the trap-time state ({utf_regs}, {utf_eip}, {utf_esp})",
            // STUB: "    ud2",
            "    movl {utf_esp}(%esp), %eax",
            "    subl $4, %eax",
            "    movl %eax, {utf_esp}(%esp)",
            "    movl {utf_eip}(%esp), %ecx",
            "    movl %ecx, (%eax)",
            // Restore the trap-time general registers (popal skips the saved ESP).
            "    addl ${utf_regs}, %esp",
            "    popal",
            // Skip utf_eip, then restore EFLAGS: from here on no instruction may change the
            // flags.
            "    addl $4, %esp",
            "    popfl",
            // Switch to the trap-time stack (now pointing at the saved EIP) and return to it.
            "    popl %esp",
            "    ret",
            // LAB 4: END pgfault_upcall-return
            ".text",
            dispatch = sym $dispatch,
            utf_regs = const offset_of!(UTrapframe, utf_regs),
            utf_eip = const offset_of!(UTrapframe, utf_eip),
            utf_esp = const offset_of!(UTrapframe, utf_esp),
            options(att_syntax),
        );
    };
}
pub(crate) use upcall_entry;

upcall_entry!(".text.pgfault_upcall", "_pgfault_upcall", pgfault_dispatch);

unsafe extern "C" {
    /// The assembly upcall above; never called from Rust, only registered with the kernel.
    fn _pgfault_upcall();
}

/// The address of `_pgfault_upcall`, to register with `sys_env_set_pgfault_upcall` (fork does
/// so for its children; tests register it by hand).
pub fn pgfault_upcall() -> u32 {
    _pgfault_upcall as *const () as u32
}

/// Called by the upcall with the `UTrapframe` the kernel pushed on the exception stack.
extern "C" fn pgfault_dispatch(utf: *mut UTrapframe) {
    let h = HANDLER.load(Ordering::Relaxed);
    if h.is_null() {
        panic!("page fault with no handler set");
    }
    // SAFETY: HANDLER only ever holds a `fn(&mut UTrapframe)` (see set_pgfault_handler),
    // and fn pointers and data pointers have the same size here.
    let handler = unsafe { core::mem::transmute::<*mut (), fn(&mut UTrapframe)>(h) };
    // SAFETY: the upcall passes the frame the kernel just pushed; nothing else refers to it
    // until the handler returns.
    handler(unsafe { &mut *utf });
}

/// Set the page-fault handler (JOS's `set_pgfault_handler`). The first call also allocates
/// the exception stack and registers `_pgfault_upcall` with the kernel; a failure there is
/// fatal (panic), as in JOS.
pub fn set_pgfault_handler(handler: fn(&mut UTrapframe)) {
    // LAB 4: BEGIN set_pgfault_handler
    // HINT: Store the handler (HANDLER); the first time, allocate the exception stack page below
    // HINT: UXSTACKTOP and register pgfault_upcall() with sys_env_set_pgfault_upcall.
    // Store the handler first: a fault between registration and storing must find it.
    let first = HANDLER
        .swap(handler as *mut (), Ordering::Relaxed)
        .is_null();
    if first {
        // SAFETY: the exception stack page belongs to the upcall; no Rust object lives there,
        // and before the first registration nothing has used it.
        if let Err(e) = unsafe { sys_page_alloc(0, UXSTACKTOP - PGSIZE, Pte::P | Pte::U | Pte::W) }
        {
            panic!("set_pgfault_handler: allocating the exception stack: {}", e);
        }
        // SAFETY: `_pgfault_upcall` is the upcall entry this module implements.
        if let Err(e) = unsafe { sys_env_set_pgfault_upcall(0, pgfault_upcall()) } {
            panic!("set_pgfault_handler: registering the upcall: {}", e);
        }
    }
    // LAB 4: END set_pgfault_handler
}
