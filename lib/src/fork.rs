//! Copy-on-write fork (JOS's lib/fork.c).
//!
//! The parent creates an empty child with `sys_exofork`, then maps every user page below
//! USTACKTOP into it: writable (or already copy-on-write) pages as PTE_COW in both, parent
//! last; read-only pages read-only; PTE_SHARE pages as they are. The child gets a fresh
//! exception stack and the parent's upcall, and only then becomes runnable. The first write
//! to a COW page faults into [`cow_pgfault`], which gives the writer its own copy (with
//! `sys_page_copy`, one call where JOS makes three).

use jos_inc::env::{ENV_RUNNABLE, EnvId};
use jos_inc::error::{Result, from_abi};
use jos_inc::memlayout::{USTACKTOP, UXSTACKTOP};
use jos_inc::mmu::{Fec, NPTENTRIES, PGSIZE, Pte, pgnum, round_down};
use jos_inc::trap::UTrapframe;

use crate::env::{set_thisenv, uvpd_table, uvpt, uvpt_table_of};
use crate::pgfault::{pgfault_upcall, set_pgfault_handler};
use crate::syscall::{
    sys_env_set_pgfault_upcall, sys_env_set_status, sys_exofork, sys_page_alloc, sys_page_copy,
    sys_page_map,
};

/// The page-fault handler fork installs: copy a copy-on-write page on the first write.
/// Anything else (a read of an unmapped page, a write to a read-only page) is a real fault.
fn cow_pgfault(utf: &mut UTrapframe) {
    // LAB 4: BEGIN pgfault
    // HINT: Only a write (Fec::WR) to a copy-on-write page (Pte::COW, via uvpt) is ours, else
    // HINT: panic; give the page a private writable copy (sys_page_copy, or PFTEMP and three calls
    // HINT: as JOS).
    let addr = utf.utf_fault_va;
    let err = Fec::from_bits_retain(utf.utf_err);
    let pte = Pte::from_bits_retain(uvpt(pgnum(addr)));
    if !err.contains(Fec::WR) || !pte.contains(Pte::P | Pte::COW) {
        let eip = utf.utf_eip;
        panic!(
            "fork: va {:08x} eip {:08x} err {:x}: not a write to a copy-on-write page",
            addr,
            eip,
            err.bits()
        );
    }
    let page = round_down(addr, PGSIZE);
    // Replace the page with a private writable copy of it. JOS allocates a zeroed page at
    // PFTEMP, copies into it, maps it over the faulting page and unmaps PFTEMP: three system
    // calls and a zeroing the copy overwrites. sys_page_copy makes the same decision in one.
    // SAFETY: the new page holds the same bytes as the old one, so nothing that referred to
    // the old page sees a difference; the faulting write has not happened yet.
    // CHALLENGE: BEGIN pgfault-page-copy
    // STUB: // JOS's three calls: a fresh page at PFTEMP, the copy, the remap.
    // STUB: // SAFETY: PFTEMP is the library's scratch page; the new page holds the old bytes
    // STUB: // before it replaces the old one, so nothing that referred to it sees a difference.
    // STUB: unsafe {
    // STUB:     use jos_inc::memlayout::PFTEMP;
    // STUB:     if let Err(e) = sys_page_alloc(0, PFTEMP, Pte::P | Pte::U | Pte::W) {
    // STUB:         panic!("fork: sys_page_alloc: {}", e);
    // STUB:     }
    // STUB:     core::ptr::copy_nonoverlapping(page as *const u8, PFTEMP as *mut u8, PGSIZE as usize);
    // STUB:     if let Err(e) = sys_page_map(0, PFTEMP, 0, page, Pte::P | Pte::U | Pte::W) {
    // STUB:         panic!("fork: sys_page_map: {}", e);
    // STUB:     }
    // STUB:     if let Err(e) = crate::syscall::sys_page_unmap(0, PFTEMP) {
    // STUB:         panic!("fork: sys_page_unmap: {}", e);
    // STUB:     }
    // STUB: }
    if let Err(e) = unsafe { sys_page_copy(0, page, page, Pte::P | Pte::U | Pte::W) } {
        panic!("fork: sys_page_copy: {}", e);
    }
    // CHALLENGE: END pgfault-page-copy
    // LAB 4: END pgfault
}

/// Map our page number `pn`, whose PTE is `pte`, into `envid` at the same address (JOS's
/// `duppage`).
#[inline(always)]
fn duppage(envid: EnvId, pn: usize, pte: Pte) -> Result<()> {
    // LAB 4: BEGIN duppage
    // HINT: Map page pn into the child at the same address: shared pages as they are, writable or
    // HINT: copy-on-write pages copy-on-write in both (the child first), read-only pages read-only.
    let va = (pn as u32) << 12;
    // SAFETY: (all branches) the child is not running; for ourselves, the only change is
    // losing the W bit on the same physical page, so our memory reads the same and the next
    // write faults into cow_pgfault, which copies it.
    unsafe {
        if pte.contains(Pte::SHARE) {
            sys_page_map(0, va, envid, va, pte & Pte::SYSCALL)
        } else if pte.intersects(Pte::W | Pte::COW) {
            // The child first: were we to remap ourselves first, a write by us (to this very
            // stack, say) between the two calls would give us a private copy and leave the
            // child mapping a page we then change.
            sys_page_map(0, va, envid, va, Pte::P | Pte::U | Pte::COW)?;
            // Ours is already read-only copy-on-write (an earlier fork's): it stays so, and
            // any write of ours faults and copies, so remapping it would change nothing.
            // JOS remaps it anyway: a system call per page for nothing.
            if pte.contains(Pte::W) || !pte.contains(Pte::COW) {
                sys_page_map(0, va, 0, va, Pte::P | Pte::U | Pte::COW)?;
            }
            Ok(())
        } else {
            sys_page_map(0, va, envid, va, Pte::P | Pte::U)
        }
    }
    // LAB 4: END duppage
}

/// The fork proper, returning the raw id (child id, 0 in the child, or -E_*) in EAX.
///
/// Not inlined, and kept to plain integers, so that the child's path after `sys_exofork`
/// touches nothing but registers and this frame's saved registers and return address: the
/// child resumes on a copy of the stack taken later, during duppage, and every other slot
/// of this frame may hold the parent's later values by then.
#[inline(never)]
fn fork_raw() -> i32 {
    // LAB 4: BEGIN fork
    // HINT: Install the handler, sys_exofork (the child fixes thisenv and returns 0), duppage every
    // HINT: present user page below USTACKTOP (uvpd/uvpt), then start_child (exception stack,
    // HINT: upcall, runnable).
    set_pgfault_handler(cow_pgfault);
    let envid = match sys_exofork() {
        Ok(0) => {
            // We are the child: `thisenv` still names the parent's slot.
            set_thisenv();
            return 0;
        }
        Ok(id) => id,
        Err(e) => return -e.code(),
    };

    // Walk the page directory, then each present page table (its PDE checked once, not
    // per entry), below USTACKTOP.
    let stack_top_pn = pgnum(USTACKTOP);
    let ndirs = pgnum(USTACKTOP - 1) / NPTENTRIES + 1;
    uvpd_table().for_each_present(ndirs, |pdx, pde| {
        let Some(table) = uvpt_table_of(pdx, pde) else {
            return;
        };
        let first = pdx * NPTENTRIES;
        table.for_each_present(NPTENTRIES.min(stack_top_pn - first), |i, pte| {
            let pte = Pte::from_bits_retain(pte);
            if pte.contains(Pte::U)
                && let Err(e) = duppage(envid, first + i, pte)
            {
                panic!("fork: duppage({:08x}): {}", (first + i) << 12, e);
            }
        });
    });

    start_child(envid, "fork")
    // LAB 4: END fork
}

/// Copy-on-write fork: `Ok(child id)` in the parent, `Ok(0)` in the child. Errors from
/// `sys_exofork` (out of environments or memory) are returned; failures after the child
/// exists panic, as in JOS.
pub fn fork() -> Result<EnvId> {
    from_abi(fork_raw())
}

/// Shared-memory fork (a JOS lab 4 challenge): `Ok(child id)` in the parent, `Ok(0)` in the
/// child. Every page below the user stack is shared, with the parent's permissions, so a write
/// by either is seen by both; the user stack page (USTACKTOP - PGSIZE: JOS's stack is one
/// page) is copy-on-write, so each keeps its own locals and its own `thisenv` (kept there, see
/// `crate::env::thisenv`); each has its own exception stack. A page the parent holds
/// copy-on-write (from an earlier fork) is made its own first: shared as it was, the first
/// write by either side would give the writer a private copy and end the sharing.
pub fn sfork() -> Result<EnvId> {
    from_abi(sfork_raw())
}

/// sfork proper, kept to plain integers for the same reason as [`fork_raw`].
#[inline(never)]
fn sfork_raw() -> i32 {
    // CHALLENGE: BEGIN sfork
    // HINT: As fork, but share every page below the user stack (sys_page_map with the same
    // HINT: permissions; a copy-on-write page made private first), the stack page copy-on-write.
    set_pgfault_handler(cow_pgfault);
    let envid = match sys_exofork() {
        Ok(0) => {
            // We are the child: our stack (and so `thisenv`) is our parent's copy until now.
            set_thisenv();
            return 0;
        }
        Ok(id) => id,
        Err(e) => return -e.code(),
    };
    let stack_pn = pgnum(USTACKTOP - PGSIZE);
    let ndirs = pgnum(USTACKTOP - 1) / NPTENTRIES + 1;
    uvpd_table().for_each_present(ndirs, |pdx, pde| {
        let Some(table) = uvpt_table_of(pdx, pde) else {
            return;
        };
        let first = pdx * NPTENTRIES;
        table.for_each_present(NPTENTRIES.min(stack_pn + 1 - first), |i, pte| {
            let pn = first + i;
            let pte = Pte::from_bits_retain(pte);
            if !pte.contains(Pte::U) {
                return;
            }
            let r = if pn == stack_pn {
                duppage(envid, pn, pte)
            } else {
                sharepage(envid, pn, pte)
            };
            if let Err(e) = r {
                panic!("sfork: page {:08x}: {}", pn << 12, e);
            }
        });
    });
    start_child(envid, "sfork")
    // CHALLENGE: END sfork
}

// LAB 4: BEGIN start_child
// HINT: fork's last steps are yours too: the child's exception stack, its upcall, RUNNABLE.
// STUB: // (fork's last steps: yours to write, in fork or in a helper of your own)
/// The last steps of fork and sfork: the child's own exception stack (never shared: the
/// upcall writes on it), its upcall, and RUNNABLE. Failures are fatal, as in JOS (`who` names
/// the caller in the message).
fn start_child(envid: EnvId, who: &str) -> i32 {
    // SAFETY: these change only the child, which is not running yet.
    unsafe {
        if let Err(e) = sys_page_alloc(envid, UXSTACKTOP - PGSIZE, Pte::P | Pte::U | Pte::W) {
            panic!("{}: allocating the child's exception stack: {}", who, e);
        }
        if let Err(e) = sys_env_set_pgfault_upcall(envid, pgfault_upcall()) {
            panic!("{}: setting the child's upcall: {}", who, e);
        }
    }
    if let Err(e) = sys_env_set_status(envid, ENV_RUNNABLE) {
        panic!("{}: sys_env_set_status: {}", who, e);
    }
    envid
}
// LAB 4: END start_child

// CHALLENGE: BEGIN sfork-sharepage
// STUB: // (sfork's helpers: the challenge's)
/// Share our page number `pn` (PTE `pte`) with `envid`: the same physical page, with our
/// permissions. A copy-on-write page is made ours first (a private writable copy), so the
/// sharing holds after either side writes.
fn sharepage(envid: EnvId, pn: usize, mut pte: Pte) -> Result<()> {
    let va = (pn as u32) << 12;
    // SAFETY: replacing our copy-on-write page with a private copy of it changes no byte we
    // can see; the child is not running yet.
    unsafe {
        if pte.contains(Pte::COW) && !pte.contains(Pte::SHARE) {
            sys_page_copy(0, va, va, Pte::P | Pte::U | Pte::W)?;
            pte = (pte - Pte::COW) | Pte::W;
        }
        sys_page_map(0, va, envid, va, pte & Pte::SYSCALL)
    }
}
// CHALLENGE: END sfork-sharepage
