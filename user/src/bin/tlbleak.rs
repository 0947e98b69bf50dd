//! tlbleak (ours, no JOS counterpart): a page unmapped from an env running on another CPU
//! must not stay reachable through that CPU's TLB.
//!
//! The child runs on the other CPU, reading its page at `V` in a tight loop (so the CPU caches
//! the translation). The parent, on its CPU, drops its own mapping of that page, then unmaps
//! it from the child: the page is now free, and the parent's next `sys_page_alloc` gets it
//! back (the free list is LIFO) and writes a secret into it. If the child's CPU kept the old
//! translation, the child reads the parent's secret: another env's memory. JOS flushes only
//! the TLB of the CPU that made the change; the fixed kernel shoots the entry down on the
//! child's CPU first, so the child's next read of `V` faults, and its handler reports that.
//!
//! Needs CPUS >= 2. Prints `tlbleak: child faulted at the unmapped page: ok`, or
//! `tlbleak: LEAK ...`.
#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

use jos_lib::inc::env::{ENV_RUNNING, envx};
use jos_lib::inc::mmu::PGSIZE;
use jos_lib::inc::trap::UTrapframe;
use jos_lib::{
    Pte, envs, exit, fork, println, set_pgfault_handler, sys_env_destroy, sys_page_alloc,
    sys_page_unmap, sys_yield,
};

jos_lib::entry!(umain);

/// The page the child reads; the parent's new page lands next to it (same page table, so
/// allocating it takes no page-table page from the free list).
const V: u32 = 0x1000_0000;
const W: u32 = V + PGSIZE;
/// Shared between parent and child (PTE_SHARE survives fork): the handshake.
const S: u32 = 0x1000_8000;

const SECRET: u32 = 0x5EC7_E7ED;
const ORIGINAL: u32 = 0x0A11_0CA7;

/// Words of the shared page.
const RUNNING: usize = 0; // the child is in its read loop
const SAW_SECRET: usize = 1; // the child read SECRET at V
const FAULTED: usize = 2; // the child's read of V faulted
const READS: usize = 3; // reads done by the child

fn shared(word: usize) -> *mut u32 {
    (S as *mut u32).wrapping_add(word)
}

fn child_fault(utf: &mut UTrapframe) {
    let va = utf.utf_fault_va;
    if va & !(PGSIZE - 1) == V {
        // SAFETY: S is mapped shared, writable.
        unsafe { write_volatile(shared(FAULTED), 1) };
        exit();
    }
    panic!("tlbleak child: unexpected fault at {:08x}", va);
}

fn umain() {
    // SAFETY: V, W and S are unused by the program; nothing refers to them yet.
    unsafe {
        sys_page_alloc(0, V, Pte::P | Pte::U | Pte::W).expect("alloc V");
        sys_page_alloc(0, S, Pte::P | Pte::U | Pte::W | Pte::SHARE).expect("alloc S");
        write_volatile(V as *mut u32, ORIGINAL);
    }
    let child = match fork() {
        Ok(0) => {
            set_pgfault_handler(child_fault);
            // SAFETY: V is mapped (copy-on-write, read here only); S is shared.
            unsafe {
                write_volatile(shared(RUNNING), 1);
                loop {
                    let v = read_volatile(V as *const u32);
                    if v == SECRET {
                        write_volatile(shared(SAW_SECRET), 1);
                    }
                    write_volatile(shared(READS), read_volatile(shared(READS)).wrapping_add(1));
                }
            }
        }
        Ok(id) => id,
        Err(e) => panic!("fork: {}", e),
    };
    // Wait until the child runs its loop on the other CPU.
    let mut spins = 0u32;
    // SAFETY: S is shared with the child.
    while unsafe { read_volatile(shared(RUNNING)) } == 0
        || envs()[envx(child)].env_status() != ENV_RUNNING
    {
        spins += 1;
        if spins > 1_000_000 {
            panic!("tlbleak: the child never ran on another CPU (CPUS >= 2 needed)");
        }
        core::hint::spin_loop();
    }
    // SAFETY: our own V (the page is the child's copy-on-write page too) goes; nothing of ours
    // refers to it. Then the child's mapping goes: the page is free.
    unsafe {
        sys_page_unmap(0, V).expect("unmap own V");
        sys_page_unmap(child, V).expect("unmap child's V");
        sys_page_alloc(0, W, Pte::P | Pte::U | Pte::W).expect("alloc W");
        write_volatile(W as *mut u32, SECRET);
    }
    // Watch the child: after the unmap, every read it completes of V used a stale
    // translation (the shootdown makes its next read fault). One read may have been in flight
    // when its CPU flushed. Wait until it faults or has plainly read on; with a host thread
    // per vCPU it may take the host a while to run it again, so wait on what it does, not for
    // a fixed time.
    // SAFETY: S is shared with the child, which only writes it with volatile stores.
    let r0 = unsafe { read_volatile(shared(READS)) };
    let mut waited = 0u32;
    loop {
        // SAFETY: as for r0 above.
        let (faulted, saw, reads) = unsafe {
            (
                read_volatile(shared(FAULTED)),
                read_volatile(shared(SAW_SECRET)),
                read_volatile(shared(READS)),
            )
        };
        if faulted != 0 || saw != 0 || reads.wrapping_sub(r0) > 1000 || waited > 200_000 {
            break;
        }
        waited += 1;
        if waited.is_multiple_of(64) {
            sys_yield();
        }
        core::hint::spin_loop();
    }
    // SAFETY: as for r0 above.
    let (saw, faulted, reads) = unsafe {
        (
            read_volatile(shared(SAW_SECRET)),
            read_volatile(shared(FAULTED)),
            read_volatile(shared(READS)),
        )
    };
    let _ = sys_env_destroy(child);
    let stale_reads = reads.wrapping_sub(r0);
    if saw != 0 {
        println!("tlbleak: LEAK: the child read another env's page through a stale TLB entry");
    } else if stale_reads > 1 {
        println!(
            "tlbleak: LEAK: the child read its unmapped page {} times through a stale TLB entry",
            stale_reads
        );
    } else if faulted != 0 {
        println!("tlbleak: child faulted at the unmapped page: ok");
    } else {
        println!(
            "tlbleak: INCONCLUSIVE: the child did not run after the unmap ({} reads before)",
            reads
        );
    }
}
