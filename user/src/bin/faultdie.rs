//! faultdie (JOS's user/faultdie.c): a page-fault handler that reports the fault
//! (`i faulted at va deadbeef, err 6`) and destroys its environment.
#![no_std]
#![no_main]

use core::arch::asm;

use jos_lib::{UTrapframe, println, set_pgfault_handler, sys_env_destroy, sys_getenvid};

jos_lib::entry!(umain);

fn handler(utf: &mut UTrapframe) {
    let addr = utf.utf_fault_va;
    let err = utf.utf_err;
    println!("i faulted at va {:x}, err {:x}", addr, err & 7);
    let _ = sys_env_destroy(sys_getenvid());
}

fn umain() {
    set_pgfault_handler(handler);
    // A store in asm (the address is unmapped and unaligned: a Rust write there would be
    // undefined behaviour). SAFETY: it faults, and the handler destroys us.
    unsafe { asm!("movl $0, (0xdeadbeef)", options(att_syntax, nostack)) };
}
