//! Copy-on-write fork (JOS's lib/fork.c), and sfork.
//!
//! The parent creates an empty child with `sys_exofork`, then maps every user page below
//! USTACKTOP into it (`duppage`): writable (or already copy-on-write) pages as PTE_COW in
//! both, parent last; read-only pages read-only; PTE_SHARE pages as they are. The child gets
//! a fresh exception stack and the parent's upcall, and only then becomes runnable. The first
//! write to a COW page faults into [`cow_pgfault`], which gives the writer its own copy: a
//! new page at PFTEMP, the copy, the remap (lab 4's exercise, three system calls as in JOS).
//!
//! The reference tree's fork makes fewer traps (the lab book's challenges: one call for the
//! copy, one for a whole range of duppage's mappings, a batch for the last steps, the stack
//! page copied rather than faulted on); that code is challenge code, and the exercise is the
//! fork described above.

use jos_inc::env::{ENV_RUNNABLE, EnvId};
use jos_inc::error::{Result, from_abi};
use jos_inc::memlayout::{USTACKTOP, UXSTACKTOP};
use jos_inc::mmu::{Fec, NPTENTRIES, PGSIZE, Pte, pgnum, round_down};
use jos_inc::trap::UTrapframe;

use crate::env::{set_thisenv, uvpd_table, uvpt, uvpt_table_of};
use crate::pgfault::{pgfault_upcall, set_pgfault_handler};
use crate::syscall::{
    batch_call, sys_batch, sys_exofork, sys_page_copy, sys_page_dup, sys_page_map,
};
use jos_inc::syscall::{
    BatchCall, SYS_ENV_SET_PGFAULT_UPCALL, SYS_ENV_SET_STATUS, SYS_PAGE_ALLOC, SYS_PAGE_COPY,
    SYS_PAGE_MAP, SYS_PAGE_MAP_COPY,
};

/// The page-fault handler fork installs: copy a copy-on-write page on the first write.
/// Anything else (a read of an unmapped page, a write to a read-only page) is a real fault.
fn cow_pgfault(utf: &mut UTrapframe) {
    // LAB 4: BEGIN pgfault
    // HINT: Only a write (Fec::WR) to a copy-on-write page (Pte::COW, via uvpt) is ours, else
    // HINT: panic; give the page a private writable copy (a new page at PFTEMP, the copy, the
    // HINT: remap).
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
    // STUB:     if let Err(e) = crate::syscall::sys_page_alloc(0, PFTEMP, Pte::P | Pte::U | Pte::W) {
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
/// `duppage`): lab 4's fork calls it for every present page. (The reference's fork has the
/// kernel make these mappings for a whole range: a challenge.)
#[allow(
    dead_code,
    reason = "the lab 4 exercise; the reference's fork uses a challenge's call"
)]
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

/// Which fork.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Copy-on-write fork: every page copy-on-write (or shared if PTE_SHARE, read-only if
    /// read-only).
    Fork,
    // CHALLENGE: BEGIN sfork-mode
    // STUB: // (sfork's)
    /// sfork: every page below the user stack shared with our permissions.
    Sfork,
    // CHALLENGE: END sfork-mode
}

// CHALLENGE: BEGIN fork-batch
// STUB: // (fork's calls collected in one batch)
/// Calls collected for one `sys_batch` (fork's last steps; sfork's mappings), made when full
/// and at the end. Small: it lives on the user stack, which is one page.
struct Batch {
    calls: [BatchCall; Batch::MAX],
    len: usize,
    who: &'static str,
}

impl Batch {
    const MAX: usize = 8;

    fn new(who: &'static str) -> Batch {
        Batch {
            calls: [BatchCall::default(); Batch::MAX],
            len: 0,
            who,
        }
    }

    fn push(&mut self, num: u32, args: [u32; 5]) {
        if self.len == Batch::MAX {
            self.run();
        }
        self.calls[self.len] = batch_call(num, args);
        self.len += 1;
    }

    /// Make the calls collected. Failures are fatal, as every failure after sys_exofork is
    /// in JOS's fork.
    fn run(&mut self) {
        let calls = &self.calls[..self.len];
        // SAFETY: the calls are fork's and sfork's own: the child's mappings and state (it is
        // not running yet), and for ourselves page copies that keep each page's contents.
        if let Err(e) = unsafe { sys_batch(calls) } {
            let c = calls[e.index];
            match e.error {
                Some(err) => panic!(
                    "{}: system call {} ({:08x}, {:08x}, {:08x}, ...): {}",
                    self.who, c.num, c.args[0], c.args[1], c.args[2], err
                ),
                None => panic!("{}: batch stopped before call {}", self.who, e.index),
            }
        }
        self.len = 0;
    }
}
// CHALLENGE: END fork-batch

/// fork and sfork, returning the raw id (child id, 0 in the child, or -E_*) in EAX.
///
/// Not inlined, and kept to plain integers, so that the child's path after `sys_exofork`
/// touches nothing but registers and this frame's saved registers and return address: the
/// child resumes on a copy of the stack taken later (copy-on-write, or copied for it), and
/// every other slot of this frame may hold the parent's later values by
/// then.
#[inline(never)]
fn fork_raw(mode: Mode) -> i32 {
    // LAB 4: BEGIN fork
    // HINT: Install the handler, sys_exofork (the child fixes thisenv and returns 0), duppage every
    // HINT: present user page below USTACKTOP (walking uvpd/uvpt), then give the child an
    // HINT: exception stack, the upcall, and RUNNABLE.
    set_pgfault_handler(cow_pgfault);
    let envid = match sys_exofork() {
        Ok(0) => {
            // We are the child: `thisenv` (the top word of our stack) still names the
            // parent's slot.
            set_thisenv();
            return 0;
        }
        Ok(id) => id,
        Err(e) => return -e.code(),
    };
    // CHALLENGE: BEGIN fork-fewer-traps
    // STUB: // JOS's way: duppage every present user page below USTACKTOP (the walk of uvpd and
    // STUB: // uvpt), then the child's exception stack, our upcall, and RUNNABLE, a call each.
    // STUB: let _ = mode;
    // STUB: let ndirs = pgnum(USTACKTOP - 1) / NPTENTRIES + 1;
    // STUB: uvpd_table().for_each_present(ndirs, |pdx, pde| {
    // STUB:     let Some(table) = uvpt_table_of(pdx, pde) else {
    // STUB:         return;
    // STUB:     };
    // STUB:     let first = pdx * NPTENTRIES;
    // STUB:     table.for_each_present(NPTENTRIES.min(pgnum(USTACKTOP) - first), |i, pte| {
    // STUB:         let pte = Pte::from_bits_retain(pte);
    // STUB:         if pte.contains(Pte::U)
    // STUB:             && let Err(e) = duppage(envid, first + i, pte)
    // STUB:         {
    // STUB:             panic!("fork: duppage: {}", e);
    // STUB:         }
    // STUB:     });
    // STUB: });
    // STUB: // SAFETY: the child's own exception stack and upcall; it is not running yet.
    // STUB: let r = unsafe {
    // STUB:     crate::syscall::sys_page_alloc(envid, UXSTACKTOP - PGSIZE, Pte::P | Pte::U | Pte::W)
    // STUB:         .and_then(|()| crate::syscall::sys_env_set_pgfault_upcall(envid, pgfault_upcall()))
    // STUB: };
    // STUB: if let Err(e) = r.and_then(|()| crate::syscall::sys_env_set_status(envid, ENV_RUNNABLE)) {
    // STUB:     panic!("fork: {}", e);
    // STUB: }
    let who = match mode {
        Mode::Fork => "fork",
        Mode::Sfork => "sfork",
    };
    let mut batch = Batch::new(who);
    // The stack page we are running on is copied into the child (below) rather than made
    // copy-on-write: both envs write it at once, and one copy costs less than a fault in
    // each. (sfork: JOS's one-page stack, the page it keeps private.)
    let stack = match mode {
        Mode::Fork => round_down(stack_pointer(), PGSIZE),
        Mode::Sfork => USTACKTOP - PGSIZE,
    };
    let stack_pte = Pte::from_bits_retain(uvpt(pgnum(stack)));
    let copy_stack =
        stack < USTACKTOP && stack_pte.contains(Pte::P | Pte::U) && !stack_pte.contains(Pte::SHARE);
    match mode {
        Mode::Fork => {
            // Every present user page below USTACKTOP but the stack page: the kernel walks
            // our page tables and makes duppage's mappings (sys_page_dup).
            // SAFETY: our writable pages become copy-on-write, and cow_pgfault is installed.
            let r = unsafe {
                if copy_stack {
                    sys_page_dup(envid, 0, stack).and_then(|()| {
                        // (Nothing above it, in JOS's one-page stack.)
                        if stack + PGSIZE < USTACKTOP {
                            sys_page_dup(envid, stack + PGSIZE, USTACKTOP)
                        } else {
                            Ok(())
                        }
                    })
                } else {
                    sys_page_dup(envid, 0, USTACKTOP)
                }
            };
            if let Err(e) = r {
                panic!("fork: sys_page_dup: {}", e);
            }
        }
        Mode::Sfork => share_below(envid, pgnum(stack), &mut batch),
    }
    // The child's copy of our stack page, its own exception stack (never shared: the upcall
    // writes on it), our upcall, and RUNNABLE: one batch.
    let puw = (Pte::P | Pte::U | Pte::W).bits();
    if copy_stack {
        batch.push(SYS_PAGE_MAP_COPY, [0, stack, envid as u32, stack, puw]);
    }
    batch.push(
        SYS_PAGE_ALLOC,
        [envid as u32, UXSTACKTOP - PGSIZE, puw, 0, 0],
    );
    batch.push(
        SYS_ENV_SET_PGFAULT_UPCALL,
        [envid as u32, pgfault_upcall(), 0, 0, 0],
    );
    batch.push(SYS_ENV_SET_STATUS, [envid as u32, ENV_RUNNABLE, 0, 0, 0]);
    batch.run();
    // CHALLENGE: END fork-fewer-traps
    envid
    // LAB 4: END fork
}

/// The stack pointer (an address in the stack page we run on).
#[inline(always)]
fn stack_pointer() -> u32 {
    let esp: u32;
    // SAFETY: reads ESP.
    unsafe {
        core::arch::asm!("movl %esp, {}", out(reg) esp, options(att_syntax, nomem, nostack, preserves_flags))
    };
    esp
}

/// Copy-on-write fork: `Ok(child id)` in the parent, `Ok(0)` in the child. Errors from
/// `sys_exofork` (out of environments or memory) are returned; failures after the child
/// exists panic, as in JOS.
pub fn fork() -> Result<EnvId> {
    from_abi(fork_raw(Mode::Fork))
}

/// Shared-memory fork (a JOS lab 4 challenge): `Ok(child id)` in the parent, `Ok(0)` in the
/// child. Every page below the user stack is shared, with the parent's permissions, so a write
/// by either is seen by both; the user stack page (USTACKTOP - PGSIZE: JOS's stack is one
/// page) is the child's own copy, so each keeps its own locals and its own `thisenv` (kept
/// there, see `crate::env::thisenv`); each has its own exception stack. A page the parent holds
/// copy-on-write (from an earlier fork) is made its own first: shared as it was, the first
/// write by either side would give the writer a private copy and end the sharing.
pub fn sfork() -> Result<EnvId> {
    // CHALLENGE: BEGIN sfork
    // HINT: As fork, but share every page below the user stack (sys_page_map with the same
    // HINT: permissions; a copy-on-write page made private first), the stack page the child's own.
    from_abi(fork_raw(Mode::Sfork))
    // CHALLENGE: END sfork
}

// CHALLENGE: BEGIN sfork-sharepage
// STUB: // (sfork's helpers: the challenge's)
/// sfork's sharing: every present user page below page number `stack_pn` mapped into `envid`
/// with our permissions (a copy-on-write one made ours first, see [`sfork`]), in batches.
fn share_below(envid: EnvId, stack_pn: usize, batch: &mut Batch) {
    let ndirs = pgnum(USTACKTOP - 1) / NPTENTRIES + 1;
    uvpd_table().for_each_present(ndirs, |pdx, pde| {
        let Some(table) = uvpt_table_of(pdx, pde) else {
            return;
        };
        let first = pdx * NPTENTRIES;
        if first >= stack_pn {
            return;
        }
        table.for_each_present(NPTENTRIES.min(stack_pn - first), |i, pte| {
            let mut pte = Pte::from_bits_retain(pte);
            if !pte.contains(Pte::U) {
                return;
            }
            let va = ((first + i) as u32) << 12;
            if pte.contains(Pte::COW) && !pte.contains(Pte::SHARE) {
                // Replacing our copy-on-write page with a private copy of it changes no byte
                // we can see.
                let puw = (Pte::P | Pte::U | Pte::W).bits();
                batch.push(SYS_PAGE_COPY, [0, va, va, puw, 0]);
                pte = (pte - Pte::COW) | Pte::W;
            }
            let perm = (pte & Pte::SYSCALL).bits();
            batch.push(SYS_PAGE_MAP, [0, va, envid as u32, va, perm]);
        });
    });
}
// CHALLENGE: END sfork-sharepage
