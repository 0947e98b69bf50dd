//! faultallocbad (JOS's user/faultallocbad.c): faultalloc's handler is installed, but the bad
//! address goes to the kernel in `sys_cputs`. The kernel does not take page faults on a
//! user's behalf: it must reject the pointer (`user_mem_check assertion failure for va
//! deadbeef`) and destroy the environment, never calling the handler.
#![no_std]
#![no_main]

use jos_lib::inc::mmu::{PGSIZE, round_down};
use jos_lib::inc::syscall::SYS_CPUTS;
use jos_lib::{Pte, UTrapframe, println, set_pgfault_handler, sys_page_alloc, syscall};

jos_lib::entry!(umain);

fn handler(utf: &mut UTrapframe) {
    let addr = utf.utf_fault_va;
    println!("fault {:x}", addr);
    // SAFETY: the faulting page was unmapped; nothing in Rust refers to it.
    if let Err(e) = unsafe { sys_page_alloc(0, round_down(addr, PGSIZE), Pte::P | Pte::U | Pte::W) }
    {
        panic!("allocating at {:x} in page fault handler: {}", addr, e);
    }
}

fn umain() {
    set_pgfault_handler(handler);
    // SAFETY: a print request only reads memory, and the kernel checks the pointer.
    unsafe { syscall(SYS_CPUTS, 0xdeadbeef, 4, 0, 0, 0) };
}
