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
//! accesses to it go through [`PageTable`], the one named place that touches it.

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
use kern_logic::refcount::{self, Remap};

use crate::cprintf;
use crate::cpu::CpuId;
use crate::env::{self, EnvTable};
use crate::kclock::{NVRAM_BASELO, NVRAM_EXT16LO, NVRAM_EXTLO, nvram_read};
use crate::spinlock::{Mutex, rank};

mod check;

/// Physical address of a kernel virtual address (JOS's PADDR).
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

/// A page directory or page table: a physical page of 1024 entries, accessed through the
/// KERNBASE mapping. This is the one place that reads and writes page-table memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageTable {
    pa: PhysAddr,
}

impl PageTable {
    /// The page table at physical address `pa`.
    ///
    /// # Safety
    /// `pa` must be the address of a page that is a page directory or page table (allocated
    /// as one by page_alloc or boot_alloc, or kern_pgdir) for as long as the result is used:
    /// through it the kernel writes that page as entries the MMU obeys, so any other page
    /// (kernel data, a user's page) would become a page table its owner controls.
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
    #[inline]
    pub fn set(self, i: usize, v: Entry) {
        // SAFETY: as in `get`; the caller holds the lock that owns this address space.
        unsafe { ptr::write_volatile(self.slot(i), v.bits()) }
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

    /// Entries `first..first+n` map consecutive pages from `entry` (a frame address with
    /// its permission bits) on: boot_map_region's inner loop. The arithmetic wraps by design
    /// (a mapping may run to the top of the address space; the frame part is what matters).
    // HANDOUT: #[allow(dead_code)] // boot_map_region's (lab 2) once written
    fn fill(self, first: usize, n: usize, entry: Entry) {
        assert!(first + n <= NPTENTRIES);
        // SAFETY: entries first..first+n of this table, which the caller (boot, mapping the
        // kernel's address space) owns; four at a time with SSE (`fpu::fill_step`).
        unsafe { crate::fpu::fill_step(self.slot(first), n, entry.bits(), PGSIZE) }
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
            // STUB: self.free_page(pp);
            if page.pp_link != 0 || free.is_head(pp.index()) {
                already_free(pp);
            }
            free.push(pages, pp.index());
            self.free = free;
            // LAB 2: END page_decref-free
        }
    }

    // CHALLENGE: BEGIN sys_page_dup-table
    // STUB: // (fork's duppage in the kernel: one page table's part)
    /// dup_range's work in one page table: entries `from..to` of `src`, present and user,
    /// mapped into the same entries of `dst` (see `dup_range` for the permissions), until
    /// `budget` mappings are made. Returns the entry it stopped at (`to` if it did all) and
    /// the error that stopped it, if any (a saturated count).
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
                // SAFETY: as above (the child's first, as duppage does).
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
        if pages[i].pp_ref != 0 || pages[i].pp_link != 0 || free.is_head(i) {
            already_free(pp);
        }
        free.push(pages, i);
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
/// Next free address of the MMIO region.
static MMIO_NEXT: Mutex<u32, rank::MmioNext> = Mutex::new(MMIOBASE);

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
    let n = pa.page_number();
    if n >= npages() {
        panic!("pa2page called with invalid pa");
    }
    PageNum::new(n)
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

/// Kernel virtual address of the envs' FPU save areas.
pub fn fpu_areas_kva() -> KernVa {
    KernVa::new(FPU_AREAS_KVA.load(Ordering::Relaxed))
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
    // SAFETY: the page boot_alloc just gave us, zeroed, becomes the kernel's page directory.
    let pgdir = unsafe { PageTable::from_pa(paddr(pgdir_kva)) };

    // Recursively insert PD in itself as a page table, to form a virtual page table at
    // virtual address UVPT.
    pgdir.set(pdx(UVPT), Entry::new(paddr(pgdir_kva), Pte::U | Pte::P));

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

    // Check that the initial page directory has been set up correctly.
    check::check_kern_pgdir();

    // Switch from the minimal entry page directory to the full kern_pgdir page table we
    // just created.
    load_pgdir(pgdir);

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
fn mem_init_mp(pgdir: PageTable) {
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
pub fn load_pgdir(pgdir: impl Into<PageTable>) {
    let pgdir: PageTable = pgdir.into();
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
        PageNum::new(r?)
    };
    if zero {
        // SAFETY: the page just left the free list: nobody else refers to it.
        unsafe { crate::fpu::zero_page(page2kva(pp).as_ptr()) }
    }
    Some(pp)
    // LAB 2: END page_alloc
}

/// Copy physical page `src` into physical page `dst` (through KERNBASE).
pub fn copy_page(dst: PageNum, src: PageNum) {
    // SAFETY: two distinct pages of physical memory, mapped at KERNBASE; `dst` is freshly
    // allocated and owned by the caller, `src` is read only.
    unsafe { crate::fpu::copy_page(page2kva(dst).as_ptr(), page2kva(src).as_ptr()) }
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

/// A page-table entry's location: table + index.
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
    #[inline]
    pub fn set(self, v: Entry) {
        self.table.set(self.idx, v)
    }
    /// Kernel virtual address of the entry (what JOS's pgdir_walk returns).
    pub fn kva(self) -> u32 {
        self.table.pa.get() + KERNBASE + 4 * self.idx as u32
    }
}

/// Given `pgdir`, return the page table entry for linear address `va`, allocating a new
/// page-table page when `create` (JOS's pgdir_walk). `None` when the table doesn't exist
/// and `create` is false, or the allocation failed.
pub fn pgdir_walk(pgdir: PageTable, va: u32, create: bool) -> Option<PteRef> {
    // LAB 2: BEGIN pgdir_walk
    // HINT: Look up the page table through the PDE for va; if absent and `create`, allocate a
    // HINT: zeroed page (count it with page_incref) and install it with P|W|U. Return the PTE slot.
    let pde = pgdir.get(pdx(va));
    let table = if pde.present() {
        // SAFETY: a present PDE of a page directory points at one of its page tables.
        unsafe { PageTable::from_pa(pde.frame()) }
    } else {
        if !create {
            return None;
        }
        let pp = page_alloc(true)?;
        // A fresh page: its count goes from 0 to 1 and cannot saturate.
        page_incref(pp).ok()?;
        // Permissions at the directory level are permissive; the PTEs restrict.
        pgdir.set(pdx(va), Entry::new(page2pa(pp), Pte::P | Pte::W | Pte::U));
        // SAFETY: the fresh, zeroed page is from now on this directory's page table.
        unsafe { PageTable::from_pa(page2pa(pp)) }
    };
    Some(PteRef {
        table,
        idx: ptx(va),
    })
    // LAB 2: END pgdir_walk
}

/// Map [va, va+size) of virtual address space to physical [pa, pa+size) in `pgdir` with
/// permissions `perm | P`. Only for static mappings above UTOP, set up at boot.
pub fn boot_map_region(pgdir: PageTable, va: u32, size: u32, pa: PhysAddr, perm: Pte) {
    // LAB 2: BEGIN boot_map_region
    // HINT: Map each page of [va, va+size) to [pa, pa+size) with perm|P (pgdir_walk with create).
    let npg = size / PGSIZE;
    let flags = perm | Pte::P;
    // A page table at a time: one walk per table, then a plain loop over its entries (JOS
    // walks from the directory for every page: 65,536 walks to map 256 MiB at KERNBASE).
    let mut i = 0;
    while i < npg {
        let a = va.wrapping_add(i * PGSIZE);
        let first =
            pgdir_walk(pgdir, a, true).unwrap_or_else(|| panic!("boot_map_region: out of memory"));
        let n = (NPTENTRIES - ptx(a)).min((npg - i) as usize);
        // (Wrapping: the mapping at KERNBASE runs to the top of the address space.)
        let frame = PhysAddr::new(pa.get().wrapping_add(i * PGSIZE));
        first.table.fill(first.idx, n, Entry::new(frame, flags));
        i += n as u32;
    }
    // LAB 2: END boot_map_region
}

/// A user env's page directory, as handed out by the env table (`EnvTable::pgdir`). The env
/// table is reachable only through the big kernel lock's token (`spinlock::BigLocked`), and a
/// `UserPgdir` cannot outlive that borrow: holding one proves this CPU holds the big lock, so
/// the functions that edit a user address space take one and need no runtime check. (JOS
/// relies on convention; this port checked at run time until the type carried the proof.)
#[derive(Clone, Copy, Debug)]
pub struct UserPgdir<'t> {
    table: PageTable,
    _locked: PhantomData<&'t ()>,
}

impl UserPgdir<'_> {
    /// # Safety
    /// The caller holds the big kernel lock for the lifetime of the result (it borrows the
    /// env table), and `table` is a live env's page directory.
    #[inline]
    pub unsafe fn new(table: PageTable) -> Self {
        UserPgdir {
            table,
            _locked: PhantomData,
        }
    }

    #[inline]
    pub fn table(self) -> PageTable {
        self.table
    }
}

impl From<UserPgdir<'_>> for PageTable {
    #[inline]
    fn from(u: UserPgdir<'_>) -> PageTable {
        u.table
    }
}

/// Map physical page `pp` at `va` with permissions `perm | P`, replacing any page already
/// there. Re-inserting the same page at the same address only changes the permissions (so
/// it works even when the page's count is saturated). -E_NO_MEM if no page table can be
/// allocated or `pp`'s reference count is saturated; nothing changes then.
#[inline]
pub fn page_insert(pgdir: UserPgdir, pp: PageNum, va: UserPage, perm: Pte) -> Result<()> {
    insert(pgdir.table, pp, va.addr(), perm)
}

/// Unmap the physical page at `va`, if any (silently does nothing otherwise).
#[inline]
pub fn page_remove(pgdir: UserPgdir, va: UserPage) {
    remove(pgdir.table, va.addr())
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
pub fn dup_range(src: UserPgdir, dst: UserPgdir, from: usize, to: usize) -> Dup {
    assert!(from <= to && to <= pgnum(UTOP));
    let (src_dir, dst_dir) = (src.table, dst.table);
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
        // SAFETY: a present PDE below UTOP of a user page directory points at its page table.
        let src_pt = unsafe { PageTable::from_pa(src_dir.get(d).frame()) };
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
        let Some(first) = src_pt.scan_present(lo, hi, user) else {
            pn = d * NPTENTRIES + hi;
            continue;
        };
        pn = d * NPTENTRIES + first;
        if pages == DUP_MAX_PAGES {
            break;
        }
        let Some(dst_pte) = pgdir_walk(dst_dir, (pn as u32) << PGSHIFT, true) else {
            result = Err(Error::NoMem);
            break;
        };
        let mut pa = PAGES.lock();
        let (stop, r) = pa.dup_table(src_pt, dst_pte.table, first, hi, &mut pages);
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
    if pages > 0 && (cur == src_dir.pa() || cur == dst_dir.pa()) {
        flush_tlb();
    }
    Dup { next: pn, result }
}
// CHALLENGE: END sys_page_dup-range

/// Unmap every present entry of user page table `table` (dropping each page's reference),
/// holding the allocator's lock once for the table rather than once per page (env_free).
pub fn release_table(table: PageTable) {
    let mut pa = PAGES.lock();
    let base = table.base();
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
                pa.decref(PageNum::new(ppn));
            }
        }
        b += 1;
    }
}

/// `page_insert` in any page directory: for the boot CPU's self-checks on kern_pgdir (before
/// any other CPU or env exists) and for `page_insert`.
pub(crate) fn insert(pgdir: PageTable, pp: PageNum, va: u32, perm: Pte) -> Result<()> {
    // LAB 2: BEGIN page_insert
    // HINT: Walk (creating) to the PTE; take a reference to pp and drop the old page's (the corner
    // HINT: case: the same page at the same va, see kern_logic::refcount::remap); write the PTE;
    // HINT: invalidate the TLB entry. Err(NoMem) if no page table or the count is saturated.
    let pte = pgdir_walk(pgdir, va, true).ok_or(Error::NoMem)?;
    let old = pte.get();
    let old_pp = old.present().then(|| pa2page(old.frame()));
    if let Remap::Replace { old } = refcount::remap(old_pp, pp) {
        // One hold of the allocator's lock for both counts.
        let mut pa = PAGES.lock();
        pa.incref(pp)?;
        if let Some(o) = old {
            pa.decref(o);
        }
    }
    pte.set(Entry::new(page2pa(pp), perm | Pte::P));
    tlb_invalidate(pgdir, va);
    Ok(())
    // LAB 2: END page_insert
}

/// `page_remove` in any page directory (see [`insert`]).
#[inline]
pub(crate) fn remove(pgdir: PageTable, va: u32) {
    // LAB 2: BEGIN page_remove
    // HINT: If a page is mapped at va: drop its reference, clear the PTE, invalidate the TLB.
    if let Some((pp, pte)) = page_lookup(pgdir, va) {
        PAGES.lock().decref(pp);
        pte.set(Entry::EMPTY);
        tlb_invalidate(pgdir, va);
    }
    // LAB 2: END page_remove
}

/// The page mapped at `va`, with its PTE.
#[inline]
pub fn page_lookup(pgdir: impl Into<PageTable>, va: u32) -> Option<(PageNum, PteRef)> {
    // LAB 2: BEGIN page_lookup
    // HINT: The page mapped at va and its PTE, or None (no page table, or PTE not present).
    let pte = pgdir_walk(pgdir.into(), va, false)?;
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
#[inline(always)]
pub fn entered_kernel(cpu: CpuId) {
    crate::cpu::cpu(cpu).in_user.store(false, Ordering::SeqCst);
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
    // HINT: Reserve the page-rounded size from MMIO_NEXT (panic past MMIOLIM) and map it there with
    // HINT: PCD|PWT|W; return the address of pa in it (check_page tests this).
    let mut next = MMIO_NEXT.lock();
    let start = round_down(pa, PGSIZE);
    let size = round_up(pa - start + size, PGSIZE);
    let base = *next;
    if size > MMIOLIM - base {
        panic!("mmio_map_region: reservation overflows MMIOLIM");
    }
    boot_map_region(
        kern_pgdir(),
        base,
        size,
        PhysAddr::new(start),
        Pte::PCD | Pte::PWT | Pte::W,
    );
    *next += size;
    KernVa::new(base + (pa - start))
    // LAB 2: END mmio_map_region
}

/// The first address in [va, va+len) that an env with page directory `pgdir` may not access
/// with `perm | P` (JOS's user_mem_check).
pub fn user_mem_check(
    pgdir: impl Into<PageTable>,
    va: u32,
    len: u32,
    perm: Pte,
) -> core::result::Result<(), u32> {
    let pgdir = pgdir.into();
    match kern_logic::usermem::first_bad(va, len, perm, |a| {
        pgdir_walk(pgdir, a, false).map_or(0, |p| p.get().bits())
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
        let e = pgdir_walk(t.pgdir(i).table, va, false).map_or(0, |p| p.get().bits());
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
pub fn copy_to_user(pgdir: impl Into<PageTable>, va: u32, src: &[u8]) -> Result<()> {
    for_user_pages(pgdir.into(), va, src.len(), |kva, done, n| {
        // SAFETY: the destination is `n` bytes inside one physical page mapped at KERNBASE,
        // owned by this env's address space.
        unsafe { ptr::copy_nonoverlapping(src[done..].as_ptr(), kva as *mut u8, n) }
    })
}

/// [`copy_from_user`] into memory not initialized yet (a system call's buffer on the kernel
/// stack, which would otherwise be zeroed only to be overwritten): the bytes, on success.
pub fn copy_from_user_uninit(
    pgdir: impl Into<PageTable>,
    va: u32,
    dst: &mut [core::mem::MaybeUninit<u8>],
) -> Result<&mut [u8]> {
    let to = dst.as_mut_ptr().cast::<u8>();
    for_user_pages(pgdir.into(), va, dst.len(), |kva, done, n| {
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
pub fn copy_from_user(pgdir: impl Into<PageTable>, va: u32, dst: &mut [u8]) -> Result<()> {
    for_user_pages(pgdir.into(), va, dst.len(), |kva, done, n| {
        // SAFETY: `n` bytes inside one mapped physical page, read through KERNBASE.
        unsafe { ptr::copy_nonoverlapping(kva as *const u8, dst[done..].as_mut_ptr(), n) }
    })
}
