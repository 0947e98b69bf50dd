//! uxstackedge (ours): the two edges of the user exception stack, where the kernel decides
//! whether a page fault's UTrapframe fits in [UXSTACKTOP - PGSIZE, UXSTACKTOP).
//!
//! The page fault entry writes the frame straight into that page when it fits, and leaves
//! every other case to the generic path (`trap::pgfault_trap`); a bound off by one would write
//! into the physical page next to the exception stack's, through the kernel's mapping. A fault
//! taken on the exception stack puts the frame 4 + 52 bytes below the trap-time ESP (JOS's
//! rule: one empty word). So:
//!
//! - a child faults with ESP 56 bytes above the bottom: the frame fills the page to its first
//!   byte and is delivered. Its upcall then faults at once (its own stack starts below the
//!   frame, in the unmapped page under the exception stack), a fault not on the exception
//!   stack, whose frame goes at the top; that second call of the handler checks the first
//!   frame, left at the bottom, and exits;
//! - then the parent faults with ESP 55 bytes above the bottom: the frame would start one byte
//!   below the page, and the kernel prints JOS's `user_mem_check assertion failure` for that
//!   byte's address (eebfefff) and destroys it.
//!
//! Prints `uxstackedge: a frame filling the exception stack was delivered: ok` (the child),
//! then the parent's destruction.
#![no_std]
#![no_main]

use core::arch::asm;

use jos_lib::inc::env::{ENV_FREE, EnvId, envx};
use jos_lib::inc::memlayout::UXSTACKTOP;
use jos_lib::inc::mmu::{Fec, PGSIZE};
use jos_lib::{UTrapframe, envs, exit, fork, println, set_pgfault_handler, sys_yield};

jos_lib::entry!(umain);

/// The exception stack's lowest byte.
const BOTTOM: u32 = UXSTACKTOP - PGSIZE;
/// Bytes below the trap-time ESP that a fault on the exception stack takes: the empty word
/// and the frame.
const PUSH: u32 = 4 + core::mem::size_of::<UTrapframe>() as u32;
/// An unmapped address to fault on.
const TARGET: u32 = 0x3000_0000;

/// The child's handler, called the second time (the first call faulted before it got here):
/// for the fault below the exception stack, with the first frame still at its bottom.
fn edge_handler(utf: &mut UTrapframe) {
    // The first frame first, before this handler's own stack use could reach it.
    // SAFETY: BOTTOM is our exception stack's page, mapped; the frame there is plain words.
    let first = unsafe { core::ptr::read_volatile(BOTTOM as *const UTrapframe) };
    let va = utf.utf_fault_va;
    if !(BOTTOM - PGSIZE..BOTTOM).contains(&va) {
        panic!(
            "uxstackedge: second fault at {:08x}, not below the exception stack",
            va
        );
    }
    let (fva, esp, err) = (first.utf_fault_va, first.utf_esp, first.utf_err);
    if fva != TARGET || esp != BOTTOM + PUSH || !Fec::from_bits_retain(err).contains(Fec::WR) {
        panic!(
            "uxstackedge: the frame at the bottom says va {:08x}, esp {:08x}, err {:x}",
            fva, esp, err
        );
    }
    println!("uxstackedge: a frame filling the exception stack was delivered: ok");
    exit();
}

/// Fault on TARGET with ESP at `esp` (on the exception stack). Never returns: the fault is not
/// one a handler can resume from here.
fn fault_with_esp(esp: u32) -> ! {
    // SAFETY: ESP is replaced, but nothing after the store runs on it: the store faults, and
    // the kernel or the handler ends this env (the `ud2` is never reached).
    unsafe {
        asm!(
            "movl {esp}, %esp",
            "movl $0, ({target})",
            "ud2",
            esp = in(reg) esp,
            target = in(reg) TARGET,
            options(att_syntax, noreturn)
        )
    }
}

fn wait_gone(id: EnvId) {
    let e = &envs()[envx(id)];
    while e.env_id() == id && e.env_status() != ENV_FREE {
        sys_yield();
    }
}

fn umain() {
    match fork() {
        Ok(0) => {
            set_pgfault_handler(edge_handler);
            fault_with_esp(BOTTOM + PUSH);
        }
        Ok(child) => wait_gone(child),
        Err(e) => panic!("uxstackedge: fork: {}", e),
    }
    // (fork installed our handler and exception stack; the kernel refuses before calling it.)
    fault_with_esp(BOTTOM + PUSH - 1);
}
