//! User environments (JOS's kern/env.c): the envs[] table (mapped read-only for users at
//! UENVS), env ids, per-env address spaces, loading embedded ELF programs, and creating,
//! freeing, destroying and running envs. Also the global descriptor table.

use core::cell::UnsafeCell;

use jos_inc::elf::Elf;
use jos_inc::env::*;
use jos_inc::error::{Error, Result};
use jos_inc::memlayout::*;
use jos_inc::mmu::*;
use jos_inc::trap::Trapframe;
use spin::Mutex;
use x86::Ring;
use x86::dtables::{DescriptorTablePointer, lgdt};
use x86::segmentation::{
    BuildDescriptor, CodeSegmentType, DataSegmentType, Descriptor, DescriptorBuilder,
    SegmentDescriptorBuilder, SegmentSelector,
};

use crate::cpu::{self, NCPU};
use crate::pmap::{self, PageTable};
use crate::{cprintf, sched};

// ---- the global descriptor table --------------------------------------------------------

/// Number of GDT entries: null, kernel code/data, user code/data, one TSS per CPU.
const NGDT: usize = NCPU + 5;

/// The GDT. The CPU writes to it too (the TSS busy bit on `ltr`), so it lives in writable
/// memory behind an UnsafeCell; each CPU only ever writes its own TSS slot.
struct Gdt(UnsafeCell<[Descriptor; NGDT]>);

// SAFETY: entries 0-4 are written once by the BSP before any AP starts; entry 5+i only by
// CPU i in trap_init_percpu.
unsafe impl Sync for Gdt {}

static GDT: Gdt = Gdt(UnsafeCell::new([Descriptor::NULL; NGDT]));

fn seg(code: bool, dpl: Ring) -> Descriptor {
    let b = if code {
        DescriptorBuilder::code_descriptor(0, 0xFFFFF, CodeSegmentType::ExecuteRead)
    } else {
        DescriptorBuilder::data_descriptor(0, 0xFFFFF, DataSegmentType::ReadWrite)
    };
    b.present().dpl(dpl).db().limit_granularity_4kb().finish()
}

/// Set GDT entry `index` (used for the per-CPU TSS descriptors).
pub fn gdt_set(index: usize, d: Descriptor) {
    // SAFETY: see `Gdt`: each CPU writes only its own TSS slot, before loading TR.
    unsafe { (*GDT.0.get())[index] = d }
}

fn gdt_init() {
    gdt_set(0, Descriptor::NULL);
    gdt_set((GD_KT >> 3) as usize, seg(true, Ring::Ring0));
    gdt_set((GD_KD >> 3) as usize, seg(false, Ring::Ring0));
    gdt_set((GD_UT >> 3) as usize, seg(true, Ring::Ring3));
    gdt_set((GD_UD >> 3) as usize, seg(false, Ring::Ring3));
}

/// Load the GDT and segment descriptors.
pub fn env_init_percpu() {
    // SAFETY: GDT is a static table; the selectors below index valid flat segments, so the
    // code and data the kernel uses stay addressable.
    unsafe {
        let table: &[Descriptor; NGDT] = &*GDT.0.get();
        lgdt(&DescriptorTablePointer::new_from_slice(table));
        // The kernel never uses GS or FS, so we leave those set to the user data segment.
        let ud = SegmentSelector::from_raw(GD_UD | 3);
        let kd = SegmentSelector::from_raw(GD_KD);
        x86::segmentation::load_gs(ud);
        x86::segmentation::load_fs(ud);
        // The kernel does use ES, DS, and SS. We'll change between the kernel and user data
        // segments as needed.
        x86::segmentation::load_es(kd);
        x86::segmentation::load_ds(kd);
        x86::segmentation::load_ss(kd);
        // Load the kernel text segment into CS.
        x86::bits32::segmentation::load_cs(SegmentSelector::from_raw(GD_KT));
        // For good measure, clear the local descriptor table (LDT), since we don't use it.
        x86::dtables::load_ldtr(SegmentSelector::from_raw(0));
    }
}

// ---- the envs table ---------------------------------------------------------------------

/// The envs[] array and its free list. The array is the memory user space reads at UENVS.
pub struct EnvTable {
    envs: *mut Env,
    /// First free slot; the list is threaded through `env_link` (kernel addresses, as JOS).
    free: Option<usize>,
}

// SAFETY: `envs` points at the boot-allocated array, owned by this table; access is
// serialized by the ENVS mutex.
unsafe impl Send for EnvTable {}

impl EnvTable {
    pub fn all(&mut self) -> &mut [Env] {
        if self.envs.is_null() {
            return &mut [];
        }
        // SAFETY: NENV records allocated by mem_init, never freed; the mutex gives exclusive
        // access on the kernel side (user space only reads them, through UENVS).
        unsafe { core::slice::from_raw_parts_mut(self.envs, NENV) }
    }
    pub fn get(&mut self, i: usize) -> &mut Env {
        &mut self.all()[i]
    }
    fn kva(&self, i: usize) -> u32 {
        self.envs as u32 + (i * core::mem::size_of::<Env>()) as u32
    }
    fn index_of(&self, link: u32) -> Option<usize> {
        if link == 0 {
            None
        } else {
            Some((link - self.envs as u32) as usize / core::mem::size_of::<Env>())
        }
    }
    /// Push slot `i` on the head of the free list, marking it free: the most recently freed
    /// slot is reused first (JOS's order; the grader's forktree test depends on it).
    fn push_free(&mut self, i: usize) {
        let link = self.free.map_or(0, |f| self.kva(f));
        let e = self.get(i);
        e.env_status = ENV_FREE;
        e.env_link = link;
        self.free = Some(i);
    }
    pub fn nfree(&mut self) -> usize {
        self.all()
            .iter()
            .filter(|e| e.env_status == ENV_FREE)
            .count()
    }
}

static ENVS: Mutex<EnvTable> = Mutex::new(EnvTable {
    envs: core::ptr::null_mut(),
    free: None,
});

/// Run `f` with the envs table locked.
pub fn with_envs<R>(f: impl FnOnce(&mut EnvTable) -> R) -> R {
    f(&mut ENVS.lock())
}

/// Run `f` on env slot `i`.
pub fn with_env<R>(i: usize, f: impl FnOnce(&mut Env) -> R) -> R {
    f(ENVS.lock().get(i))
}

/// The current env's id, or 0 (for messages).
pub fn curenv_id() -> EnvId {
    match cpu::curenv() {
        Some(i) => with_env(i, |e| e.env_id),
        None => 0,
    }
}

/// The current env's page directory.
pub fn env_pgdir(i: usize) -> PageTable {
    PageTable::from_pa(pmap::paddr(with_env(i, |e| e.env_pgdir)))
}

/// Mark all environments in 'envs' as free, set their env_ids to 0, and insert them into the
/// free list, in order: the first call to env_alloc() returns envs[0].
pub fn env_init() {
    let mut t = ENVS.lock();
    t.envs = pmap::envs_kva() as *mut Env;
    for i in (0..NENV).rev() {
        t.get(i).env_id = 0;
        t.push_free(i);
    }
    drop(t);
    gdt_init();
    // Per-CPU part of the initialization.
    env_init_percpu();
}

/// Converts an envid to an env slot. `checkperm`: the env must be the current env or an
/// immediate child of it.
pub fn envid2env(envid: EnvId, checkperm: bool) -> Result<usize> {
    let cur = cpu::curenv();
    // If envid is zero, return the current environment.
    if envid == 0 {
        return cur.ok_or(Error::BadEnv);
    }
    let i = envx(envid);
    let (status, id, parent) = with_env(i, |e| (e.env_status, e.env_id, e.env_parent_id));
    if status == ENV_FREE || id != envid {
        return Err(Error::BadEnv);
    }
    if checkperm && Some(i) != cur {
        let cur_id = curenv_id();
        if parent != cur_id {
            return Err(Error::BadEnv);
        }
    }
    Ok(i)
}

/// Initialize the kernel virtual memory layout for a new env: a page directory sharing the
/// kernel's part of kern_pgdir, with its own UVPT entry.
fn env_setup_vm() -> Result<u32> {
    let pp = pmap::page_alloc(true).ok_or(Error::NoMem)?;
    pmap::page_incref(pp);
    let pgdir = PageTable::from_pa(pmap::page2pa(pp));
    let kern = pmap::kern_pgdir();
    // The VA space of all envs is identical above UTOP (except at UVPT, which we set
    // below).
    for i in pdx(UTOP)..NPDENTRIES {
        pgdir.set(i, kern.get(i));
    }
    // UVPT maps the env's own page table read-only.
    pgdir.set(pdx(UVPT), pgdir.pa() | (Pte::P | Pte::U).bits());
    Ok(pmap::page2kva(pp))
}

/// Allocate and initialize a new environment, child of `parent_id`.
pub fn env_alloc(parent_id: EnvId) -> Result<usize> {
    let mut t = ENVS.lock();
    let i = t.free.ok_or(Error::NoFreeEnv)?;
    // Allocate and set up the page directory for this environment.
    let pgdir = env_setup_vm()?;
    let link = t.get(i).env_link;
    let next = t.index_of(link);
    t.free = next;
    let e = t.get(i);
    e.env_pgdir = pgdir;
    e.env_id = next_envid(e.env_id, i);
    e.env_parent_id = parent_id;
    e.env_type = ENV_TYPE_USER;
    e.env_status = ENV_RUNNABLE;
    e.env_runs = 0;
    e.env_link = 0;

    // Set up appropriate initial values for the segment registers: the user data and code
    // segments with RPL 3.
    e.env_tf = Trapframe::default();
    e.env_tf.tf_ds = GD_UD | 3;
    e.env_tf.tf_es = GD_UD | 3;
    e.env_tf.tf_ss = GD_UD | 3;
    e.env_tf.tf_esp = USTACKTOP;
    e.env_tf.tf_cs = GD_UT | 3;
    // Enable interrupts while in user mode.
    e.env_tf.tf_eflags = FL_IF;

    // Clear the page fault handler until user installs one.
    e.env_pgfault_upcall = 0;
    // Also clear the IPC receiving flag.
    e.env_ipc_recving = false;
    e.env_ipc_dstva = 0;
    e.env_ipc_value = 0;
    e.env_ipc_from = 0;
    e.env_ipc_perm = 0;
    let id = e.env_id;
    drop(t);

    cprintf!("[{:08x}] new env {:08x}\n", curenv_id(), id);
    Ok(i)
}

/// Allocate `len` bytes of physical memory for env `pgdir` and map it at `va` (user
/// writable). Pages already mapped are kept.
fn region_alloc(pgdir: PageTable, va: u32, len: u32) -> Result<()> {
    let start = round_down(va, PGSIZE);
    let end = round_up(va.checked_add(len).ok_or(Error::Inval)?, PGSIZE);
    let mut a = start;
    while a < end {
        if pmap::page_lookup(pgdir, a).is_none() {
            let pp = pmap::page_alloc(true).ok_or(Error::NoMem)?;
            pmap::page_insert(pgdir, pp, a, Pte::U | Pte::W)?;
        }
        a += PGSIZE;
    }
    Ok(())
}

/// Copy `src` to user address `va` of the address space `pgdir`, through the kernel's
/// mapping of each destination page (the pages must be mapped).
pub fn copy_to_user(pgdir: PageTable, va: u32, src: &[u8]) -> Result<()> {
    let mut done = 0usize;
    while done < src.len() {
        let a = va + done as u32;
        let (pp, _) = pmap::page_lookup(pgdir, round_down(a, PGSIZE)).ok_or(Error::Fault)?;
        let off = pgoff(a) as usize;
        let n = (PGSIZE as usize - off).min(src.len() - done);
        // SAFETY: the destination is `n` bytes inside one physical page mapped at KERNBASE,
        // owned by this env's address space.
        unsafe {
            core::ptr::copy_nonoverlapping(
                src[done..].as_ptr(),
                (pmap::page2kva(pp) as usize + off) as *mut u8,
                n,
            );
        }
        done += n;
    }
    Ok(())
}

/// Call `f` with consecutive chunks of user memory [va, va+len) of `pgdir`, read through the
/// kernel mapping (each chunk within one page). Fails if a page is unmapped.
pub fn read_user(pgdir: PageTable, va: u32, len: u32, mut f: impl FnMut(&[u8])) -> Result<()> {
    let mut done = 0u32;
    while done < len {
        let a = va.wrapping_add(done);
        let (pp, _) = pmap::page_lookup(pgdir, round_down(a, PGSIZE)).ok_or(Error::Fault)?;
        let off = pgoff(a);
        let n = (PGSIZE - off).min(len - done);
        // SAFETY: `n` bytes inside one mapped physical page, read through KERNBASE.
        let chunk = unsafe {
            core::slice::from_raw_parts((pmap::page2kva(pp) + off) as *const u8, n as usize)
        };
        f(chunk);
        done += n;
    }
    Ok(())
}

/// Set up the initial program binary, stack, and processor flags for a user process: load
/// each ELF segment at its address (the ELF was validated: segments lie in the file and
/// below UTOP), map one stack page, start at the entry point.
fn load_icode(i: usize, binary: &[u8]) -> Result<()> {
    let elf = Elf::parse(binary, UTOP).map_err(|_| Error::Inval)?;
    let pgdir = env_pgdir(i);
    for (ph, data) in elf.load_segments() {
        region_alloc(pgdir, ph.p_va, ph.p_memsz)?;
        // The pages are fresh (zeroed), so the bss part needs no clearing.
        copy_to_user(pgdir, ph.p_va, data)?;
    }
    // Now map one page for the program's initial stack at virtual address
    // USTACKTOP - PGSIZE.
    region_alloc(pgdir, USTACKTOP - PGSIZE, PGSIZE)?;
    with_env(i, |e| e.env_tf.tf_eip = elf.entry);
    Ok(())
}

/// Allocate a new env with env_alloc, load the named ELF binary into it, and mark it
/// runnable. A bad binary is reported and the env freed: never a panic.
pub fn env_create(name: &str, binary: &[u8]) -> Result<EnvId> {
    let i = env_alloc(0)?;
    match load_icode(i, binary) {
        Ok(()) => Ok(with_env(i, |e| e.env_id)),
        Err(err) => {
            cprintf!("env_create: cannot load {}: {}\n", name, err);
            env_free(i);
            Err(err)
        }
    }
}

/// Free env `i` and all memory it uses.
pub fn env_free(i: usize) {
    let pgdir = env_pgdir(i);
    // If freeing the current environment, switch to kern_pgdir before freeing the page
    // directory, just in case the page gets reused.
    // SAFETY: reading CR3.
    if unsafe { x86::controlregs::cr3() } as u32 == pgdir.pa() {
        pmap::load_pgdir(pmap::kern_pgdir());
    }

    let id = with_env(i, |e| e.env_id);
    cprintf!("[{:08x}] free env {:08x}\n", curenv_id(), id);

    // Flush all mapped pages in the user portion of the address space.
    for pdeno in 0..pdx(UTOP) {
        let pde = pgdir.get(pdeno);
        // Only look at mapped page tables.
        if pde & Pte::P.bits() == 0 {
            continue;
        }
        let table = PageTable::from_pa(pte_addr(pde));
        // Unmap all PTEs in this page table.
        for pteno in 0..NPTENTRIES {
            if table.get(pteno) & Pte::P.bits() != 0 {
                pmap::page_remove(pgdir, pgaddr(pdeno, pteno, 0));
            }
        }
        // Free the page table itself.
        pgdir.set(pdeno, 0);
        pmap::page_decref(pmap::pa2page(pte_addr(pde)));
    }

    // Free the page directory.
    let mut t = ENVS.lock();
    t.get(i).env_pgdir = 0;
    // Return the environment to the free list.
    t.push_free(i);
    drop(t);
    pmap::page_decref(pmap::pa2page(pgdir.pa()));
}

/// Destroy env `i`. If it is running on another CPU, mark it DYING: it will be freed the
/// next time it traps into the kernel. If it is the current env, run another.
pub fn env_destroy(i: usize) {
    let cur = cpu::curenv();
    let running_elsewhere = with_env(i, |e| {
        if e.env_status == ENV_RUNNING && cur != Some(i) {
            e.env_status = ENV_DYING;
            true
        } else {
            false
        }
    });
    if running_elsewhere {
        return;
    }
    env_free(i);
    if cur == Some(i) {
        cpu::set_curenv(None);
        sched::sched_yield();
    }
}

/// Restores the register values in the Trapframe with the 'iret' instruction. This exits the
/// kernel and starts executing some environment's code (or, for a frame trapped from the
/// kernel, resumes the kernel where it trapped).
///
/// # Safety
/// `tf` must be a complete trapframe on this CPU's kernel stack: a user-mode frame (user
/// segments with RPL 3, IF set) or one _alltraps built for a kernel-mode trap (no esp/ss).
pub unsafe fn env_pop_tf(tf: *const Trapframe) -> ! {
    // SAFETY: per the contract, popping the frame and iret-ing leaves this function for good.
    unsafe {
        core::arch::asm!(
            "movl {0}, %esp",
            "popal",
            "popl %es",
            "popl %ds",
            "addl $0x8, %esp", // skip tf_trapno and tf_errcode
            "iret",
            in(reg) tf,
            options(att_syntax, noreturn)
        )
    }
}

/// Context switch from curenv to env `i`. This function does not return.
pub fn env_run(i: usize) -> ! {
    let cur = cpu::curenv();
    let (tf, pgdir) = {
        let mut t = ENVS.lock();
        // Step 1: if this is a context switch, set the current env back to RUNNABLE if it
        // is still RUNNING.
        if let Some(c) = cur {
            let ce = t.get(c);
            if c != i && ce.env_status == ENV_RUNNING {
                ce.env_status = ENV_RUNNABLE;
            }
        }
        let e = t.get(i);
        e.env_status = ENV_RUNNING;
        e.env_runs += 1;
        e.env_cpunum = cpu::cpunum() as i32;
        (e.env_tf, e.env_pgdir)
    };
    cpu::set_curenv(Some(i));
    pmap::load_pgdir(PageTable::from_pa(pmap::paddr(pgdir)));
    crate::spinlock::unlock_kernel();
    crate::bench::before_user_return();
    // SAFETY: `tf` is env i's saved user-mode frame, copied to this stack.
    unsafe { env_pop_tf(&tf) }
}

/// Address of env `i`'s saved trapframe (what JOS's trapframe dump prints).
pub fn env_tf_kva(i: usize) -> u32 {
    // Derived from the array's fixed address: no need to take the envs lock on every trap.
    pmap::envs_kva() + (i * core::mem::size_of::<Env>()) as u32
}

/// Free env slots.
pub fn nfree_envs() -> usize {
    ENVS.lock().nfree()
}
