//! dumbfork (JOS's user/dumbfork.c): fork by eager copying, built from the exokernel
//! primitives alone: `sys_exofork`, then every page of the program and the stack copied into
//! the child through a temporary mapping at UTEMP. The parent prints `N: I am the parent!`
//! 10 times, the child `N: I am the child!` 20 times, yielding in between.
#![no_std]
#![no_main]

use jos_lib::inc::env::{ENV_RUNNABLE, EnvId};
use jos_lib::inc::memlayout::{USTACKTOP, UTEMP, UTEXT};
use jos_lib::inc::mmu::{PGSIZE, round_down};
use jos_lib::{
    Pte, println, set_thisenv, sys_env_set_status, sys_exofork, sys_page_alloc, sys_page_map,
    sys_page_unmap, sys_yield,
};

jos_lib::entry!(umain);

unsafe extern "C" {
    /// End of the program image (bss included), from user.ld.
    static end: u8;
}

fn umain() {
    // Fork a child process.
    let who = dumbfork();
    // Print a message and yield to the other a few times.
    let (n, name) = if who != 0 {
        (10, "parent")
    } else {
        (20, "child")
    };
    for i in 0..n {
        println!("{}: I am the {}!", i, name);
        sys_yield();
    }
}

/// Give `dstenv` its own copy of our page at `addr`. (Not what a real fork should do.)
fn duppage(dstenv: EnvId, addr: u32) {
    let rw = Pte::P | Pte::U | Pte::W;
    // SAFETY: the page is the child's (not running yet); UTEMP is free in our address space
    // and only this function uses it.
    unsafe {
        if let Err(e) = sys_page_alloc(dstenv, addr, rw) {
            panic!("sys_page_alloc: {}", e);
        }
        if let Err(e) = sys_page_map(dstenv, addr, 0, UTEMP, rw) {
            panic!("sys_page_map: {}", e);
        }
        core::ptr::copy_nonoverlapping(addr as *const u8, UTEMP as *mut u8, PGSIZE as usize);
        if let Err(e) = sys_page_unmap(0, UTEMP) {
            panic!("sys_page_unmap: {}", e);
        }
    }
}

/// Returns the child's id in the parent, 0 in the child. Not inlined, so that the child,
/// which resumes inside it on the copy of the stack taken by the last duppage, needs only
/// this frame's saved registers and return address.
#[inline(never)]
fn dumbfork() -> EnvId {
    // Allocate a new child environment. The kernel will initialize it with a copy of our
    // register state, so that the child will appear to have called sys_exofork() too,
    // except that in the child this "fake" call to sys_exofork() will return 0 instead of
    // the envid of the child.
    let envid = match sys_exofork() {
        Ok(0) => {
            // We're the child. The copied value of `thisenv` is the parent's; fix it.
            set_thisenv();
            return 0;
        }
        Ok(id) => id,
        Err(e) => panic!("sys_exofork: {}", e),
    };

    // We're the parent. Eagerly copy our entire address space into the child.
    let end_addr = &raw const end as u32;
    let mut addr = UTEXT;
    while addr < end_addr {
        duppage(envid, addr);
        addr += PGSIZE;
    }
    // Also copy the stack we are currently running on (from its lowest page in use up).
    let sp = &raw const addr as u32;
    let mut page = round_down(sp, PGSIZE);
    while page < USTACKTOP {
        duppage(envid, page);
        page += PGSIZE;
    }

    // Start the child environment running.
    if let Err(e) = sys_env_set_status(envid, ENV_RUNNABLE) {
        panic!("sys_env_set_status: {}", e);
    }
    envid
}
