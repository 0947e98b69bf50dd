//! faultnostack (JOS's user/faultnostack.c): registers the upcall but no exception stack,
//! then faults. The kernel cannot push the UTrapframe (`user_mem_check assertion failure for
//! va eebfffcc`) and must destroy the environment.
#![no_std]
#![no_main]

use core::arch::asm;

use jos_lib::{pgfault_upcall, sys_env_set_pgfault_upcall};

jos_lib::entry!(umain);

fn umain() {
    // SAFETY: `_pgfault_upcall` is the library's upcall entry (it never runs here).
    if let Err(e) = unsafe { sys_env_set_pgfault_upcall(0, pgfault_upcall()) } {
        panic!("sys_env_set_pgfault_upcall: {}", e);
    }
    // SAFETY: the store to address 0 faults, and the kernel destroys us.
    unsafe { asm!("movl $0, (0)", options(att_syntax, nostack)) };
}
