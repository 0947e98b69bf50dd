//! Physical memory and page tables (JOS's kern/pmap.c and kern/pmap.h): memory detection, the
//! boot-time allocator, the `pages` array and its free list, two-level page tables, the
//! kernel's address space, MMIO mappings, user pointer checks and copies. JOS's `PADDR`,
//! `KADDR`, `page2pa`, `pa2page`, `page2kva`, `i386_detect_memory`, `boot_alloc`, `mem_init`,
//! `mem_init_mp`, `page_init`, `page_alloc`, `page_free`, `page_decref`, `pgdir_walk`,
//! `boot_map_region`, `page_insert`, `page_lookup`, `page_remove`, `tlb_invalidate`,
//! `mmio_map_region`, `user_mem_check`, `user_mem_assert`; not in JOS: TLB shootdown and the
//! user copies. JOS's self-checks are in kern/pmap/check.rs.
//!
//! Page-table memory is reached through the KERNBASE mapping of physical memory; all raw
//! accesses to it go through [`PageTable`] (to read) and its write handles ([`PgdirMut`] and
//! what it lends: [`PageTableMut`], [`PteMut`]), borrowed from the one owner of each
//! directory (see [`PgdirMut`]).

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::ControlFlow;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use jos_inc::env::{Env, NENV};
use jos_inc::error::{Error, Result};
use jos_inc::memlayout::*;
use jos_inc::mmu::*;
pub use kern_logic::addr::{Entry, KernVa, PageNum, PhysAddr, UserPage};
use kern_logic::pagelist::FreeList;
use kern_logic::refcount;

use crate::cprintf;
use crate::cpu::CpuId;
use crate::env::{self, EnvTable};
use crate::kclock::{NVRAM_BASELO, NVRAM_EXT16LO, NVRAM_EXTLO, nvram_read};
use crate::spinlock::{Mutex, rank};

mod check;

/// Physical address of a kernel virtual address (JOS's PADDR). Inline: a compare and a
/// subtraction, on every address-space switch (`load_pgdir`).
#[inline(always)]
#[track_caller]
pub fn paddr(kva: KernVa) -> PhysAddr {
    if kva.get() < KERNBASE {
        panic!("PADDR called with invalid kva {:08x}", kva);
    }
    PhysAddr::new(kva.get() - KERNBASE)
}

/// Kernel virtual address of a physical address (JOS's KADDR).
#[track_caller]
pub fn kaddr(pa: PhysAddr) -> KernVa {
    let npages = npages();
    if npages != 0 && pa.page_number() >= npages {
        panic!("KADDR called with invalid pa {:08x}", pa);
    }
    KernVa::new(pa.get() + KERNBASE)
}

/// A page directory or page table, to read: a physical page of 1024 entries, reached through
/// the KERNBASE mapping. A view, `Copy`, with no way to write: every write goes through a
/// write handle ([`PgdirMut`], [`PageTableMut`], [`PteMut`]) borrowed from the table's one
/// owner (see [`PgdirMut`]). Together with them, the one place that touches page-table memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageTable {
    pa: PhysAddr,
}

impl PageTable {
    /// The page table at physical address `pa`, to read.
    ///
    /// # Safety
    /// `pa` must be the address of a page of the physical memory mapped at KERNBASE (below
    /// 256 MiB and below npages) for as long as the result is used: it is read there. (The
    /// entries read mean something only if it is a page directory or page table; reading any
    /// other page is harmless, which is why a read view needs no owner.)
    pub const unsafe fn from_pa(pa: PhysAddr) -> PageTable {
        PageTable { pa }
    }
    pub fn pa(self) -> PhysAddr {
        self.pa
    }
    /// Entry 0, through the KERNBASE mapping (see `slot`).
    #[inline]
    fn base(self) -> *mut u32 {
        (self.pa.get() | KERNBASE) as *mut u32
    }
    #[inline]
    fn slot(self, i: usize) -> *mut u32 {
        assert!(i < NPDENTRIES);
        // `pa` is below 256 MiB (page-table pages are physical memory the kernel maps at
        // KERNBASE), so OR-ing in KERNBASE is exact and the sum cannot overflow.
        ((self.pa.get() | KERNBASE) + 4 * i as u32) as *mut u32
    }
    #[inline]
    pub fn get(self, i: usize) -> Entry {
        // SAFETY: `pa` is a page-table page of physical memory below 256 MiB (allocated by
        // page_alloc or boot_alloc), mapped at KERNBASE; `i` < 1024. Volatile because the
        // MMU (accessed/dirty bits) and user space (through UVPT) see this memory too.
        Entry::from_bits(unsafe { ptr::read_volatile(self.slot(i)) })
    }

    /// This page directory's entry for `va`, to read: the page-table entry's slot, or
    /// `None` if there is no page table for `va` (`pgdir_walk` without `create`, through a
    /// view: for lookups and checks, which must not need the directory's write handle).
    #[inline]
    pub fn walk(self, va: u32) -> Option<PteRef> {
        let pde = self.get(pdx(va));
        if !pde.present() {
            return None;
        }
        Some(PteRef {
            // SAFETY: a present PDE of a page directory points at one of its page tables.
            table: unsafe { PageTable::from_pa(pde.frame()) },
            idx: ptx(va),
        })
    }

    /// Call `f(i, entry)` for each present entry among the first `n`, skipping empty entries
    /// a block at a time (env_free's walk: most entries of an env's tables are empty).
    pub fn for_each_present(self, n: usize, mut f: impl FnMut(usize, Entry)) {
        self.scan_present(0, n, |i, e| {
            f(i, e);
            ControlFlow::Continue(())
        });
    }

    /// Call `f(i, entry)` for each present entry `i` in `from..to`, in order, until `f` says
    /// to stop: then return `Some(i)` of the entry it stopped at (`None` if it never did).
    ///
    /// Empty entries are skipped a block of `fpu::SCAN_BLOCK` (32) at a time with SSE
    /// (`fpu::zero_blocks`): fork and env_free walk whole directories and tables, which are
    /// mostly empty. (An entry that is not present is 0 in every table the kernel builds,
    /// so a block of zeros is a block with nothing present.)
    #[inline]
    pub fn scan_present(
        self,
        from: usize,
        to: usize,
        mut f: impl FnMut(usize, Entry) -> ControlFlow<()>,
    ) -> Option<usize> {
        assert!(from <= to && to <= NPTENTRIES);
        let base = self.base();
        let block = crate::fpu::SCAN_BLOCK;
        // Whole aligned blocks, from the one holding `from` to the one holding `to - 1` (they
        // lie inside the table: 1,024 is a multiple of 32); entries outside from..to are read
        // by the block test but never handed to `f`.
        let mut b = from / block;
        let bend = to.div_ceil(block);
        while b < bend {
            // SAFETY: `base + b * 32` is 128-byte aligned (a page-aligned table) and blocks
            // b..bend lie inside the table's 1,024 entries.
            b += unsafe { crate::fpu::zero_blocks(base.add(b * block), bend - b) };
            if b == bend {
                break;
            }
            // A block with something in it: its entries in from..to one by one.
            for i in (b * block).max(from)..((b + 1) * block).min(to) {
                // SAFETY: as in `get`; i < to <= 1024.
                let e = Entry::from_bits(unsafe { ptr::read_volatile(base.add(i)) });
                if e.present() && f(i, e).is_break() {
                    return Some(i);
                }
            }
            b += 1;
        }
        None
    }

    /// The OR of `entry(first + k) ^ (want + k * PGSIZE)` over `k < n`: zero iff entries
    /// `first..first+n` are exactly consecutive pages from `want` (check_kern_pgdir's loop;
    /// four entries at a time with SSE: `fpu::diff_step`).
    #[inline]
    fn diff_from_run(self, first: usize, n: usize, want: Entry) -> u32 {
        assert!(first + n <= NPTENTRIES);
        // SAFETY: entries first..first+n of this table (see `get`), only read.
        unsafe { crate::fpu::diff_step(self.slot(first), n, want.bits(), PGSIZE) }
    }
}

/// The write handle of one page table (second level): obtained only from its directory's
/// handle ([`pgdir_walk`], [`PgdirMut::table_mut`]), which it borrows mutably for `'a`, so
/// that while it lives no other write to that directory's tables can be made. Not `Copy`.
#[derive(Debug)]
pub struct PageTableMut<'a> {
    table: PageTable,
    _owner: PhantomData<&'a mut PageTable>,
}

impl PageTableMut<'_> {
    /// # Safety
    /// `pa` is a page directory or page table (allocated as one by page_alloc or boot_alloc)
    /// that the caller owns for the result's lifetime: no other write handle to it may be
    /// used meanwhile. Through the result the kernel writes entries the MMU obeys, so any
    /// other page (kernel data, a user's page) would become a page table its owner controls.
    #[inline]
    unsafe fn from_pa(pa: PhysAddr) -> Self {
        PageTableMut {
            table: PageTable { pa },
            _owner: PhantomData,
        }
    }
    #[inline]
    pub fn pa(&self) -> PhysAddr {
        self.table.pa
    }
    /// This table to read (a view: it cannot write, so it may outlive the handle).
    #[inline]
    pub fn view(&self) -> PageTable {
        self.table
    }
    #[inline]
    pub fn get(&self, i: usize) -> Entry {
        self.table.get(i)
    }
    #[inline]
    pub fn set(&mut self, i: usize, v: Entry) {
        // SAFETY: as in `PageTable::get`; `&mut self`, borrowed from the table's owner, is
        // the one write handle to this table in use.
        unsafe { ptr::write_volatile(self.table.slot(i), v.bits()) }
    }

    /// Entries `first..first+n` map consecutive pages from `entry` (a frame address with
    /// its permission bits) on: boot_map_region's inner loop. The arithmetic wraps by design
    /// (a mapping may run to the top of the address space; the frame part is what matters).
    // HANDOUT: #[allow(dead_code)] // boot_map_region's (lab 2) once written
    fn fill(&mut self, first: usize, n: usize, entry: Entry) {
        assert!(first + n <= NPTENTRIES);
        // SAFETY: entries first..first+n of this table, ours (`&mut self`); four at a time
        // with SSE (`fpu::fill_step`).
        unsafe { crate::fpu::fill_step(self.table.slot(first), n, entry.bits(), PGSIZE) }
    }
}

/// The write handle of a page directory, and through it of its page tables: the only way to
/// change an address space. A directory has one owner, which lends it out as `&mut`:
///
/// - the kernel's directory (kern_pgdir): [`KERN_AS`], a lock, which mem_init fills once at
///   boot and mmio_map_region uses afterwards (no other CPU runs before it is set up, and
///   after that the lock serializes its writers);
/// - an env's directory: the env table (`EnvTable::pgdir_mut`), which is reachable only
///   through the big kernel lock's token, so the handle, borrowing the table mutably,
///   cannot outlive this CPU's hold of the lock nor coexist with another handle from it.
///
/// Reads need no owner: `view()`, `EnvTable::pgdir` and `kern_pgdir()` give a [`PageTable`].
/// Not `Copy` and no conversion to anything that writes: a write handle exists only as long
/// as the owner's borrow. (JOS relies on convention; this port checked at run time until the
/// types carried the proof.)
#[derive(Debug)]
pub struct PgdirMut<'a> {
    dir: PageTableMut<'a>,
}

impl PgdirMut<'_> {
    /// # Safety
    /// `pa` is a page directory (a page allocated as one, whose present entries below UTOP
    /// point at page tables allocated as such) that the caller owns for the result's
    /// lifetime: the result is the one write handle to it and its page tables in use while it
    /// lives. The owners (see the type) are the only callers: env_setup_vm for a directory it
    /// has just allocated, the env table under the big lock, mem_init for kern_pgdir.
    #[inline]
    pub unsafe fn from_pa(pa: PhysAddr) -> Self {
        PgdirMut {
            // SAFETY: the caller's contract, for the directory page.
            dir: unsafe { PageTableMut::from_pa(pa) },
        }
    }
    #[inline]
    pub fn pa(&self) -> PhysAddr {
        self.dir.pa()
    }
    /// This directory to read (a view: it cannot write, so it may outlive the handle).
    #[inline]
    pub fn view(&self) -> PageTable {
        self.dir.view()
    }
    /// The handle again, for a shorter time (`&mut *r` for a handle: pass it by value and
    /// keep yours).
    #[inline]
    pub fn reborrow(&mut self) -> PgdirMut<'_> {
        PgdirMut {
            dir: PageTableMut {
                table: self.dir.table,
                _owner: PhantomData,
            },
        }
    }
    #[inline]
    pub fn get(&self, i: usize) -> Entry {
        self.dir.get(i)
    }
    /// Write directory entry `i`.
    #[inline]
    pub fn set(&mut self, i: usize, v: Entry) {
        self.dir.set(i, v)
    }
    /// The page table directory entry `i` points at, to write, if the entry is present:
    /// borrowed from this handle, like all writes to this directory's tables.
    #[inline]
    pub fn table_mut(&mut self, i: usize) -> Option<PageTableMut<'_>> {
        let pde = self.get(i);
        // SAFETY: a present PDE of a page directory points at one of its page tables (or,
        // at UVPT, at the directory itself), which we own through `&mut self`.
        pde.present()
            .then(|| unsafe { PageTableMut::from_pa(pde.frame()) })
    }
}

/// Physical page allocator: the `pages` array (mapped read-only for users at UPAGES) and the
/// free list threaded through it.
struct PageAlloc {
    pages: *mut PageInfo,
    npages: usize,
    free: FreeList,
}

// SAFETY: the `pages` pointer refers to boot-allocated memory owned by this allocator; all
// access is serialized by the PAGES mutex.
unsafe impl Send for PageAlloc {}

impl PageAlloc {
    /// Take a reference to page `pp`; -E_NO_MEM if its 16-bit count is saturated (JOS
    /// wrapped it: see kern_logic::refcount).
    #[inline]
    fn incref(&mut self, pp: PageNum) -> Result<()> {
        let page = &mut self.pages()[pp.index()];
        page.pp_ref = refcount::incref(page.pp_ref).map_err(|_| Error::NoMem)?;
        Ok(())
    }

    /// Drop a reference to page `pp`, freeing it when it was the last.
    #[inline(always)]
    #[track_caller]
    fn decref(&mut self, pp: PageNum) {
        let mut free = self.free;
        let pages = self.pages();
        let page = &mut pages[pp.index()];
        let Some((n, zero)) = refcount::decref(page.pp_ref) else {
            panic!("page_decref: page {:#x} has no references", pp);
        };
        page.pp_ref = n;
        // The last reference: free it (page_free's checks but the count, just seen to be 0;
        // done here on the record in hand, since this is on every unmap).
        if zero {
            // LAB 2: BEGIN page_decref-free
            // HINT: The last reference is gone: free the page (page_free's work, inline here).
            if page.pp_link != 0 || free.is_head(pp) {
                already_free(pp);
            }
            free.push(pages, pp);
            self.free = free;
            // LAB 2: END page_decref-free
        }
    }

    // CHALLENGE: BEGIN sys_page_dup-table
    // STUB: // (fork's duppage in the kernel: one page table's part)
    /// dup_range's work in one page table: entries `from..to` of `src`, present and user,
    /// mapped into the same entries of `dst` (which may be `src` itself; see `dup_range` for
    /// the permissions), until `budget` mappings are made. Returns the entry it stopped at
    /// (`to` if it did all) and the error that stopped it, if any (a saturated count).
    ///
    /// Writes both tables, given as views: the caller holds their write handles (dup_range's
    /// `PageTableMut`s) across the call. (Handles here instead cost fork a few instructions
    /// per page: i386 register pressure in this loop.)
    fn dup_table(
        &mut self,
        src: PageTable,
        dst: PageTable,
        from: usize,
        to: usize,
        made: &mut usize,
    ) -> (usize, Result<()>) {
        assert!(from <= to && to <= NPTENTRIES);
        let (s, d) = (src.base(), dst.base());
        let block = crate::fpu::SCAN_BLOCK;
        let pu = (Pte::P | Pte::U).bits();
        let cow = (Pte::P | Pte::U | Pte::COW).bits();
        let (pages, npages) = (self.pages, self.npages);
        let mut b = from / block;
        let bend = to.div_ceil(block);
        while b < bend {
            // SAFETY: aligned blocks inside the table (see PageTable::scan_present).
            b += unsafe { crate::fpu::zero_blocks(s.add(b * block), bend - b) };
            if b == bend {
                break;
            }
            let end = ((b + 1) * block).min(to);
            let mut i = (b * block).max(from);
            b += 1;
            while i < end {
                // SAFETY: entry i < 1024 of a page-table page (see PageTable::get).
                let e = unsafe { ptr::read_volatile(s.add(i)) };
                i += 1;
                if e & pu != pu {
                    continue;
                }
                if *made == DUP_MAX_PAGES {
                    return (i - 1, Ok(()));
                }
                // The permissions, as duppage chooses them (an already copy-on-write page of
                // ours stays as it is).
                let (perm, cow_src) = match e & (Pte::SHARE | Pte::W | Pte::COW).bits() {
                    x if x == Pte::W.bits() => (cow, true),
                    x if x == Pte::COW.bits() => (cow, false),
                    0 => (pu, false),
                    _ if e & Pte::SHARE.bits() != 0 => (e & Pte::SYSCALL.bits(), false),
                    // W and COW both set (not made by fork, but possible): as duppage, COW in
                    // both.
                    _ => (cow, true),
                };
                let frame = e & !(PGSIZE - 1);
                let ppn = (e >> PGSHIFT) as usize;
                if ppn >= npages {
                    pa2page(PhysAddr::new(frame)); // (panics: no such page)
                }
                // SAFETY: as above.
                let old = unsafe { ptr::read_volatile(d.add(i - 1)) };
                // page_insert's reference counting: none if the same page is there already.
                if old & Pte::P.bits() == 0 || old >> PGSHIFT != e >> PGSHIFT {
                    // SAFETY: ppn < npages: a record of the pages array, which the allocator's
                    // lock (held: `&mut self`) gives us.
                    let r = unsafe { &mut (*pages.add(ppn)).pp_ref };
                    match refcount::incref(*r) {
                        Ok(n) => *r = n,
                        Err(_) => return (i - 1, Err(Error::NoMem)),
                    }
                    if old & Pte::P.bits() != 0 {
                        self.decref(pa2page(PhysAddr::new(old & !(PGSIZE - 1))));
                    }
                }
                // SAFETY: as above; both tables are ours to write (the caller's handles)
                // (the child's first, as duppage does).
                unsafe {
                    ptr::write_volatile(d.add(i - 1), frame | perm);
                    if cow_src {
                        ptr::write_volatile(s.add(i - 1), frame | cow);
                    }
                }
                *made += 1;
            }
        }
        (to, Ok(()))
    }
    // CHALLENGE: END sys_page_dup-table

    /// Return page `pp` (no references) to the free list.
    #[inline(always)]
    #[track_caller]
    fn free_page(&mut self, pp: PageNum) {
        // LAB 2: BEGIN page_free
        // HINT: Panic if the page is still referenced or already free; else push it on the free
        // HINT: list.
        let mut free = self.free;
        let pages = self.pages();
        let i = pp.index();
        if pages[i].pp_ref != 0 || pages[i].pp_link != 0 || free.is_head(pp) {
            already_free(pp);
        }
        free.push(pages, pp);
        self.free = free;
        // LAB 2: END page_free
    }

    #[inline]
    fn pages(&mut self) -> &mut [PageInfo] {
        if self.npages == 0 {
            return &mut [];
        }
        // SAFETY: `pages` points to `npages` records allocated by boot_alloc in mem_init and
        // never freed; the mutex guard gives exclusive access.
        unsafe { core::slice::from_raw_parts_mut(self.pages, self.npages) }
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn already_free(pp: PageNum) -> ! {
    panic!("page_free: page {:#x} is still in use or already free", pp);
}

static PAGES: Mutex<PageAlloc, rank::Pages> = Mutex::new(PageAlloc {
    pages: ptr::null_mut(),
    npages: 0,
    free: FreeList::new(0),
});

/// Values set once during boot (before any other CPU runs) and only read afterwards: plain
/// atomics, no lock on the paths that read them.
///
/// Base memory found by i386_detect_memory (in pages).
static NPAGES_BASEMEM: AtomicUsize = AtomicUsize::new(0);
/// The kernel's page directory.
static KERN_PGDIR: AtomicU32 = AtomicU32::new(0);
/// The envs array (kernel virtual address), allocated here as JOS does.
static ENVS_KVA: AtomicU32 = AtomicU32::new(0);
/// The envs' FPU save areas (kern/fpu.rs), kernel-only, allocated beside envs.
static FPU_AREAS_KVA: AtomicU32 = AtomicU32::new(0);
/// Next free byte of boot_alloc; 0 until first use.
static BOOT_NEXTFREE: Mutex<u32, rank::BootAlloc> = Mutex::new(0);

/// The kernel's address space: the owner of kern_pgdir's write handle (see [`PgdirMut`]),
/// with the next free address of the MMIO region, whose mappings are the only writes to
/// kern_pgdir after boot.
struct KernAs {
    /// Set once, by mem_init.
    pgdir: Option<PgdirMut<'static>>,
    // HANDOUT: #[allow(dead_code)] // read by mmio_map_region (lab 2) once written
    mmio_next: u32,
}

impl KernAs {
    /// kern_pgdir's write handle, borrowed from the lock's holder.
    #[track_caller]
    fn pgdir(&mut self) -> &mut PgdirMut<'static> {
        self.pgdir
            .as_mut()
            .expect("kern_pgdir used before mem_init")
    }
}

static KERN_AS: Mutex<KernAs, rank::MmioNext> = Mutex::new(KernAs {
    pgdir: None,
    mmio_next: MMIOBASE,
});

/// Per-CPU kernel stacks, mapped at kstacktop(i) with guard gaps (mem_init_mp).
#[repr(C, align(4096))]
struct KStacks(UnsafeCell<[[u8; KSTKSIZE as usize]; crate::cpu::NCPU]>);
// SAFETY: Rust code never reads or writes the stacks through this static: only their
// addresses are taken (mem_init_mp maps them; each CPU runs on its own).
unsafe impl Sync for KStacks {}
/// In its own section after the bss (kern/kernel.ld), which i386_init does not clear: a stack
/// needs no zeroing, and this is 256 KiB (65,536 instructions of the boot).
#[unsafe(link_section = ".kstacks")]
static PERCPU_KSTACKS: KStacks =
    KStacks(UnsafeCell::new([[0; KSTKSIZE as usize]; crate::cpu::NCPU]));

pub fn page2pa(pp: PageNum) -> PhysAddr {
    pp.addr()
}

#[track_caller]
pub fn pa2page(pa: PhysAddr) -> PageNum {
    match PageNum::new(pa.page_number(), npages()) {
        Some(pp) => pp,
        None => panic!("pa2page called with invalid pa"),
    }
}

pub fn page2kva(pp: PageNum) -> KernVa {
    kaddr(page2pa(pp))
}

/// Number of physical pages the kernel manages (set once by i386_detect_memory; read on hot
/// paths, so not behind the allocator's lock).
static NPAGES: AtomicUsize = AtomicUsize::new(0);

pub fn npages() -> usize {
    NPAGES.load(Ordering::Relaxed)
}

/// The kernel's page directory, to read (its writes go through [`KERN_AS`]).
pub fn kern_pgdir() -> PageTable {
    // SAFETY: KERN_PGDIR is the kernel's page directory, allocated in mem_init for good.
    unsafe { PageTable::from_pa(paddr(KernVa::new(KERN_PGDIR.load(Ordering::Relaxed)))) }
}

/// Kernel virtual address of the envs array.
pub fn envs_kva() -> KernVa {
    KernVa::new(ENVS_KVA.load(Ordering::Relaxed))
}

/// The envs array, to the env table, once (env_init installs it there; a second call is a
/// kernel bug and panics): the only `&mut` to it the kernel ever makes.
pub fn take_envs() -> &'static mut [Env; NENV] {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    assert!(
        !TAKEN.swap(true, Ordering::Relaxed),
        "envs[] handed out twice"
    );
    let kva = envs_kva();
    assert!(kva.get() != 0, "envs[] taken before mem_init");
    // SAFETY: mem_init boot-allocated (never freed) and zeroed NENV Env records at `kva`,
    // aligned to a page; an all-zero Env is a valid value (plain integers); and the TAKEN flag
    // makes this the only reference to them the kernel creates (user space reads them through
    // its read-only UENVS mapping).
    unsafe { &mut *kva.as_ptr::<[Env; NENV]>() }
}

/// The envs' FPU save areas, to the env table, once (env_init installs them there; a second
/// call is a kernel bug and panics): the only reference to them the kernel ever makes.
pub fn take_fpu_areas() -> &'static mut [crate::fpu::FpuArea; NENV] {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    assert!(
        !TAKEN.swap(true, Ordering::Relaxed),
        "FPU areas handed out twice"
    );
    let kva = FPU_AREAS_KVA.load(Ordering::Relaxed);
    assert!(kva != 0, "FPU areas taken before mem_init");
    // SAFETY: mem_init boot-allocated (never freed) `fpu::AREAS_SIZE` bytes at `kva`, page
    // aligned (FpuArea wants 16), mapped in the kernel only; a save area is any 512 bytes
    // (env_alloc resets one before its env runs); and the TAKEN flag makes this the only
    // reference to them.
    unsafe { &mut *KernVa::new(kva).as_ptr::<[crate::fpu::FpuArea; NENV]>() }
}

/// Number of free physical pages.
pub fn nfree_pages() -> usize {
    PAGES.lock().free.len()
}

/// Run `f` holding the page allocator's lock (kern/ktest.rs panics in there).
pub fn with_allocator_locked<R>(f: impl FnOnce() -> R) -> R {
    let _guard = PAGES.lock();
    f()
}

fn i386_detect_memory() {
    // Use CMOS calls to measure available base & extended memory (CMOS calls return
    // results in kilobytes).
    let basemem = nvram_read(NVRAM_BASELO);
    let extmem = nvram_read(NVRAM_EXTLO);
    let ext16mem = nvram_read(NVRAM_EXT16LO) * 64;

    // Calculate the number of physical pages available in both base and extended memory.
    let totalmem = if ext16mem != 0 {
        16 * 1024 + ext16mem
    } else if extmem != 0 {
        1024 + extmem
    } else {
        basemem
    };

    crate::cprintf!(
        "Physical memory: {}K available, base = {}K, extended = {}K\n",
        totalmem,
        basemem,
        totalmem - basemem
    );
    // Only what is mapped at KERNBASE can be used: all of physical memory is reached
    // through that window.
    let maxkb = (0u32.wrapping_sub(KERNBASE) / 1024) as usize;
    let usable = if totalmem as usize > maxkb {
        crate::cprintf!(
            "Using only the first {}K: the rest cannot be mapped at KERNBASE\n",
            maxkb
        );
        maxkb
    } else {
        totalmem as usize
    };
    let n = usable / (PGSIZE as usize / 1024);
    PAGES.lock().npages = n;
    NPAGES.store(n, Ordering::Relaxed);
    NPAGES_BASEMEM.store(
        basemem as usize / (PGSIZE as usize / 1024),
        Ordering::Relaxed,
    );
}

/// Simple physical memory allocator used only while setting up the virtual memory system:
/// returns the kernel virtual address of `n` bytes (rounded up to a page), or the next free
/// address when `n` is 0. Only the first 4 MiB are mapped at this point.
fn boot_alloc(n: u32) -> KernVa {
    unsafe extern "C" {
        // HANDOUT: #[allow(dead_code)] // read by boot_alloc's code (lab 2) once written
        static end: u8;
    }
    // LAB 2: BEGIN boot_alloc
    // HINT: The first call starts at the page after `end`; return the next free address and move it
    // HINT: past n bytes, rounded up to a page; panic past the 4 MiB mapped at boot.
    let mut next = BOOT_NEXTFREE.lock();
    if *next == 0 {
        // `end` is the first virtual address past the kernel's bss.
        *next = round_up(&raw const end as u32, PGSIZE);
    }
    let result = *next;
    let new = round_up(result + n, PGSIZE);
    if new > KERNBASE + PTSIZE {
        panic!("boot_alloc: out of memory (only 4MB mapped at boot)");
    }
    *next = new;
    KernVa::new(result)
    // LAB 2: END boot_alloc
}

fn zero_kva(kva: KernVa, len: u32) {
    // Whole pages with SSE (fpu::zero_page: the pages and envs arrays are 95 pages, about
    // 97,000 `rep stosl` iterations), the rest (if any) bytewise.
    let pages = if kva.get().is_multiple_of(PGSIZE) {
        len / PGSIZE
    } else {
        0
    };
    for i in 0..pages {
        // SAFETY: page i of [kva, kva+len): memory just handed out by boot_alloc or
        // page_alloc, mapped at KERNBASE, owned by the caller, page-aligned.
        unsafe { crate::fpu::zero_page(kva.as_ptr::<u8>().add((i * PGSIZE) as usize)) }
    }
    let done = pages * PGSIZE;
    // SAFETY: the rest of [kva, kva+len), as above.
    unsafe {
        ptr::write_bytes(
            kva.as_ptr::<u8>().add(done as usize),
            0,
            (len - done) as usize,
        )
    }
}

/// Set up a two-level page table: kern_pgdir is its linear (virtual) address of the root.
/// This function only sets up the kernel part of the address space (addresses >= UTOP).
pub fn mem_init() {
    i386_detect_memory();

    // Create the initial page directory.
    let pgdir_kva = boot_alloc(PGSIZE);
    zero_kva(pgdir_kva, PGSIZE);
    KERN_PGDIR.store(pgdir_kva.get(), Ordering::Relaxed);
    {
        let mut kas = KERN_AS.lock();
        assert!(kas.pgdir.is_none(), "kern_pgdir created twice");
        // SAFETY: the page boot_alloc just gave us, zeroed, becomes the kernel's page
        // directory, and this is its one write handle: KERN_AS owns it from now on.
        kas.pgdir = Some(unsafe { PgdirMut::from_pa(paddr(pgdir_kva)) });
        // Recursively insert PD in itself as a page table, to form a virtual page table at
        // virtual address UVPT.
        kas.pgdir()
            .set(pdx(UVPT), Entry::new(paddr(pgdir_kva), Pte::U | Pte::P));
    }

    // LAB 2: BEGIN mem_init-arrays
    // HINT: Allocate with boot_alloc, and zero, the `pages` array (npages() PageInfo records) and
    // HINT: the `envs` array (NENV Env records; store its address in ENVS_KVA).
    // STUB: let (pages_sz, pages_kva, envs_sz, envs_kva): (u32, KernVa, u32, KernVa) =
    // STUB:     todo!("LAB 2: mem_init-arrays");
    // The `pages` array: one PageInfo per physical page.
    let npages = npages();
    let pages_sz = (npages * core::mem::size_of::<PageInfo>()) as u32;
    let pages_kva = boot_alloc(pages_sz);
    zero_kva(pages_kva, pages_sz);

    // The `envs` array.
    let envs_sz = (NENV * core::mem::size_of::<Env>()) as u32;
    let envs_kva = boot_alloc(envs_sz);
    zero_kva(envs_kva, envs_sz);
    ENVS_KVA.store(envs_kva.get(), Ordering::Relaxed);
    // LAB 2: END mem_init-arrays

    // The envs' FPU save areas: kernel-only, initialized per env by env_alloc.
    FPU_AREAS_KVA.store(boot_alloc(crate::fpu::AREAS_SIZE).get(), Ordering::Relaxed);

    {
        let mut pa = PAGES.lock();
        pa.pages = pages_kva.as_ptr::<PageInfo>();
        pa.free = FreeList::new(pages_kva.get());
    }

    // Now that we've allocated the initial kernel data structures, set up the list of free
    // physical pages.
    page_init();

    check::check_page_free_list(true);
    check::check_page_alloc();
    check::check_page();

    // kern_pgdir's write handle, for the rest of its setup (boot_map_region allocates page
    // tables: the allocator's lock ranks below KERN_AS).
    let mut kas = KERN_AS.lock();
    let pgdir = kas.pgdir();
    // LAB 2: BEGIN mem_init-map
    // HINT: Map `pages` at UPAGES and `envs` at UENVS (user read-only), and all of physical memory
    // HINT: at KERNBASE (kernel read/write), with boot_map_region.
    // Map 'pages' read-only by the user at linear address UPAGES.
    boot_map_region(
        pgdir,
        UPAGES,
        round_up(pages_sz, PGSIZE),
        paddr(pages_kva),
        Pte::U,
    );
    // Map the 'envs' array read-only by the user at linear address UENVS.
    boot_map_region(
        pgdir,
        UENVS,
        round_up(envs_sz, PGSIZE),
        paddr(envs_kva),
        Pte::U,
    );
    // Map all of physical memory at KERNBASE (4 KiB pages: no PSE, as JOS).
    boot_map_region(
        pgdir,
        KERNBASE,
        0u32.wrapping_sub(KERNBASE),
        PhysAddr::new(0),
        Pte::W,
    );
    // LAB 2: END mem_init-map
    // Initialize the SMP-related parts of the memory map.
    mem_init_mp(pgdir);
    drop(kas);

    // Check that the initial page directory has been set up correctly.
    check::check_kern_pgdir();

    // Switch from the minimal entry page directory to the full kern_pgdir page table we
    // just created.
    load_pgdir(kern_pgdir());

    check::check_page_free_list(false);

    // Configure the rest of the flags that we care about.
    // SAFETY: paging stays on; we add WP (the kernel honours read-only mappings), AM, NE,
    // MP and clear TS/EM so no FPU trap surprises.
    unsafe {
        use x86::controlregs::{Cr0, cr0, cr0_write};
        let mut c = cr0();
        c |= Cr0::CR0_PROTECTED_MODE
            | Cr0::CR0_ENABLE_PAGING
            | Cr0::CR0_ALIGNMENT_MASK
            | Cr0::CR0_WRITE_PROTECT
            | Cr0::CR0_NUMERIC_ERROR
            | Cr0::CR0_MONITOR_COPROCESSOR;
        c &= !(Cr0::CR0_TASK_SWITCHED | Cr0::CR0_EMULATE_COPROCESSOR);
        cr0_write(c);
    }

    // Some more checks, only possible after kern_pgdir is installed.
    check::check_page_installed_pgdir();
}

/// Map each CPU's kernel stack below KSTACKTOP, separated by unmapped guard pages.
fn mem_init_mp(pgdir: &mut PgdirMut) {
    // LAB 2: BEGIN mem_init_mp
    // HINT: Map each CPU's stack (percpu_kstack_kva(i)) at kstacktop(i) - KSTKSIZE, kernel
    // HINT: read/write; the KSTKGAP below each stays unmapped as a guard (check_kern_pgdir checks
    // HINT: it).
    for i in 0..crate::cpu::NCPU {
        let kstacktop_i = kstacktop(i as u32);
        let stack = percpu_kstack_kva(i);
        boot_map_region(
            pgdir,
            kstacktop_i - KSTKSIZE,
            KSTKSIZE,
            paddr(stack),
            Pte::W,
        );
    }
    // LAB 2: END mem_init_mp
}

/// Kernel virtual address (in the kernel image) of CPU `i`'s stack.
pub fn percpu_kstack_kva(i: usize) -> KernVa {
    assert!(i < crate::cpu::NCPU);
    let stacks = PERCPU_KSTACKS.0.get();
    KernVa::new(stacks as u32 + (i * KSTKSIZE as usize) as u32)
}

/// Load a page directory into CR3.
pub fn load_pgdir(pgdir: PageTable) {
    // SAFETY: `pgdir` maps the kernel (every page directory is built from kern_pgdir's
    // upper half), so execution continues at the same addresses.
    unsafe { x86::controlregs::cr3_write(u64::from(pgdir.pa().get())) }
}

/// The physical address of the page directory this CPU uses now.
pub fn current_pgdir() -> PhysAddr {
    PhysAddr::new(rcr3())
}

fn rcr3() -> u32 {
    // SAFETY: reading CR3 has no side effects.
    unsafe { x86::controlregs::cr3() as u32 }
}

/// Initialize the page structures and the free list. JOS's rules: page 0 (real-mode IDT and
/// BIOS structures), the AP entry code page, the IO hole, the kernel and everything
/// boot_alloc handed out are in use; the rest is free.
fn page_init() {
    // LAB 2: BEGIN page_init
    // HINT: Put every free physical page on the free list (FreeList::push_range_desc): not page 0,
    // HINT: not MPENTRY_PADDR, not the IO hole, the kernel or what boot_alloc handed out.
    let npages_basemem = NPAGES_BASEMEM.load(Ordering::Relaxed);
    let first_free_pa = paddr(boot_alloc(0));
    let mut pa = PAGES.lock();
    let npages = pa.npages;
    let mut free = pa.free;
    let pages = pa.pages();
    // The records are zero already (mem_init cleared the array): pp_ref 0, no link. Pushed
    // from the top down, so the LIFO list comes out in ascending order: low memory first,
    // which is what the first check_page_free_list wants (until kern_pgdir is loaded only
    // the first 4 MiB are mapped), so its reordering has nothing to move.
    // Free: base memory but page 0 (real-mode IDT and BIOS structures) and the AP entry
    // code's page; extended memory past what boot_alloc handed out. The IO hole and the
    // kernel are in between.
    let mpentry = pgnum(MPENTRY_PADDR);
    let first_free = first_free_pa.page_number();
    free.push_range_desc(pages, first_free..npages);
    free.push_range_desc(pages, mpentry + 1..npages_basemem);
    free.push_range_desc(pages, 1..mpentry);
    pa.free = free;
    // LAB 2: END page_init
}

/// Allocate a physical page, zeroed if `zero`. Does not increment the reference count.
pub fn page_alloc(zero: bool) -> Option<PageNum> {
    // LAB 2: BEGIN page_alloc
    // HINT: Pop a page off the free list (under the PAGES lock); None if it is empty. Zero its
    // HINT: memory (page2kva) if `zero`. Do not touch its reference count.
    let pp = {
        let mut pa = PAGES.lock();
        let mut free = pa.free;
        let r = free.pop(pa.pages());
        pa.free = free;
        r?
    };
    if zero {
        // SAFETY: the page just left the free list: nobody else refers to it.
        unsafe { crate::fpu::zero_page(page2kva(pp).as_ptr()) }
    }
    Some(pp)
    // LAB 2: END page_alloc
}

// CHALLENGE: BEGIN page_alloc_map
// STUB: // (sys_page_alloc's work for the system call entry's fast path: a challenge)
/// `page_alloc(true)` and `page_insert` of the new page at `va` in `pgdir` with `perm`, as
/// sys_page_alloc makes them (-E_NO_MEM if there is no free page or no page table can be
/// allocated; nothing changes then), in fewer steps: the page leaves the free list with its
/// reference already counted (one hold of the allocator's lock, not two), and when nothing
/// was mapped at `va` the new entry needs no TLB invalidation (a CPU caches no translation
/// for a non-present entry). Replacing a mapping drops the old page's reference and
/// invalidates, as page_insert does.
pub fn page_alloc_map(mut pgdir: PgdirMut, va: UserPage, perm: Pte) -> Result<()> {
    let pp = {
        let mut pa = PAGES.lock();
        let mut free = pa.free;
        let pp = free.pop(pa.pages()).ok_or(Error::NoMem)?;
        pa.free = free;
        pa.pages()[pp.index()].pp_ref = 1;
        pp
    };
    let Some(mut pte) = pgdir_walk(&mut pgdir, va.addr(), true) else {
        page_decref(pp);
        return Err(Error::NoMem);
    };
    // SAFETY: the page just left the free list: nobody else refers to it.
    unsafe { crate::fpu::zero_page(page2kva(pp).as_ptr()) }
    let old = pte.get();
    pte.set(Entry::new(page2pa(pp), perm | Pte::P));
    if old.present() {
        page_decref(pa2page(old.frame()));
        tlb_invalidate(pgdir.view(), va.addr());
    }
    Ok(())
}
// CHALLENGE: END page_alloc_map

// CHALLENGE: BEGIN page_copy_here
// STUB: // (sys_page_copy's in-place work for the system call entry's fast path: a challenge)
/// Replace the page mapped at `va` in `pgdir` with a new page holding a copy of it, mapped
/// with `perm | P`: sys_page_copy with the same source and destination (the copy-on-write
/// fault's call), and its errors: -E_INVAL if nothing user-readable is mapped at `va`,
/// -E_NO_MEM if there is no free page; nothing changes then.
///
/// `copy_into` does this with a lookup, `page_alloc`, and `page_insert`'s second walk and
/// second hold of the allocator's lock; here one walk finds the entry that is both the
/// source and the destination, and one hold of the lock takes the new page (its reference
/// counted) and drops the old page's reference, before the copy. That is safe because the
/// caller holds the big kernel lock: every other mapping of the old page is changed only
/// under it, so the references that remain keep the page (and its bytes) until the copy is
/// done. When this mapping was the old page's last reference, the page is not freed until
/// after the copy (a second hold of the lock, in that case only): a free page may be handed
/// out again.
pub fn page_copy_here(mut pgdir: PgdirMut, va: UserPage, perm: Pte) -> Result<()> {
    let mut pte = pgdir_walk(&mut pgdir, va.addr(), false).ok_or(Error::Inval)?;
    let old = pte.get();
    if !old.contains(Pte::P | Pte::U) {
        return Err(Error::Inval);
    }
    let from = pa2page(old.frame());
    let (pp, last) = {
        let mut pa = PAGES.lock();
        let mut free = pa.free;
        let pp = free.pop(pa.pages()).ok_or(Error::NoMem)?;
        pa.free = free;
        let pages = pa.pages;
        // SAFETY: `pp` and `from` are `PageNum`s, below npages: records of the pages array,
        // which the allocator's lock (held: `pa`) gives us. (Raw, as in dup_table: the
        // slice's bounds checks and spills were a fifth of this function.)
        let r = unsafe {
            (*pages.add(pp.index())).pp_ref = 1;
            &mut (*pages.add(from.index())).pp_ref
        };
        // Not the last reference: one less, and the page stays. (A count of 0 here would be
        // a mapping without a reference: decref's panic, below, says so.)
        let last = *r <= 1;
        if !last {
            *r -= 1;
        }
        (pp, last)
    };
    copy_page(pp, from);
    pte.set(Entry::new(page2pa(pp), perm | Pte::P));
    tlb_invalidate(pgdir.view(), va.addr());
    if last {
        page_decref(from);
    }
    Ok(())
}
// CHALLENGE: END page_copy_here

/// Copy physical page `src` into physical page `dst` (through KERNBASE).
#[inline]
pub fn copy_page(dst: PageNum, src: PageNum) {
    // SAFETY: two distinct pages of physical memory, mapped at KERNBASE (`page_window`);
    // `dst` is freshly allocated and owned by the caller, `src` is read only.
    unsafe { crate::fpu::copy_page(page_window(dst), page_window(src)) }
}

/// Page `pp`'s bytes, through the KERNBASE mapping: `page2kva` without `kaddr`'s checks,
/// which cannot fail for a `PageNum` (it is below npages, and i386_detect_memory keeps
/// npages within the 256 MiB mapped at KERNBASE), so `pa | KERNBASE` is exact. For the
/// page copy, where the checks were a tenth of what surrounds the 512 moves, and the page
/// fault entry's upcall frame.
#[inline(always)]
pub fn page_window(pp: PageNum) -> *mut u8 {
    (page2pa(pp).get() | KERNBASE) as *mut u8
}

/// Return a page to the free list. Its reference count must be 0.
#[track_caller]
pub fn page_free(pp: PageNum) {
    PAGES.lock().free_page(pp);
}

/// Increment a page's reference count. -E_NO_MEM once the 16-bit count is saturated: JOS
/// wrapped it (see kern_logic::refcount).
pub fn page_incref(pp: PageNum) -> Result<()> {
    PAGES.lock().incref(pp)
}

/// Decrement a page's reference count, freeing it when there are no more refs.
#[track_caller]
pub fn page_decref(pp: PageNum) {
    PAGES.lock().decref(pp);
}

pub fn page_ref(pp: PageNum) -> u16 {
    PAGES.lock().pages()[pp.index()].pp_ref
}

fn set_page_ref(pp: PageNum, r: u16) {
    PAGES.lock().pages()[pp.index()].pp_ref = r;
}

/// A page-table entry's location, to read: table + index.
#[derive(Clone, Copy, Debug)]
pub struct PteRef {
    table: PageTable,
    idx: usize,
}

impl PteRef {
    #[inline]
    pub fn get(self) -> Entry {
        self.table.get(self.idx)
    }
    /// Kernel virtual address of the entry (what JOS's pgdir_walk returns).
    pub fn kva(self) -> u32 {
        self.table.pa.get() + KERNBASE + 4 * self.idx as u32
    }
}

/// A page-table entry's location, to write: borrowed from its directory's write handle (what
/// [`pgdir_walk`] returns).
#[derive(Debug)]
pub struct PteMut<'a> {
    table: PageTableMut<'a>,
    idx: usize,
}

impl PteMut<'_> {
    #[inline]
    pub fn get(&self) -> Entry {
        self.table.get(self.idx)
    }
    #[inline]
    pub fn set(&mut self, v: Entry) {
        self.table.set(self.idx, v)
    }
    /// The entry to read (a view: it cannot write, so it may outlive this borrow).
    #[inline]
    pub fn view(&self) -> PteRef {
        PteRef {
            table: self.table.view(),
            idx: self.idx,
        }
    }
}

/// Given `pgdir`, return the page table entry for linear address `va`, allocating a new
/// page-table page when `create` (JOS's pgdir_walk). `None` when the table doesn't exist
/// and `create` is false, or the allocation failed. The entry is borrowed from `pgdir`, the
/// directory's write handle (to only read an entry, `PageTable::walk` needs none).
pub fn pgdir_walk<'a>(pgdir: &'a mut PgdirMut, va: u32, create: bool) -> Option<PteMut<'a>> {
    // LAB 2: BEGIN pgdir_walk
    // HINT: Look up the page table through the PDE for va; if absent and `create`, allocate a
    // HINT: zeroed page (count it with page_incref) and install it with P|W|U. Return the PTE slot,
    // HINT: in a PageTableMut of that table (borrowed from `pgdir`, as the signature says).
    let pde = pgdir.get(pdx(va));
    let table = if pde.present() {
        pde.frame()
    } else {
        if !create {
            return None;
        }
        let pp = page_alloc(true)?;
        // A fresh page: its count goes from 0 to 1 and cannot saturate.
        page_incref(pp).ok()?;
        // Permissions at the directory level are permissive; the PTEs restrict.
        pgdir.set(pdx(va), Entry::new(page2pa(pp), Pte::P | Pte::W | Pte::U));
        page2pa(pp)
    };
    Some(PteMut {
        // SAFETY: `table` is the page table the PDE for va points at (found present, or the
        // fresh zeroed page just installed there); the result borrows `pgdir`, its owner's
        // write handle, for as long as it lives.
        table: unsafe { PageTableMut::from_pa(table) },
        idx: ptx(va),
    })
    // LAB 2: END pgdir_walk
}

/// Map [va, va+size) of virtual address space to physical [pa, pa+size) in `pgdir` with
/// permissions `perm | P`. Only for static mappings above UTOP, set up at boot.
pub fn boot_map_region(pgdir: &mut PgdirMut, va: u32, size: u32, pa: PhysAddr, perm: Pte) {
    // LAB 2: BEGIN boot_map_region
    // HINT: Map each page of [va, va+size) to [pa, pa+size) with perm|P (pgdir_walk with create).
    let npg = size / PGSIZE;
    let flags = perm | Pte::P;
    // A page table at a time: one walk per table, then a plain loop over its entries (JOS
    // walks from the directory for every page: 65,536 walks to map 256 MiB at KERNBASE).
    let mut i = 0;
    while i < npg {
        let a = va.wrapping_add(i * PGSIZE);
        let mut first =
            pgdir_walk(pgdir, a, true).unwrap_or_else(|| panic!("boot_map_region: out of memory"));
        let n = (NPTENTRIES - ptx(a)).min((npg - i) as usize);
        // (Wrapping: the mapping at KERNBASE runs to the top of the address space.)
        let frame = PhysAddr::new(pa.get().wrapping_add(i * PGSIZE));
        first.table.fill(first.idx, n, Entry::new(frame, flags));
        i += n as u32;
    }
    // LAB 2: END boot_map_region
}

/// Map physical page `pp` at `va` with permissions `perm | P`, replacing any page already
/// there. Re-inserting the same page at the same address only changes the permissions (so
/// it works even when the page's count is saturated). -E_NO_MEM if no page table can be
/// allocated or `pp`'s reference count is saturated; nothing changes then.
#[inline]
pub fn page_insert(pgdir: &mut PgdirMut, pp: PageNum, va: UserPage, perm: Pte) -> Result<()> {
    insert(pgdir.reborrow(), pp, va.addr(), perm)
}

/// Unmap the physical page at `va`, if any (silently does nothing otherwise).
#[inline]
pub fn page_remove(pgdir: &mut PgdirMut, va: UserPage) {
    remove(pgdir.reborrow(), va.addr())
}

// CHALLENGE: BEGIN sys_page_dup-range
// STUB: // (fork's duppage in the kernel, over a range of pages)
/// The most a [`dup_range`] call does before it stops and says where to go on: mappings, and
/// page tables of the source it looks into. Each keeps one system call's hold of the big lock
/// bounded (about 30 instructions per mapping and 500 per table scanned: some 40,000 at most,
/// less than forking a 64-page program took one mapping per system call).
pub const DUP_MAX_PAGES: usize = 1024;
pub const DUP_MAX_TABLES: usize = 16;

/// How far a [`dup_range`] call got.
#[must_use]
pub struct Dup {
    /// The first page number not done: the end of the range if it was all done.
    pub next: usize,
    /// The error that stopped it early (`next` is the page that failed), if any.
    pub result: Result<()>,
}

/// Fork's duppage over the user pages `from..to` (page numbers below UTOP) of `src` into
/// `dst` at the same addresses, each mapping exactly what a `sys_page_map` the library's
/// duppage makes would map (so each passes the checks that call makes: page-aligned address
/// below UTOP, valid permissions, the page mapped in `src`, and W only from a writable page):
/// a PTE_SHARE page with its own permissions; a writable or copy-on-write page copy-on-write
/// in `dst`, and in `src` too if it was writable (`src` is remapped after `dst`, as duppage
/// does); any other page read-only. Pages without PTE_U are left out, as fork does.
///
/// Stops after `DUP_MAX_PAGES` mappings or `DUP_MAX_TABLES` source tables (see [`Dup`]); on
/// an error (no memory for a page table of `dst`, a saturated reference count) the mappings
/// before it stand and the rest are not made, as with one call per page. Flushes this CPU's
/// TLB if `src` or `dst` is the address space it runs on; other CPUs are the caller's concern.
/// `dst` is `None` when it is `src` itself (an env naming itself: each page is remapped over
/// itself, as that sys_page_map would).
pub fn dup_range(mut src: PgdirMut, mut dst: Option<PgdirMut>, from: usize, to: usize) -> Dup {
    assert!(from <= to && to <= pgnum(UTOP));
    let src_dir = src.view();
    let dst_pa = dst.as_ref().map_or(src_dir.pa(), |d| d.pa());
    let mut pn = from;
    let mut pages = 0;
    let mut tables = 0;
    let mut result = Ok(());
    while pn < to {
        // The next present page table at or after pn's.
        let dend = to.div_ceil(NPTENTRIES);
        let Some(d) = src_dir.scan_present(pn / NPTENTRIES, dend, |_, _| ControlFlow::Break(()))
        else {
            pn = to;
            break;
        };
        if d * NPTENTRIES > pn {
            pn = d * NPTENTRIES;
        }
        if tables == DUP_MAX_TABLES {
            break;
        }
        tables += 1;
        // (Present: scan_present found it.)
        let Some(src_pt) = src.table_mut(d) else {
            unreachable!()
        };
        let (lo, hi) = (pn - d * NPTENTRIES, (to - d * NPTENTRIES).min(NPTENTRIES));
        // The first user page in this table; `dst`'s table is made (or found) only for it,
        // before the allocator's lock is taken for the table's mappings.
        let user = |_: usize, e: Entry| {
            if e.flags().contains(Pte::U) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let Some(first) = src_pt.view().scan_present(lo, hi, user) else {
            pn = d * NPTENTRIES + hi;
            continue;
        };
        pn = d * NPTENTRIES + first;
        if pages == DUP_MAX_PAGES {
            break;
        }
        let dst_pte = match dst.as_mut() {
            None => None,
            Some(dst) => match pgdir_walk(dst, (pn as u32) << PGSHIFT, true) {
                Some(pte) => Some(pte),
                None => {
                    result = Err(Error::NoMem);
                    break;
                }
            },
        };
        // The write handles of both tables (`src_pt`, `dst_pte`) live across the call.
        let dst_pt = dst_pte.as_ref().map_or(src_pt.view(), |p| p.table.view());
        let mut pa = PAGES.lock();
        let (stop, r) = pa.dup_table(src_pt.view(), dst_pt, first, hi, &mut pages);
        drop(pa);
        pn = d * NPTENTRIES + stop;
        if r.is_err() || stop < hi {
            result = r;
            break;
        }
    }
    // One flush for all the entries changed in the running address space (the source's
    // entries lost W; the destination's, if it is ours).
    let cur = current_pgdir();
    if pages > 0 && (cur == src_dir.pa() || cur == dst_pa) {
        flush_tlb();
    }
    Dup { next: pn, result }
}
// CHALLENGE: END sys_page_dup-range

/// Unmap every present entry of user page table `table` (dropping each page's reference),
/// holding the allocator's lock once for the table rather than once per page (env_free).
pub fn release_table(table: PageTableMut) {
    let mut pa = PAGES.lock();
    // (Written below through `base`: the table is ours, `table` being its write handle.)
    let base = table.table.base();
    let block = crate::fpu::SCAN_BLOCK;
    let (pages, npages) = (pa.pages, pa.npages);
    let mut b = 0;
    while b < NPTENTRIES / block {
        // SAFETY: `base + b * 32` is 128-byte aligned and the blocks lie inside the table.
        b += unsafe { crate::fpu::zero_blocks(base.add(b * block), NPTENTRIES / block - b) };
        for i in (b * block)..((b + 1) * block).min(NPTENTRIES) {
            // SAFETY: entry i < 1024 of a page-table page (see `PageTable::get`).
            let e = unsafe { ptr::read_volatile(base.add(i)) };
            if e & Pte::P.bits() == 0 {
                continue;
            }
            // SAFETY: as above.
            unsafe { ptr::write_volatile(base.add(i), 0) };
            let ppn = (e >> PGSHIFT) as usize;
            if ppn >= npages {
                pa2page(PhysAddr::new(e)); // (panics: no such page)
            }
            // The common case inline: a page still referenced elsewhere (shared with the
            // parent, copy-on-write): one less reference. The last reference frees it.
            // SAFETY: ppn < npages: a record of the pages array, ours under the lock.
            let r = unsafe { &mut (*pages.add(ppn)).pp_ref };
            if *r > 1 {
                *r -= 1;
            } else {
                // (The test above makes this one's, which the compiler drops.)
                pa.decref(PageNum::new(ppn, npages).expect("checked above"));
            }
        }
        b += 1;
    }
}

/// `page_insert` in any page directory: for the boot CPU's self-checks on kern_pgdir (before
/// any other CPU or env exists) and for `page_insert`. The handle by value, not `&mut`: not
/// inlined, it would cost a load through the reference on every insert.
pub(crate) fn insert(mut pgdir: PgdirMut, pp: PageNum, va: u32, perm: Pte) -> Result<()> {
    // LAB 2: BEGIN page_insert
    // HINT: Walk (creating) to the PTE; count the new mapping and drop the old one's; write the
    // HINT: PTE; invalidate the TLB entry (tlb_invalidate(pgdir.view(), va)). Err(NoMem) if no
    // HINT: page table or the count is saturated. Mind JOS's corner case: pp may be the page
    // HINT: already mapped at va.
    let mut pte = pgdir_walk(&mut pgdir, va, true).ok_or(Error::NoMem)?;
    let old = pte.get();
    let old_pp = old.present().then(|| pa2page(old.frame()));
    // The same page again is a permission change: no count moves (so it works even when the
    // page's count is saturated). Otherwise take the new reference first: it may be refused.
    if old_pp != Some(pp) {
        // One hold of the allocator's lock for both counts.
        let mut pa = PAGES.lock();
        pa.incref(pp)?;
        if let Some(o) = old_pp {
            pa.decref(o);
        }
    }
    pte.set(Entry::new(page2pa(pp), perm | Pte::P));
    tlb_invalidate(pgdir.view(), va);
    Ok(())
    // LAB 2: END page_insert
}

/// `page_remove` in any page directory (see [`insert`]).
#[inline]
pub(crate) fn remove(mut pgdir: PgdirMut, va: u32) {
    // LAB 2: BEGIN page_remove
    // HINT: If a page is mapped at va: drop its reference, clear the PTE, invalidate the TLB.
    // HINT: (page_lookup reads through a view; the PTE to clear comes from pgdir_walk.)
    let Some(mut pte) = pgdir_walk(&mut pgdir, va, false) else {
        return;
    };
    let e = pte.get();
    if e.present() {
        PAGES.lock().decref(pa2page(e.frame()));
        pte.set(Entry::EMPTY);
        tlb_invalidate(pgdir.view(), va);
    }
    // LAB 2: END page_remove
}

/// The page mapped at `va`, with its PTE.
#[inline]
pub fn page_lookup(pgdir: PageTable, va: u32) -> Option<(PageNum, PteRef)> {
    // LAB 2: BEGIN page_lookup
    // HINT: The page mapped at va and its PTE, or None (no page table, or PTE not present):
    // HINT: pgdir.walk(va), pgdir_walk's read-only twin.
    let pte = pgdir.walk(va)?;
    let e = pte.get();
    if !e.present() {
        return None;
    }
    Some((pa2page(e.frame()), pte))
    // LAB 2: END page_lookup
}

/// Invalidate a TLB entry, but only if the page tables being edited are the ones currently
/// in use by the processor.
pub fn tlb_invalidate(pgdir: PageTable, va: u32) {
    if current_pgdir() == pgdir.pa() {
        // SAFETY: invlpg only drops a cached translation.
        unsafe { x86::tlb::flush(va as usize) }
    }
}

// ---- TLB shootdown (not in JOS) ------------------------------------------------------------
//
// `tlb_invalidate` only flushes this CPU's TLB. When a system call changes the page tables of
// an env that is running on another CPU (a parent unmapping a page of its running child), that
// CPU may go on using the old translation: once the page is freed and handed to another env,
// the child would read and write that env's memory. JOS has this hole; here the CPU changing
// the tables calls `tlb_shootdown` before it releases the big lock (so the freed page cannot be
// handed out yet), which does not return until the other CPU can no longer use a stale entry.

/// Flush this CPU's TLB (all non-global entries).
fn flush_tlb() {
    // SAFETY: reloading CR3 with its own value only drops cached translations.
    unsafe { x86::controlregs::cr3_write(x86::controlregs::cr3()) }
}

/// Make CPU `cpu`, which runs an env whose page tables the caller (holding the big lock) just
/// changed, drop its stale translations before it uses them again.
///
/// If it is in user mode, an IPI makes it flush now and we wait for that; if it is in the
/// kernel (which never reaches user memory through user addresses), it flushes on its way
/// back to user mode (`leaving_for_user`). The two flags are a Dekker pair: each side writes
/// its own, then reads the other's, both sequentially consistent.
pub fn tlb_shootdown(cpu: CpuId) {
    let c = crate::cpu::cpu(cpu);
    c.tlb_stale.store(true, Ordering::SeqCst);
    if !c.in_user.load(Ordering::SeqCst) {
        return;
    }
    // (CPU index = APIC id, as JOS assumes.)
    crate::lapic::lapic_ipi(cpu.index(), crate::trap::T_TLB_SHOOTDOWN);
    while c.tlb_stale.load(Ordering::SeqCst) && c.in_user.load(Ordering::SeqCst) {
        core::hint::spin_loop();
    }
}

/// This CPU (`cpu`) entered the kernel from user mode.
///
/// A release store is enough (one `mov`, no `xchg`): until it is seen, a CPU shooting down
/// sends an IPI it did not need (handled whenever this CPU enables interrupts again), and it
/// is seen before this CPU takes the big lock (a locked `xchg`), so a shooter holding the
/// lock and waiting for it is never waiting on a store still in this CPU's buffer.
#[inline(always)]
pub fn entered_kernel(cpu: CpuId) {
    crate::cpu::cpu(cpu).in_user.store(false, Ordering::Release);
}

/// This CPU (`cpu`) is about to return to user mode: flush if another CPU asked.
#[inline(always)]
pub fn leaving_for_user(cpu: CpuId) {
    let c = crate::cpu::cpu(cpu);
    c.in_user.store(true, Ordering::SeqCst);
    if c.tlb_stale.load(Ordering::SeqCst) {
        c.tlb_stale.store(false, Ordering::SeqCst);
        flush_tlb();
    }
}

/// The shootdown IPI, taken in user mode (or anywhere interrupts are on): flush now.
pub fn tlb_shootdown_ipi() {
    let c = crate::cpu::thiscpu();
    flush_tlb();
    c.tlb_stale.store(false, Ordering::SeqCst);
}

/// Reserve `size` bytes in the MMIO region and map [pa, pa+size) there, cache-disabled and
/// write-through. Returns the base of the reserved region. Panics past MMIOLIM.
pub fn mmio_map_region(pa: PhysAddr, size: u32) -> KernVa {
    let pa = pa.get();
    // LAB 2: BEGIN mmio_map_region
    // HINT: Reserve the page-rounded size from KERN_AS's mmio_next (panic past MMIOLIM) and map it
    // HINT: there in its kern_pgdir (kas.pgdir()) with PCD|PWT|W; return the address of pa in it
    // HINT: (check_page tests this).
    let mut kas = KERN_AS.lock();
    let start = round_down(pa, PGSIZE);
    let size = round_up(pa - start + size, PGSIZE);
    let base = kas.mmio_next;
    if size > MMIOLIM - base {
        panic!("mmio_map_region: reservation overflows MMIOLIM");
    }
    boot_map_region(
        kas.pgdir(),
        base,
        size,
        PhysAddr::new(start),
        Pte::PCD | Pte::PWT | Pte::W,
    );
    kas.mmio_next += size;
    KernVa::new(base + (pa - start))
    // LAB 2: END mmio_map_region
}

/// The first address in [va, va+len) that an env with page directory `pgdir` may not access
/// with `perm | P` (JOS's user_mem_check).
pub fn user_mem_check(
    pgdir: PageTable,
    va: u32,
    len: u32,
    perm: Pte,
) -> core::result::Result<(), u32> {
    match kern_logic::usermem::first_bad(va, len, perm, |a| {
        pgdir.walk(a).map_or(0, |p| p.get().bits())
    }) {
        None => Ok(()),
        Some(bad) => Err(bad),
    }
}

/// Check that env `i` (running on `cpu`) may access [va, va+len) with `perm | PTE_U`. If it
/// cannot, print JOS's message and destroy it (`Err`: the caller must not touch it again).
pub fn user_mem_assert(
    t: &mut EnvTable,
    cpu: CpuId,
    i: kern_logic::envid::EnvIdx,
    va: u32,
    len: u32,
    perm: Pte,
) -> Result<()> {
    if let Err(bad) = user_mem_check(t.pgdir(i), va, len, perm | Pte::U) {
        let id = t.id(i);
        cprintf!(
            "[{:08x}] user_mem_check assertion failure for va {:08x}\n",
            id,
            bad
        );
        let _ = env::env_destroy(t, cpu, i);
        return Err(Error::Fault);
    }
    Ok(())
}

/// `user_mem_assert` of [va, va + src.len()) with `perm` for env `i`, then `copy_to_user` of
/// `src` there, in one page-table walk when the range lies in one page (an upcall's frame on
/// the exception stack: the check's walk and the copy's were most of delivering it). The same
/// checks, first bad address and message as user_mem_assert; Err (the env destroyed) if it
/// fails.
pub fn user_write_assert(
    t: &mut EnvTable,
    cpu: CpuId,
    i: kern_logic::envid::EnvIdx,
    va: u32,
    src: &[u8],
    perm: Pte,
) -> Result<()> {
    let len = src.len() as u32;
    let need = (perm | Pte::U | Pte::P).bits();
    if len > 0 && va < ULIM && pgoff(va) + len <= PGSIZE {
        let e = t.pgdir(i).walk(va).map_or(0, |p| p.get().bits());
        if e & need == need {
            let pp = pa2page(PhysAddr::new(e & !(PGSIZE - 1)));
            let dst = page2kva(pp).get() + pgoff(va);
            // SAFETY: `len` bytes inside one physical page mapped at KERNBASE, which env i maps
            // writable at va (checked just now); `src` is kernel memory.
            unsafe { ptr::copy_nonoverlapping(src.as_ptr(), dst as *mut u8, src.len()) };
            return Ok(());
        }
    }
    user_mem_assert(t, cpu, i, va, len, perm)?;
    let pgdir = t.pgdir(i);
    copy_to_user(pgdir, va, src)
}

/// Walk the user range [va, va+len) of `pgdir` a piece at a time: `f(kva, done, n)` gets the
/// kernel address of the next `n` bytes (inside one mapped physical page, through the KERNBASE
/// mapping) and how many bytes came before them. Fails at the first unmapped page, or if the
/// range wraps.
#[inline(always)]
fn for_user_pages(
    pgdir: PageTable,
    va: u32,
    len: usize,
    mut f: impl FnMut(usize, usize, usize),
) -> Result<()> {
    let mut done = 0usize;
    while done < len {
        let a = va.checked_add(done as u32).ok_or(Error::Fault)?;
        let (pp, _) = page_lookup(pgdir, round_down(a, PGSIZE)).ok_or(Error::Fault)?;
        let off = pgoff(a) as usize;
        let n = (PGSIZE as usize - off).min(len - done);
        f(page2kva(pp).get() as usize + off, done, n);
        done += n;
    }
    Ok(())
}

/// Copy `src` to user address `va` of the address space `pgdir`, through the kernel's
/// mapping of each destination page (the pages must be mapped).
#[inline]
pub fn copy_to_user(pgdir: PageTable, va: u32, src: &[u8]) -> Result<()> {
    for_user_pages(pgdir, va, src.len(), |kva, done, n| {
        // SAFETY: the destination is `n` bytes inside one physical page mapped at KERNBASE,
        // owned by this env's address space.
        unsafe { ptr::copy_nonoverlapping(src[done..].as_ptr(), kva as *mut u8, n) }
    })
}

/// [`copy_from_user`] into memory not initialized yet (a system call's buffer on the kernel
/// stack, which would otherwise be zeroed only to be overwritten): the bytes, on success.
pub fn copy_from_user_uninit(
    pgdir: PageTable,
    va: u32,
    dst: &mut [core::mem::MaybeUninit<u8>],
) -> Result<&mut [u8]> {
    let to = dst.as_mut_ptr().cast::<u8>();
    for_user_pages(pgdir, va, dst.len(), |kva, done, n| {
        // SAFETY: `n` bytes inside one mapped physical page, read through KERNBASE, into
        // dst[done..done + n] (for_user_pages stays within dst.len()).
        unsafe { ptr::copy_nonoverlapping(kva as *const u8, to.add(done), n) }
    })?;
    // SAFETY: for_user_pages succeeded, so every byte of `dst` was written.
    Ok(unsafe { &mut *(core::ptr::from_mut(dst) as *mut [u8]) })
}

/// Copy user memory [va, va+dst.len()) of `pgdir` into `dst`, through the kernel mapping.
/// Fails if a page is unmapped.
#[inline]
pub fn copy_from_user(pgdir: PageTable, va: u32, dst: &mut [u8]) -> Result<()> {
    for_user_pages(pgdir, va, dst.len(), |kva, done, n| {
        // SAFETY: `n` bytes inside one mapped physical page, read through KERNBASE.
        unsafe { ptr::copy_nonoverlapping(kva as *const u8, dst[done..].as_mut_ptr(), n) }
    })
}
