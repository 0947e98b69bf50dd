//! faultbadhandler (JOS's user/faultbadhandler.c): maps an exception stack but registers an
//! unmapped address (0xdeadbeef) as the upcall, then faults. The kernel must not run kernel code or
//! loop: the environment dies (`user_mem_check assertion failure for va (deadb|eebfe)...`).
#![no_std]
#![no_main]

use core::arch::asm;

use jos_lib::inc::memlayout::UXSTACKTOP;
use jos_lib::inc::mmu::PGSIZE;
use jos_lib::{Pte, sys_env_set_pgfault_upcall, sys_page_alloc};

jos_lib::entry!(umain);

fn umain() {
    // SAFETY: the exception stack page is not used by any Rust object. The bogus upcall is
    // the point of the test: the fault below must end with the kernel destroying us.
    unsafe {
        if let Err(e) = sys_page_alloc(0, UXSTACKTOP - PGSIZE, Pte::P | Pte::U | Pte::W) {
            panic!("sys_page_alloc: {}", e);
        }
        if let Err(e) = sys_env_set_pgfault_upcall(0, 0xdeadbeef) {
            panic!("sys_env_set_pgfault_upcall: {}", e);
        }
        asm!("movl $0, (0)", options(att_syntax, nostack));
    }
}
