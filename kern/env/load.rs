//! Address spaces and program loading (JOS's `env_setup_vm`, `region_alloc`, `load_icode`,
//! `env_create`): a new env's page directory and its embedded ELF program.

use jos_inc::error::{Error, Result};
use jos_inc::memlayout::*;
use jos_inc::mmu::*;
use kern_logic::elf::Elf;
use kern_logic::envid::{EnvId, EnvIdx};
use kern_logic::lifecycle::Event;

use crate::cprintf;
use crate::pmap::{self, Entry, PgdirMut, UserPage};
use crate::spinlock::Kernel;

use super::*;

/// Initialize the kernel virtual memory layout for a new env: a page directory sharing the
/// kernel's part of kern_pgdir, with its own UVPT entry.
pub(super) fn env_setup_vm() -> Result<u32> {
    // LAB 3: BEGIN env_setup_vm
    // HINT: A zeroed page for the page directory (count it): kern_pgdir's entries from UTOP up, and
    // HINT: UVPT mapping the directory itself read-only for the user. Return its kernel address.
    let pp = pmap::page_alloc(true).ok_or(Error::NoMem)?;
    pmap::page_incref(pp)?;
    // SAFETY: a fresh, zeroed page we own, used from now on as this env's page directory:
    // this is its one write handle until env_alloc gives it to the env table.
    let mut pgdir = unsafe { PgdirMut::from_pa(pmap::page2pa(pp)) };
    let kern = pmap::kern_pgdir();
    // The VA space of all envs is identical above UTOP (except at UVPT, which we set
    // below).
    for i in pdx(UTOP)..NPDENTRIES {
        pgdir.set(i, kern.get(i));
    }
    // UVPT maps the env's own page table read-only.
    pgdir.set(pdx(UVPT), Entry::new(pgdir.pa(), Pte::P | Pte::U));
    // (env_pgdir, JOS's Env field, is a kernel address as a plain u32.)
    Ok(pmap::page2kva(pp).get())
    // LAB 3: END env_setup_vm
}

/// Allocate `len` bytes of physical memory for env `pgdir` and map it at `va` (user
/// writable). Pages already mapped are kept.
fn region_alloc(pgdir: &mut PgdirMut, va: u32, len: u32) -> Result<()> {
    // LAB 3: BEGIN region_alloc
    // HINT: Map a fresh zeroed, user-writable page at every page of [va, va+len) not mapped yet.
    let start = round_down(va, PGSIZE);
    let end = round_up(va.checked_add(len).ok_or(Error::Inval)?, PGSIZE);
    let mut a = start;
    while a < end {
        if pmap::page_lookup(pgdir.view(), a).is_none() {
            // (The ELF was validated: its segments lie below UTOP.)
            let page = UserPage::new(a).ok_or(Error::Inval)?;
            let pp = pmap::page_alloc(true).ok_or(Error::NoMem)?;
            if let Err(e) = pmap::page_insert(pgdir, pp, page, Pte::U | Pte::W) {
                pmap::page_free(pp);
                return Err(e);
            }
        }
        a += PGSIZE;
    }
    Ok(())
    // LAB 3: END region_alloc
}

/// Set up the initial program binary, stack, and processor flags for a user process: load
/// each ELF segment at its address (the ELF was validated: segments lie in the file and
/// below UTOP), map one stack page, start at the entry point.
fn load_icode(t: &mut EnvTable, i: EnvIdx, binary: &[u8]) -> Result<()> {
    // LAB 3: BEGIN load_icode
    // HINT: Parse the ELF (jos_inc::elf::Elf), region_alloc and copy_to_user each loadable segment,
    // HINT: map one stack page below USTACKTOP, and start the env at the entry point.
    let elf = Elf::parse(binary, UTOP).map_err(|_| Error::Inval)?;
    let pgdir = &mut t.pgdir_mut(i);
    for (ph, data) in elf.load_segments() {
        region_alloc(pgdir, ph.p_va, ph.p_memsz)?;
        // The pages are fresh (zeroed), so the bss part needs no clearing.
        pmap::copy_to_user(pgdir.view(), ph.p_va, data)?;
    }
    // Now map one page for the program's initial stack at virtual address
    // USTACKTOP - PGSIZE.
    region_alloc(pgdir, USTACKTOP - PGSIZE, PGSIZE)?;
    t.env(i).env_tf.tf_eip = elf.entry;
    Ok(())
    // LAB 3: END load_icode
}

/// Allocate a new env with env_alloc, load the named ELF binary into it, and mark it
/// runnable. A bad binary is reported and the env freed: never a panic.
pub fn env_create(k: &mut Kernel, name: &str, binary: &[u8]) -> Result<EnvId> {
    // LAB 3: BEGIN env_create
    // HINT: env_alloc, then load_icode; a binary that does not load is reported and the env freed.
    let cpu = k.cpu();
    let t = table(k);
    let i = env_alloc(t, cpu, false)?;
    match load_icode(t, i, binary) {
        Ok(()) => Ok(t.id(i)),
        Err(err) => {
            cprintf!("env_create: cannot load {}: {}\n", name, err);
            t.must(i, Event::Destroy { by: cpu });
            env_free(t, cpu, i);
            Err(err)
        }
    }
    // LAB 3: END env_create
}
