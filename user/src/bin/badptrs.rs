//! badptrs (ours, no JOS counterpart): no system call that takes a pointer may let a user
//! environment reach memory it cannot reach itself.
//!
//! Part 1, `sys_cputs` with bad (pointer, length) pairs: a correct kernel destroys the
//! caller (`[id] user_mem_check assertion failure for va ...`), so each case runs in its own
//! forked child. A child whose call comes back reports `badptrs: BAD: cputs(...) returned`
//! and raises a flag in a page it shares with the parent (PTE_SHARE, so fork shares it
//! rather than copying it).
//!
//! Part 2, page and IPC calls with addresses at or above UTOP or unaligned: these must fail
//! with -E_INVAL and change nothing. `sys_ipc_recv` on an unaligned address runs in a child,
//! since a kernel that wrongly accepted it would block the caller for good.
//!
//! Ends with `badptrs: all bad pointers rejected` only if every check passed.
#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

use jos_lib::inc::env::{ENV_FREE, EnvId, envx};
use jos_lib::inc::error::E_INVAL;
use jos_lib::inc::memlayout::{ULIM, USTACKTOP, UTEMP, UTEXT, UTOP};
use jos_lib::inc::syscall::{
    SYS_CPUTS, SYS_IPC_RECV, SYS_PAGE_ALLOC, SYS_PAGE_MAP, SYS_PAGE_UNMAP,
};
use jos_lib::{
    ErrNum, Pte, envs, exit, fork, println, sys_env_destroy, sys_page_alloc, sys_yield, syscall,
};

jos_lib::entry!(umain);

/// The page shared with every child: word 0 counts children whose bad call returned,
/// word 1 is set by the ipc_recv child when its call failed as it should.
const FLAGS: u32 = 0x0a00_0000;

/// A user page that is never mapped.
const UNMAPPED: u32 = 0x1000_0000;

static GREETING: &[u8] = b"badptrs: this must never be printed\n";

/// Raise flag word `i` in the shared page.
fn flag_add(i: usize, n: u32) {
    let p = (FLAGS as *mut u32).wrapping_add(i);
    // SAFETY: the flags page is mapped (shared) in the parent and all children before they
    // run, and only ever accessed through these volatile helpers.
    unsafe { write_volatile(p, read_volatile(p) + n) };
}

fn flag(i: usize) -> u32 {
    // SAFETY: as for flag_add.
    unsafe { read_volatile((FLAGS as *const u32).wrapping_add(i)) }
}

/// Yield until the environment `id` is gone (its slot free, or reused by a new id).
fn wait_gone(id: EnvId) {
    let e = &envs()[envx(id)];
    while e.env_id() == id && e.env_status() != ENV_FREE {
        sys_yield();
    }
}

/// Fork a child that makes one bad cputs call and must be destroyed by it.
fn cputs_case(ptr: u32, len: u32) {
    let child = match fork() {
        Ok(id) => id,
        Err(e) => panic!("fork: {}", e),
    };
    if child == 0 {
        // SAFETY: a print request only reads memory, and the kernel checks the range.
        unsafe { syscall(SYS_CPUTS, ptr, len, 0, 0, 0) };
        println!("badptrs: BAD: cputs({:08x}, {:08x}) returned", ptr, len);
        flag_add(0, 1);
        exit();
    }
    wait_gone(child);
}

/// Check that a raw system call returns -E_INVAL; report and count it if not.
fn expect_inval(what: &str, r: i32, failures: &mut u32) {
    if r != -E_INVAL {
        println!(
            "badptrs: FAIL {}: got {} ({}), want -E_INVAL",
            what,
            r,
            ErrNum(r)
        );
        *failures += 1;
    }
}

fn umain() {
    let rw = Pte::P | Pte::U | Pte::W;
    // SAFETY: FLAGS is an otherwise unused page.
    if let Err(e) = unsafe { sys_page_alloc(0, FLAGS, rw | Pte::SHARE) } {
        panic!("sys_page_alloc: {}", e);
    }

    println!("badptrs: sys_cputs with bad pointers (each must destroy its caller)");
    let cases: [(u32, u32); 9] = [
        (0, 1),                                  // page 0, never mapped
        (0xf010_0000, 1),                        // the kernel's text
        (ULIM, 1),                               // the first kernel-only address (MMIO)
        (ULIM - 1, 2),                           // ends in kernel-only memory
        (USTACKTOP - 1, 2),                      // runs off the stack into the unmapped guard page
        (UTEXT, 0xffff_ffff),                    // wraps around the address space
        (0xffff_ffff, 2),                        // wraps past 4G
        (UNMAPPED, 1),                           // an unmapped user page
        (GREETING.as_ptr() as u32, 0x7fff_ffff), // starts valid, runs far past the program
    ];
    for (ptr, len) in cases {
        cputs_case(ptr, len);
    }
    let returned = flag(0);

    println!("badptrs: page and IPC calls with bad addresses (each must return -E_INVAL)");
    let mut failures = 0;
    let p = (rw).bits();
    // SAFETY: (all raw calls below) the addresses are at or above UTOP, or unmapped, or
    // unaligned: a correct kernel changes nothing, and a buggy one can only touch pages
    // no Rust object uses (UNMAPPED, UTEMP).
    unsafe {
        for va in [UTOP, 0xf000_0000, 0xffff_f000] {
            let r = syscall(SYS_PAGE_ALLOC, 0, va, p, 0, 0);
            expect_inval("sys_page_alloc at or above UTOP", r, &mut failures);
        }
        for src in [UTOP, 0xf010_0000, ULIM] {
            let r = syscall(
                SYS_PAGE_MAP,
                0,
                src,
                0,
                UNMAPPED,
                Pte::P.bits() | Pte::U.bits(),
            );
            expect_inval("sys_page_map from at or above UTOP", r, &mut failures);
        }
        for dst in [UTOP, 0xf000_0000, 0xffff_f000] {
            let r = syscall(
                SYS_PAGE_MAP,
                0,
                FLAGS,
                0,
                dst,
                Pte::P.bits() | Pte::U.bits(),
            );
            expect_inval("sys_page_map to at or above UTOP", r, &mut failures);
        }
        for va in [UTOP, 0xf010_0000] {
            let r = syscall(SYS_PAGE_UNMAP, 0, va, 0, 0, 0);
            expect_inval("sys_page_unmap at or above UTOP", r, &mut failures);
        }
        let r = syscall(SYS_PAGE_ALLOC, 0, UTEMP + 1, p, 0, 0);
        expect_inval("sys_page_alloc unaligned", r, &mut failures);
    }

    // sys_ipc_recv at an unaligned address below UTOP, in a child in case it blocks.
    let child = match fork() {
        Ok(id) => id,
        Err(e) => panic!("fork: {}", e),
    };
    if child == 0 {
        // SAFETY: the address is unaligned, so a correct kernel maps nothing.
        let r = unsafe { syscall(SYS_IPC_RECV, UTEMP + 1, 0, 0, 0, 0) };
        if r == -E_INVAL {
            flag_add(1, 1);
        } else {
            println!(
                "badptrs: FAIL sys_ipc_recv({:08x}): got {} ({})",
                UTEMP + 1,
                r,
                ErrNum(r)
            );
        }
        exit();
    }
    // Give it plenty of chances to run; if it is still there, it is stuck in the call.
    for _ in 0..1000 {
        let e = &envs()[envx(child)];
        if e.env_id() != child || e.env_status() == ENV_FREE {
            break;
        }
        sys_yield();
    }
    if flag(1) != 1 {
        println!(
            "badptrs: FAIL sys_ipc_recv({:08x}) did not return -E_INVAL",
            UTEMP + 1
        );
        failures += 1;
        let _ = sys_env_destroy(child);
        wait_gone(child);
    }

    if returned != 0 {
        println!("badptrs: FAIL {} bad sys_cputs call(s) returned", returned);
    }
    if returned == 0 && failures == 0 {
        println!("badptrs: all bad pointers rejected");
    }
}
