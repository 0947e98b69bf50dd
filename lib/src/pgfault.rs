//! User-level page-fault handling (JOS's lib/pgfault.c and lib/pfentry.S).
//!
//! On a page fault the kernel switches the environment to its exception stack
//! [UXSTACKTOP - PGSIZE, UXSTACKTOP), pushes a `UTrapframe` there and resumes it at the
//! registered upcall, `_pgfault_upcall`. The upcall calls the Rust handler with the frame and
//! then returns straight to the faulting instruction, without entering the kernel: every
//! register, EFLAGS, ESP and EIP are as they were at the fault.

use core::arch::global_asm;
use core::marker::PhantomData;
use core::mem::offset_of;
use core::sync::atomic::{AtomicPtr, Ordering};

use jos_inc::env::EnvId;
use jos_inc::error::Result;
use jos_inc::memlayout::UXSTACKTOP;
use jos_inc::mmu::{PGSIZE, Pte, pgnum};
use jos_inc::trap::UTrapframe;

use crate::env::uvpt;
use crate::syscall::{sys_env_set_pgfault_upcall, sys_page_alloc};

/// The handler the upcall calls (null until the first `set_pgfault_handler`).
static HANDLER: Handler<UTrapframe> = Handler::new();

/// A user handler as an upcall finds it: a `fn(&mut F)`, `F` the frame the kernel pushes,
/// stored type-erased (null until set). The upcall may interrupt any code, so this is an
/// atomic. Page faults have one, the other exceptions another (crate::exception).
pub(crate) struct Handler<F>(AtomicPtr<()>, PhantomData<fn(&mut F)>);

impl<F> Handler<F> {
    pub(crate) const fn new() -> Handler<F> {
        Handler(AtomicPtr::new(core::ptr::null_mut()), PhantomData)
    }

    /// Store `handler`; true if there was none before. Only a change is stored: fork sets the
    /// page-fault handler every time, and after a fork the page holding it is copy-on-write, so
    /// a store of the same value would cost a copy-on-write fault.
    pub(crate) fn set(&self, handler: fn(&mut F)) -> bool {
        let old = self.0.load(Ordering::Relaxed);
        if old != handler as *mut () {
            self.0.store(handler as *mut (), Ordering::Relaxed);
        }
        old.is_null()
    }

    /// Call the handler with the frame the kernel pushed; `what` names the event in the panic
    /// when there is none.
    ///
    /// # Safety
    /// `frame` is the frame the kernel just pushed, which nothing else refers to until the
    /// handler returns.
    pub(crate) unsafe fn call(&self, frame: *mut F, what: &str) {
        let h = self.0.load(Ordering::Relaxed);
        if h.is_null() {
            panic!("{} with no handler set", what);
        }
        // SAFETY: only `set` stores here, and only a `fn(&mut F)`; fn pointers and data
        // pointers have the same size here.
        let handler = unsafe { core::mem::transmute::<*mut (), fn(&mut F)>(h) };
        // SAFETY: per the contract.
        handler(unsafe { &mut *frame });
    }
}

/// What the first `set_pgfault_handler` and `set_exception_handler` do: map the exception
/// stack (unless the other one did) and register the upcall `entry` with `register`. A
/// failure is fatal (panic, naming `who`), as in JOS.
///
/// # Safety
/// `entry` is an upcall entry of this library (made by `upcall_entry!`) of the kind
/// `register` registers.
pub(crate) unsafe fn install_upcall(
    who: &str,
    register: unsafe fn(EnvId, u32) -> Result<()>,
    entry: u32,
) {
    // LAB 4: BEGIN install_upcall
    // HINT: The first registration: the exception stack's page (one page below UXSTACKTOP)
    // HINT: must exist, and the kernel must learn the entry (`register`). A failure is fatal.
    let stack = UXSTACKTOP - PGSIZE;
    if !Pte::from_bits_retain(uvpt(pgnum(stack))).contains(Pte::P) {
        // SAFETY: the exception stack page belongs to the upcalls; no Rust object lives there,
        // and nothing has used it yet (it is not mapped).
        if let Err(e) = unsafe { sys_page_alloc(0, stack, Pte::P | Pte::U | Pte::W) } {
            panic!("{}: allocating the exception stack: {}", who, e);
        }
    }
    // SAFETY: per the contract.
    if let Err(e) = unsafe { register(0, entry) } {
        panic!("{}: registering the upcall: {}", who, e);
    }
    // LAB 4: END install_upcall
}

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
    // SAFETY: the upcall passes the frame the kernel just pushed.
    unsafe { HANDLER.call(utf, "page fault") }
}

/// Set the page-fault handler (JOS's `set_pgfault_handler`). The first call also allocates
/// the exception stack and registers `_pgfault_upcall` with the kernel; a failure there is
/// fatal (panic), as in JOS.
pub fn set_pgfault_handler(handler: fn(&mut UTrapframe)) {
    // LAB 4: BEGIN set_pgfault_handler
    // HINT: Store the handler (HANDLER.set); the first time, install the upcall (install_upcall
    // HINT: above: your exercise too) with sys_env_set_pgfault_upcall and pgfault_upcall().
    // Store the handler first: a fault between registration and storing must find it.
    if HANDLER.set(handler) {
        // SAFETY: `_pgfault_upcall` is the page-fault upcall entry this module implements.
        unsafe {
            install_upcall(
                "set_pgfault_handler",
                sys_env_set_pgfault_upcall,
                pgfault_upcall(),
            )
        };
    }
    // LAB 4: END set_pgfault_handler
}
