//! stranded (ours, no JOS counterpart): an environment that can never run again must not
//! keep its memory and its slot for ever.
//!
//! A child made by sys_exofork stays NOT_RUNNABLE until its parent marks it runnable; only
//! its parent may do that (or map memory into it). If the parent exits first, nothing can
//! ever start the child, nor destroy it: on JOS its page directory, page tables, pages and
//! env slot are lost until reboot. Specified: the kernel reclaims an env that provably can
//! never run again (never started, or suspended and not receiving, and its parent gone).
//!
//! Exoforks three children and exits without starting them: the first gets three fresh
//! pages, the second a page of ours (shared, so that page's count must come down too) and
//! one fresh page, the third nothing. Prints `stranded: 3 children left behind with N pages`
//! just before exiting; the grader then checks with `meminfo` that free pages and envs are
//! back to their counts before the first env.
#![no_std]
#![no_main]

use jos_lib::inc::env::EnvId;
use jos_lib::inc::mmu::PGSIZE;
use jos_lib::{Pte, exit, println, sys_exofork, sys_page_alloc, sys_page_map};

jos_lib::entry!(umain);

/// Where the children get their pages, and where our shared page is.
const VA: u32 = 0x1000_0000;
const OURS: u32 = 0x0e00_0000;

fn exofork() -> EnvId {
    match sys_exofork() {
        // The child: it has no memory at all, so it could not even get here; were it ever
        // started, it would fault at once and the kernel would destroy it.
        Ok(0) => exit(),
        Ok(id) => id,
        Err(e) => panic!("sys_exofork: {}", e),
    }
}

fn umain() {
    let puw = Pte::P | Pte::U | Pte::W;
    let mut pages = 0;
    // SAFETY: (every call below) the calls map pages into the children, which never run,
    // and at OURS in our own address space, a page nothing else uses.
    unsafe {
        let a = exofork();
        for i in 0..3 {
            sys_page_alloc(a, VA + i * PGSIZE, puw).expect("sys_page_alloc");
            pages += 1;
        }
        let b = exofork();
        sys_page_alloc(0, OURS, puw).expect("sys_page_alloc");
        sys_page_map(0, OURS, b, VA, Pte::P | Pte::U).expect("sys_page_map");
        sys_page_alloc(b, VA + PGSIZE, puw).expect("sys_page_alloc");
        pages += 2;
        let _c = exofork();
    }
    println!("stranded: 3 children left behind with {} pages", pages);
}
