//! Physical memory and page tables (JOS's kern/pmap.c): memory detection, the boot-time
//! allocator, the `pages` array and its free list, two-level page tables, the kernel's address
//! space, MMIO mappings, user pointer checks and JOS's self-checks.
//!
//! Page-table memory is reached through the KERNBASE mapping of physical memory; all raw
//! accesses to it go through [`PageTable`], the one named place that touches it.

use core::ptr;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use jos_inc::env::{Env, NENV};
use jos_inc::error::{Error, Result};
use jos_inc::memlayout::*;
use jos_inc::mmu::*;
use kern_logic::pagelist::FreeList;
use kern_logic::refcount::{self, Remap};
use spin::Mutex as BootMutex;

use crate::spinlock::Mutex;

use crate::kclock::{NVRAM_BASEMEM, NVRAM_EXT16MEM, NVRAM_EXTMEM, nvram_read};

/// Physical address of a kernel virtual address (JOS's PADDR).
#[track_caller]
pub fn paddr(kva: u32) -> u32 {
    if kva < KERNBASE {
        panic!("PADDR called with invalid kva {:08x}", kva);
    }
    kva - KERNBASE
}

/// Kernel virtual address of a physical address (JOS's KADDR).
#[track_caller]
pub fn kaddr(pa: u32) -> u32 {
    let npages = npages();
    if npages != 0 && pgnum(pa) >= npages {
        panic!("KADDR called with invalid pa {:08x}", pa);
    }
    pa + KERNBASE
}

/// A page directory or page table: a physical page of 1024 entries, accessed through the
/// KERNBASE mapping. This is the one place that reads and writes page-table memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageTable {
    pa: u32,
}

impl PageTable {
    /// The page table at physical address `pa`.
    ///
    /// # Safety
    /// `pa` must be the address of a page that is a page directory or page table (allocated
    /// as one by page_alloc or boot_alloc, or kern_pgdir) for as long as the result is used:
    /// through it the kernel writes that page as entries the MMU obeys, so any other page
    /// (kernel data, a user's page) would become a page table its owner controls.
    pub const unsafe fn from_pa(pa: u32) -> PageTable {
        PageTable { pa }
    }
    pub fn pa(self) -> u32 {
        self.pa
    }
    #[inline]
    fn slot(self, i: usize) -> *mut u32 {
        assert!(i < NPDENTRIES);
        // `pa` is below 256 MiB (page-table pages are physical memory the kernel maps at
        // KERNBASE), so OR-ing in KERNBASE is exact and the sum cannot overflow.
        ((self.pa | KERNBASE) + 4 * i as u32) as *mut u32
    }
    pub fn get(self, i: usize) -> u32 {
        // SAFETY: `pa` is a page-table page of physical memory below 256 MiB (allocated by
        // page_alloc or boot_alloc), mapped at KERNBASE; `i` < 1024. Volatile because the
        // MMU (accessed/dirty bits) and user space (through UVPT) see this memory too.
        unsafe { ptr::read_volatile(self.slot(i)) }
    }
    pub fn set(self, i: usize, v: u32) {
        // SAFETY: as in `get`; the caller holds the lock that owns this address space.
        unsafe { ptr::write_volatile(self.slot(i), v) }
    }

    /// Call `f(i, entry)` for each present entry among the first `n`, skipping empty entries
    /// four at a time (env_free's walk: most entries of an env's tables are empty).
    pub fn for_each_present(self, n: usize, mut f: impl FnMut(usize, u32)) {
        assert!(n <= NPTENTRIES);
        let base = self.slot(0);
        let mut i = 0;
        while i < n {
            if i + 4 <= n {
                // SAFETY: as in `get`; i + 3 < n <= 1024.
                let any = unsafe {
                    ptr::read_volatile(base.add(i))
                        | ptr::read_volatile(base.add(i + 1))
                        | ptr::read_volatile(base.add(i + 2))
                        | ptr::read_volatile(base.add(i + 3))
                };
                if any & Pte::P.bits() == 0 {
                    i += 4;
                    continue;
                }
            }
            // SAFETY: as in `get`; i < n <= 1024.
            let e = unsafe { ptr::read_volatile(base.add(i)) };
            if e & Pte::P.bits() != 0 {
                f(i, e);
            }
            i += 1;
        }
    }

    /// The OR of `entry(first + k) ^ (want + k * PGSIZE)` over `k < n`: zero iff entries
    /// `first..first+n` are exactly consecutive pages from `want` (check_kern_pgdir's loop).
    fn diff_from_run(self, first: usize, n: usize, want: u32) -> u32 {
        assert!(first + n <= NPTENTRIES);
        let base = self.slot(first);
        // Wrapping arithmetic, as in `fill`.
        let step = |w: u32, k: usize| w.wrapping_add((k as u32).wrapping_mul(PGSIZE));
        let mut diff = 0;
        let mut k = 0;
        while k + 4 <= n {
            let w = step(want, k);
            // SAFETY: as in `get`; `first + k + 3` < 1024 (asserted above).
            unsafe {
                diff |= (ptr::read_volatile(base.add(k)) ^ w)
                    | (ptr::read_volatile(base.add(k + 1)) ^ step(w, 1))
                    | (ptr::read_volatile(base.add(k + 2)) ^ step(w, 2))
                    | (ptr::read_volatile(base.add(k + 3)) ^ step(w, 3));
            }
            k += 4;
        }
        while k < n {
            // SAFETY: as above.
            diff |= unsafe { ptr::read_volatile(base.add(k)) } ^ step(want, k);
            k += 1;
        }
        diff
    }

    /// Entries `first..first+n` map consecutive pages from `entry` (a frame address with
    /// its permission bits) on: boot_map_region's inner loop.
    fn fill(self, first: usize, n: usize, entry: u32) {
        assert!(first + n <= NPTENTRIES);
        let base = self.slot(first);
        // Four entries per iteration: boot maps 65,536 pages at KERNBASE this way. The
        // arithmetic wraps by design (the kernel is built with overflow checks): a mapping may
        // run to the top of the address space, and the frame part is what matters.
        let step = |e: u32, k: usize| e.wrapping_add((k as u32).wrapping_mul(PGSIZE));
        let mut k = 0;
        while k + 4 <= n {
            let e = step(entry, k);
            // SAFETY: as in `set`; `first + k + 3` < 1024 (asserted above).
            unsafe {
                ptr::write_volatile(base.add(k), e);
                ptr::write_volatile(base.add(k + 1), step(e, 1));
                ptr::write_volatile(base.add(k + 2), step(e, 2));
                ptr::write_volatile(base.add(k + 3), step(e, 3));
            }
            k += 4;
        }
        while k < n {
            // SAFETY: as above.
            unsafe { ptr::write_volatile(base.add(k), step(entry, k)) }
            k += 1;
        }
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
        let page = &mut self.pages()[pp];
        page.pp_ref = refcount::incref(page.pp_ref).map_err(|_| Error::NoMem)?;
        Ok(())
    }

    /// Drop a reference to page `pp`, freeing it when it was the last.
    #[inline]
    #[track_caller]
    fn decref(&mut self, pp: PageNum) {
        let page = &mut self.pages()[pp];
        let Some((n, zero)) = refcount::decref(page.pp_ref) else {
            panic!("page_decref: page {:#x} has no references", pp);
        };
        page.pp_ref = n;
        if zero {
            self.free_page(pp);
        }
    }

    /// Return page `pp` (no references) to the free list.
    #[inline]
    #[track_caller]
    fn free_page(&mut self, pp: PageNum) {
        // LAB 2: BEGIN page_free
        // HINT: Panic if the page is still referenced or already free; else push it on the free
        // HINT: list.
        let mut free = self.free;
        let pages = self.pages();
        if pages[pp].pp_ref != 0 || pages[pp].pp_link != 0 || free.head() == Some(pp) {
            panic!("page_free: page {:#x} is still in use or already free", pp);
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

static PAGES: Mutex<PageAlloc> = Mutex::new(
    "pages",
    PageAlloc {
        pages: ptr::null_mut(),
        npages: 0,
        free: FreeList::new(0),
    },
);

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
static BOOT_NEXTFREE: BootMutex<u32> = BootMutex::new(0);
/// Next free address of the MMIO region.
static MMIO_NEXT: BootMutex<u32> = BootMutex::new(MMIOBASE);

/// Per-CPU kernel stacks, mapped at kstacktop(i) with guard gaps (mem_init_mp).
#[repr(C, align(4096))]
struct KStacks([[u8; KSTKSIZE as usize]; crate::cpu::NCPU]);
/// In its own section after the bss (kern/kernel.ld), which i386_init does not clear: a stack
/// needs no zeroing, and this is 256 KiB (65,536 instructions of the boot).
#[unsafe(link_section = ".kstacks")]
static mut PERCPU_KSTACKS: KStacks = KStacks([[0; KSTKSIZE as usize]; crate::cpu::NCPU]);

/// A physical page, by page number.
pub type PageNum = usize;

pub fn page2pa(pp: PageNum) -> u32 {
    (pp as u32) << PGSHIFT
}

#[track_caller]
pub fn pa2page(pa: u32) -> PageNum {
    let n = pgnum(pa);
    if n >= npages() {
        panic!("pa2page called with invalid pa");
    }
    n
}

pub fn page2kva(pp: PageNum) -> u32 {
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
    unsafe { PageTable::from_pa(paddr(KERN_PGDIR.load(Ordering::Relaxed))) }
}

/// Kernel virtual address of the envs array.
pub fn envs_kva() -> u32 {
    ENVS_KVA.load(Ordering::Relaxed)
}

/// Kernel virtual address of the envs' FPU save areas.
pub fn fpu_areas_kva() -> u32 {
    FPU_AREAS_KVA.load(Ordering::Relaxed)
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

/// Break the allocator's lock (the panic path, so `meminfo` works after a panic raised with it
/// held).
///
/// # Safety
/// See `spinlock::SpinLock::force_unlock`.
pub unsafe fn force_unlock() {
    // SAFETY: passed on.
    unsafe { PAGES.force_unlock() }
}

fn i386_detect_memory() {
    // Use CMOS calls to measure available base & extended memory (CMOS calls return
    // results in kilobytes).
    let basemem = nvram_read(NVRAM_BASEMEM);
    let extmem = nvram_read(NVRAM_EXTMEM);
    let ext16mem = nvram_read(NVRAM_EXT16MEM) * 64;

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
fn boot_alloc(n: u32) -> u32 {
    unsafe extern "C" {
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
    result
    // LAB 2: END boot_alloc
}

fn zero_kva(kva: u32, len: u32) {
    // SAFETY: [kva, kva+len) is memory just handed out by boot_alloc or page_alloc, mapped
    // at KERNBASE, and owned by the caller.
    unsafe { ptr::write_bytes(kva as *mut u8, 0, len as usize) }
}

/// Set up a two-level page table: kern_pgdir is its linear (virtual) address of the root.
/// This function only sets up the kernel part of the address space (addresses >= UTOP).
pub fn mem_init() {
    i386_detect_memory();

    // Create the initial page directory.
    let pgdir_kva = boot_alloc(PGSIZE);
    zero_kva(pgdir_kva, PGSIZE);
    KERN_PGDIR.store(pgdir_kva, Ordering::Relaxed);
    // SAFETY: the page boot_alloc just gave us, zeroed, becomes the kernel's page directory.
    let pgdir = unsafe { PageTable::from_pa(paddr(pgdir_kva)) };

    // Recursively insert PD in itself as a page table, to form a virtual page table at
    // virtual address UVPT.
    pgdir.set(pdx(UVPT), paddr(pgdir_kva) | (Pte::U | Pte::P).bits());

    // LAB 2: BEGIN mem_init-arrays
    // HINT: Allocate with boot_alloc, and zero, the `pages` array (npages() PageInfo records) and
    // HINT: the `envs` array (NENV Env records; store its address in ENVS_KVA).
    // STUB: let (pages_sz, pages_kva, envs_sz, envs_kva): (u32, u32, u32, u32) =
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
    ENVS_KVA.store(envs_kva, Ordering::Relaxed);
    // LAB 2: END mem_init-arrays

    // The envs' FPU save areas: kernel-only, initialized per env by env_alloc.
    FPU_AREAS_KVA.store(boot_alloc(crate::fpu::AREAS_SIZE), Ordering::Relaxed);

    {
        let mut pa = PAGES.lock();
        pa.pages = pages_kva as *mut PageInfo;
        pa.free = FreeList::new(pages_kva);
    }

    // Now that we've allocated the initial kernel data structures, set up the list of free
    // physical pages.
    page_init();

    check_page_free_list(true);
    check_page_alloc();
    check_page();

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
    boot_map_region(pgdir, KERNBASE, 0u32.wrapping_sub(KERNBASE), 0, Pte::W);
    // LAB 2: END mem_init-map
    // Initialize the SMP-related parts of the memory map.
    mem_init_mp(pgdir);

    // Check that the initial page directory has been set up correctly.
    check_kern_pgdir();

    // Switch from the minimal entry page directory to the full kern_pgdir page table we
    // just created.
    load_pgdir(pgdir);

    check_page_free_list(false);

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
    check_page_installed_pgdir();
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
pub fn percpu_kstack_kva(i: usize) -> u32 {
    // SAFETY: only the address is taken.
    unsafe { (&raw const PERCPU_KSTACKS.0[i]) as u32 }
}

/// Load a page directory into CR3.
pub fn load_pgdir(pgdir: PageTable) {
    // SAFETY: `pgdir` maps the kernel (every page directory is built from kern_pgdir's
    // upper half), so execution continues at the same addresses.
    unsafe { x86::controlregs::cr3_write(pgdir.pa() as u64) }
}

/// The physical address of the page directory this CPU uses now.
pub fn current_pgdir() -> u32 {
    rcr3()
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
    let first_free = pgnum(first_free_pa);
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
        zero_kva(page2kva(pp), PGSIZE);
    }
    Some(pp)
    // LAB 2: END page_alloc
}

/// Copy physical page `src` into physical page `dst` (through KERNBASE; `rep movsl`).
pub fn copy_page(dst: PageNum, src: PageNum) {
    // SAFETY: two distinct pages of physical memory, mapped at KERNBASE; `dst` is freshly
    // allocated and owned by the caller, `src` is read only.
    unsafe {
        ptr::copy_nonoverlapping(
            page2kva(src) as *const u8,
            page2kva(dst) as *mut u8,
            PGSIZE as usize,
        )
    }
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
    PAGES.lock().pages()[pp].pp_ref
}

fn set_page_ref(pp: PageNum, r: u16) {
    PAGES.lock().pages()[pp].pp_ref = r;
}

/// A page-table entry's location: table + index.
#[derive(Clone, Copy, Debug)]
pub struct PteRef {
    table: PageTable,
    idx: usize,
}

impl PteRef {
    pub fn get(self) -> u32 {
        self.table.get(self.idx)
    }
    pub fn set(self, v: u32) {
        self.table.set(self.idx, v)
    }
    /// Kernel virtual address of the entry (what JOS's pgdir_walk returns).
    pub fn kva(self) -> u32 {
        self.table.pa + KERNBASE + 4 * self.idx as u32
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
    let table = if pde & Pte::P.bits() != 0 {
        // SAFETY: a present PDE of a page directory points at one of its page tables.
        unsafe { PageTable::from_pa(pte_addr(pde)) }
    } else {
        if !create {
            return None;
        }
        let pp = page_alloc(true)?;
        // A fresh page: its count goes from 0 to 1 and cannot saturate.
        page_incref(pp).ok()?;
        // Permissions at the directory level are permissive; the PTEs restrict.
        pgdir.set(pdx(va), page2pa(pp) | (Pte::P | Pte::W | Pte::U).bits());
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
pub fn boot_map_region(pgdir: PageTable, va: u32, size: u32, pa: u32, perm: Pte) {
    // LAB 2: BEGIN boot_map_region
    // HINT: Map each page of [va, va+size) to [pa, pa+size) with perm|P (pgdir_walk with create).
    let npg = size / PGSIZE;
    let bits = (perm | Pte::P).bits();
    // A page table at a time: one walk per table, then a plain loop over its entries (JOS
    // walks from the directory for every page: 65,536 walks to map 256 MiB at KERNBASE).
    let mut i = 0;
    while i < npg {
        let a = va.wrapping_add(i * PGSIZE);
        let first =
            pgdir_walk(pgdir, a, true).unwrap_or_else(|| panic!("boot_map_region: out of memory"));
        let n = (NPTENTRIES - ptx(a)).min((npg - i) as usize);
        first
            .table
            .fill(first.idx, n, pa.wrapping_add(i * PGSIZE) | bits);
        i += n as u32;
    }
    // LAB 2: END boot_map_region
}

/// A user address space (any page directory but the kernel's, which only the boot CPU edits
/// before the first env exists) is edited only under the big kernel lock.
#[track_caller]
fn assert_owns(pgdir: PageTable) {
    if !crate::spinlock::holding_kernel() && pgdir != kern_pgdir() {
        panic!("editing a user address space without the big kernel lock");
    }
}

/// Map physical page `pp` at `va` with permissions `perm | P`, replacing any page already
/// there. Re-inserting the same page at the same address only changes the permissions (so
/// it works even when the page's count is saturated). -E_NO_MEM if no page table can be
/// allocated or `pp`'s reference count is saturated; nothing changes then.
pub fn page_insert(pgdir: PageTable, pp: PageNum, va: u32, perm: Pte) -> Result<()> {
    assert_owns(pgdir);
    // LAB 2: BEGIN page_insert
    // HINT: Walk (creating) to the PTE; take a reference to pp and drop the old page's (the corner
    // HINT: case: the same page at the same va, see kern_logic::refcount::remap); write the PTE;
    // HINT: invalidate the TLB entry. Err(NoMem) if no page table or the count is saturated.
    let pte = pgdir_walk(pgdir, va, true).ok_or(Error::NoMem)?;
    let old = pte.get();
    let old_pp = (old & Pte::P.bits() != 0).then(|| pa2page(pte_addr(old)));
    if let Remap::Replace { old } = refcount::remap(old_pp, pp) {
        // One hold of the allocator's lock for both counts.
        let mut pa = PAGES.lock();
        pa.incref(pp)?;
        if let Some(o) = old {
            pa.decref(o);
        }
    }
    pte.set(page2pa(pp) | (perm | Pte::P).bits());
    tlb_invalidate(pgdir, va);
    Ok(())
    // LAB 2: END page_insert
}

/// The page mapped at `va`, with its PTE.
#[inline]
pub fn page_lookup(pgdir: PageTable, va: u32) -> Option<(PageNum, PteRef)> {
    // LAB 2: BEGIN page_lookup
    // HINT: The page mapped at va and its PTE, or None (no page table, or PTE not present).
    let pte = pgdir_walk(pgdir, va, false)?;
    let e = pte.get();
    if e & Pte::P.bits() == 0 {
        return None;
    }
    Some((pa2page(pte_addr(e)), pte))
    // LAB 2: END page_lookup
}

/// Unmap the physical page at `va`, if any (silently does nothing otherwise).
pub fn page_remove(pgdir: PageTable, va: u32) {
    assert_owns(pgdir);
    // LAB 2: BEGIN page_remove
    // HINT: If a page is mapped at va: drop its reference, clear the PTE, invalidate the TLB.
    if let Some((pp, pte)) = page_lookup(pgdir, va) {
        page_decref(pp);
        pte.set(0);
        tlb_invalidate(pgdir, va);
    }
    // LAB 2: END page_remove
}

/// Invalidate a TLB entry, but only if the page tables being edited are the ones currently
/// in use by the processor.
pub fn tlb_invalidate(pgdir: PageTable, va: u32) {
    if rcr3() == pgdir.pa() {
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
pub fn tlb_shootdown(cpu: usize) {
    let c = crate::cpu::cpu(cpu);
    c.tlb_stale.store(true, Ordering::SeqCst);
    if !c.in_user.load(Ordering::SeqCst) {
        return;
    }
    crate::lapic::lapic_ipi(cpu, crate::trap::T_TLB_SHOOTDOWN);
    while c.tlb_stale.load(Ordering::SeqCst) && c.in_user.load(Ordering::SeqCst) {
        core::hint::spin_loop();
    }
}

/// This CPU (`cpu`) entered the kernel from user mode.
#[inline(always)]
pub fn entered_kernel(cpu: usize) {
    crate::cpu::cpu(cpu).in_user.store(false, Ordering::SeqCst);
}

/// This CPU (`cpu`) is about to return to user mode: flush if another CPU asked.
#[inline(always)]
pub fn leaving_for_user(cpu: usize) {
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
pub fn mmio_map_region(pa: u32, size: u32) -> u32 {
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
        start,
        Pte::PCD | Pte::PWT | Pte::W,
    );
    *next += size;
    base + (pa - start)
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
        pgdir_walk(pgdir, a, false).map_or(0, |p| p.get())
    }) {
        None => Ok(()),
        Some(bad) => Err(bad),
    }
}

// ---- self-checks (JOS's check_* functions) -------------------------------------------------

/// Check that the pages on the free list are reasonable.
fn check_page_free_list(only_low_memory: bool) {
    let pdx_limit = if only_low_memory { 1 } else { NPDENTRIES };
    let first_free_page = boot_alloc(0);
    let mut pa = PAGES.lock();
    if pa.free.is_empty() {
        panic!("'page_free_list' is a null pointer!");
    }
    let npages = pa.npages;
    let mut free = pa.free;
    let pages = pa.pages();
    // Pages mapped at KERNBASE by entry_pgdir (the first PDE's worth) or by kern_pgdir (all).
    let low_pages = pdx_limit * NPTENTRIES;
    let first_free_pa = paddr(first_free_page);
    // One walk does JOS's two (fill, then check: the list lives in `pages`, not in the free
    // pages themselves, so filling them cannot disturb it) and, the first time, also checks
    // that low pages already come first. Only if they do not (page_init builds the list that
    // way) is the list reordered, as JOS always does, and walked again.
    let first_free_pp = pgnum(first_free_pa);
    // Everything on the list but extended memory past the kernel (the common case, a single
    // compare) is checked here; true for a base-memory page.
    let check_other = |pp: usize| -> bool {
        let a = page2pa(pp);
        // Check that we didn't corrupt the free list itself.
        assert!(pp < npages);
        // A few pages that shouldn't be on the free list.
        assert!(a != 0);
        assert!(a != IOPHYSMEM);
        assert!(a != EXTPHYSMEM - PGSIZE);
        assert!(a != EXTPHYSMEM);
        assert!(a < EXTPHYSMEM || a + KERNBASE >= first_free_page);
        // (new test for lab 4)
        assert!(a != MPENTRY_PADDR);
        a < EXTPHYSMEM
    };
    // One walk does JOS's two loops (mark the pages, then check them: the list lives in
    // `pages`, not in the free pages, so marking cannot disturb it). The low pages must come
    // first while only they are mapped: page_init builds the list that way, and the walk
    // stops (None) at a low page that follows a high one; then the list is reordered, as JOS
    // always does, and walked again.
    let walk = |free: &FreeList, pages: &[PageInfo]| -> Option<(usize, usize)> {
        let (mut nfree, mut nbase) = (0usize, 0usize);
        let mut seen_high = false;
        let in_order = free.walk(pages, |pp| {
            if pp < low_pages {
                if seen_high {
                    return false;
                }
                // If there's a page that shouldn't be on the free list, try to make sure it
                // eventually causes trouble.
                fill128(page2kva_fast(pp), 0x9797_9797);
            } else {
                seen_high = true;
            }
            nfree = nfree.wrapping_add(1); // at most npages
            // (pp < npages: the walk checked it.)
            if pp < first_free_pp && check_other(pp) {
                nbase += 1;
            }
            true
        });
        in_order.then_some((nfree, nbase))
    };
    let (nfree, nfree_basemem) = if only_low_memory {
        loop {
            if let Some(counts) = walk(&free, pages) {
                break counts;
            }
            // Move pages with lower addresses first in the free list, since entry_pgdir does
            // not map all pages.
            free.low_first(pages, |i| i < low_pages);
        }
    } else {
        // Every page is mapped and marked now: the same walk without the order test (kept
        // apart: the hot loop of the boot, 32,768 pages).
        let (mut nfree, mut nbase) = (0usize, 0usize);
        free.walk(pages, |pp| {
            fill128(page2kva_fast(pp), 0x9797_9797);
            nfree = nfree.wrapping_add(1); // at most npages
            // (pp < npages: the walk checked it.)
            if pp < first_free_pp && check_other(pp) {
                nbase += 1;
            }
            true
        });
        (nfree, nbase)
    };
    let nfree_extmem = nfree - nfree_basemem;
    assert!(nfree_basemem > 0);
    assert!(nfree_extmem > 0);
    assert_eq!(nfree_basemem + nfree_extmem, free.len());
    pa.free = free;
    drop(pa);
    crate::cprintf!("check_page_free_list() succeeded!\n");
}

fn fill(kva: u32, v: u8, len: usize) {
    // SAFETY: a free page in the first 4 MiB (mapped); free pages are unused by definition.
    unsafe { ptr::write_bytes(kva as *mut u8, v, len) }
}

/// KADDR of a page number known to be below npages (so its physical address lies below
/// 256 MiB and OR-ing in KERNBASE is exact: no overflow check, no npages lookup).
#[inline(always)]
fn page2kva_fast(pp: PageNum) -> u32 {
    page2pa(pp) | KERNBASE
}

/// Fill the first 128 bytes at `kva` with the word `v`: check_page_free_list's marking of
/// every free page, inline (32 stores, no call, no fixed registers to shuffle in the walk).
#[inline(always)]
fn fill128(kva: u32, v: u32) {
    // SAFETY: `kva` is a free page mapped at KERNBASE (the caller's walk only reaches pages the
    // current page directory maps); free pages are unused by definition.
    unsafe {
        core::arch::asm!(
            ".irp off, 0,4,8,12,16,20,24,28,32,36,40,44,48,52,56,60,64,68,72,76,80,84,88,92,96,100,104,108,112,116,120,124",
            "movl {v}, \\off({p})",
            ".endr",
            p = in(reg) kva,
            v = in(reg) v,
            options(att_syntax, nostack)
        )
    }
}

/// Steal the whole free list (the checks need to run out of memory on purpose).
fn take_free_list() -> FreeList {
    let mut pa = PAGES.lock();
    let old = pa.free;
    pa.free = FreeList::new(pa.pages as u32);
    old
}

fn restore_free_list(fl: FreeList) {
    PAGES.lock().free = fl;
}

/// Check the physical page allocator (page_alloc(), page_free(), and page_init()).
fn check_page_alloc() {
    let nfree = nfree_pages();
    assert!(nfree > 0, "'page_free_list' is a null pointer!");

    // Should be able to allocate three pages.
    let pp0 = page_alloc(false).expect("pp0");
    let pp1 = page_alloc(false).expect("pp1");
    let pp2 = page_alloc(false).expect("pp2");
    assert!(pp1 != pp0);
    assert!(pp2 != pp1 && pp2 != pp0);
    let np = npages() as u32;
    assert!(page2pa(pp0) < np * PGSIZE);
    assert!(page2pa(pp1) < np * PGSIZE);
    assert!(page2pa(pp2) < np * PGSIZE);

    // Temporarily steal the rest of the free pages.
    let fl = take_free_list();

    // Should be no free memory.
    assert!(page_alloc(false).is_none());

    // Free and re-allocate?
    page_free(pp0);
    page_free(pp1);
    page_free(pp2);
    let pp0 = page_alloc(false).expect("pp0");
    let pp1 = page_alloc(false).expect("pp1");
    let pp2 = page_alloc(false).expect("pp2");
    assert!(pp1 != pp0);
    assert!(pp2 != pp1 && pp2 != pp0);
    assert!(page_alloc(false).is_none());

    // Test flags.
    fill(page2kva(pp0), 1, PGSIZE as usize);
    page_free(pp0);
    let pp = page_alloc(true).expect("pp");
    assert_eq!(pp, pp0);
    // SAFETY: pp0 is a page we own, mapped at KERNBASE (low memory at this point).
    let all_zero = unsafe {
        core::slice::from_raw_parts(page2kva(pp) as *const u8, PGSIZE as usize)
            .iter()
            .all(|&b| b == 0)
    };
    assert!(all_zero);

    // Give free list back.
    restore_free_list(fl);

    // Free the pages we took.
    page_free(pp0);
    page_free(pp1);
    page_free(pp2);

    assert_eq!(nfree_pages(), nfree);
    crate::cprintf!("check_page_alloc() succeeded!\n");
}

/// The physical address `va` maps to in `pgdir`, or !0 (JOS's check_va2pa).
fn check_va2pa(pgdir: PageTable, va: u32) -> u32 {
    let pde = pgdir.get(pdx(va));
    if pde & Pte::P.bits() == 0 {
        return !0;
    }
    // SAFETY: a present PDE of a page directory points at one of its page tables.
    let pte = unsafe { PageTable::from_pa(pte_addr(pde)) }.get(ptx(va));
    if pte & Pte::P.bits() == 0 {
        return !0;
    }
    pte_addr(pte)
}

/// `check_va2pa(pgdir, va + off) == pa + off` for every page of [va, va+len), reading each
/// page table once instead of walking from the directory for every page.
fn check_va2pa_range(pgdir: PageTable, va: u32, pa: u32, len: u32) {
    let mut off = 0;
    while off < len {
        let a = va + off;
        let pde = pgdir.get(pdx(a));
        assert!(
            pde & Pte::P.bits() != 0,
            "check_va2pa({:08x}): no page table",
            a
        );
        // SAFETY: a present PDE of a page directory points at one of its page tables.
        let table = unsafe { PageTable::from_pa(pte_addr(pde)) };
        let n = (NPTENTRIES - ptx(a)).min(((len - off) / PGSIZE) as usize);
        let first = ptx(a);
        // Present, and the frame is the one expected. Differences are OR-ed over a whole
        // table and only looked at per entry if one is wrong (32,768 pages checked at boot).
        // (Masking commutes with XOR and OR, so the mask is applied once, to the result.)
        let mask = 0xFFFF_F000 | Pte::P.bits();
        let want = (pa + off) | Pte::P.bits();
        let diff = table.diff_from_run(first, n, want);
        if diff & mask != 0 {
            for k in 0..n {
                let w = want + k as u32 * PGSIZE;
                if table.get(first + k) & mask != w {
                    let va = a + (k as u32) * PGSIZE;
                    panic!("check_va2pa({:08x}) is not {:08x}", va, w & !1);
                }
            }
        }
        off += n as u32 * PGSIZE;
    }
}

/// Check page_insert, page_remove, etc.
fn check_page() {
    let kern_pgdir = kern_pgdir();
    let nfree = nfree_pages();
    // Should be able to allocate three pages.
    let pp0 = page_alloc(false).expect("pp0");
    let pp1 = page_alloc(false).expect("pp1");
    let pp2 = page_alloc(false).expect("pp2");
    assert!(pp1 != pp0);
    assert!(pp2 != pp1 && pp2 != pp0);

    // Temporarily steal the rest of the free pages.
    let fl = take_free_list();

    // Should be no free memory.
    assert!(page_alloc(false).is_none());

    // There is no page allocated at address 0.
    assert!(page_lookup(kern_pgdir, 0x0).is_none());

    // There is no free memory, so we can't allocate a page table.
    assert!(page_insert(kern_pgdir, pp1, 0x0, Pte::W).is_err());

    // Free pp0 and try again: pp0 should be used for page table.
    page_free(pp0);
    assert!(page_insert(kern_pgdir, pp1, 0x0, Pte::W).is_ok());
    assert_eq!(pte_addr(kern_pgdir.get(0)), page2pa(pp0));
    assert_eq!(check_va2pa(kern_pgdir, 0x0), page2pa(pp1));
    assert_eq!(page_ref(pp1), 1);
    assert_eq!(page_ref(pp0), 1);

    // Should be able to map pp2 at PGSIZE because pp0 is already allocated for page table.
    assert!(page_insert(kern_pgdir, pp2, PGSIZE, Pte::W).is_ok());
    assert_eq!(check_va2pa(kern_pgdir, PGSIZE), page2pa(pp2));
    assert_eq!(page_ref(pp2), 1);

    // Should be no free memory.
    assert!(page_alloc(false).is_none());

    // Should be able to map pp2 at PGSIZE because it's already there.
    assert!(page_insert(kern_pgdir, pp2, PGSIZE, Pte::W).is_ok());
    assert_eq!(check_va2pa(kern_pgdir, PGSIZE), page2pa(pp2));
    assert_eq!(page_ref(pp2), 1);

    // pp2 should NOT be on the free list; could happen if ref counts are handled sloppily
    // in page_insert.
    assert!(page_alloc(false).is_none());

    // Check that pgdir_walk returns a pointer to the pte.
    // SAFETY: pgdir_walk made that PDE point at a page table.
    let ptep = unsafe { PageTable::from_pa(pte_addr(kern_pgdir.get(pdx(PGSIZE)))) };
    let walked = pgdir_walk(kern_pgdir, PGSIZE, false).expect("walk");
    assert_eq!(walked.kva(), ptep.pa() + KERNBASE + 4 * ptx(PGSIZE) as u32);

    // Should be able to change permissions too.
    assert!(page_insert(kern_pgdir, pp2, PGSIZE, Pte::W | Pte::U).is_ok());
    assert_eq!(check_va2pa(kern_pgdir, PGSIZE), page2pa(pp2));
    assert_eq!(page_ref(pp2), 1);
    assert!(walked.get() & Pte::U.bits() != 0);
    assert!(kern_pgdir.get(0) & Pte::U.bits() != 0);

    // Should be able to remap with fewer permissions.
    assert!(page_insert(kern_pgdir, pp2, PGSIZE, Pte::W).is_ok());
    assert!(walked.get() & Pte::W.bits() != 0);
    assert!(walked.get() & Pte::U.bits() == 0);

    // Should not be able to map at PTSIZE because need free page for page table.
    assert!(page_insert(kern_pgdir, pp0, PTSIZE, Pte::W).is_err());

    // Insert pp1 at PGSIZE (replacing pp2).
    assert!(page_insert(kern_pgdir, pp1, PGSIZE, Pte::W).is_ok());
    assert!(walked.get() & Pte::U.bits() == 0);

    // Should have pp1 at both 0 and PGSIZE, pp2 nowhere, ...
    assert_eq!(check_va2pa(kern_pgdir, 0), page2pa(pp1));
    assert_eq!(check_va2pa(kern_pgdir, PGSIZE), page2pa(pp1));
    // ... and ref counts should reflect this.
    assert_eq!(page_ref(pp1), 2);
    assert_eq!(page_ref(pp2), 0);

    // pp2 should be returned by page_alloc.
    assert_eq!(page_alloc(false), Some(pp2));

    // Unmapping pp1 at 0 should keep pp1 at PGSIZE.
    page_remove(kern_pgdir, 0x0);
    assert_eq!(check_va2pa(kern_pgdir, 0x0), !0);
    assert_eq!(check_va2pa(kern_pgdir, PGSIZE), page2pa(pp1));
    assert_eq!(page_ref(pp1), 1);
    assert_eq!(page_ref(pp2), 0);

    // Test re-inserting pp1 at PGSIZE.
    assert!(page_insert(kern_pgdir, pp1, PGSIZE, Pte::empty()).is_ok());
    assert!(page_ref(pp1) != 0);

    // Unmapping pp1 at PGSIZE should free it.
    page_remove(kern_pgdir, PGSIZE);
    assert_eq!(check_va2pa(kern_pgdir, 0x0), !0);
    assert_eq!(check_va2pa(kern_pgdir, PGSIZE), !0);
    assert_eq!(page_ref(pp1), 0);
    assert_eq!(page_ref(pp2), 0);

    // So it should be returned by page_alloc.
    assert_eq!(page_alloc(false), Some(pp1));

    // Should be no free memory.
    assert!(page_alloc(false).is_none());

    // Forcibly take pp0 back.
    assert_eq!(pte_addr(kern_pgdir.get(0)), page2pa(pp0));
    kern_pgdir.set(0, 0);
    assert_eq!(page_ref(pp0), 1);
    set_page_ref(pp0, 0);

    // Check pointer arithmetic in pgdir_walk.
    page_free(pp0);
    let va = PGSIZE * NPDENTRIES as u32 + PGSIZE;
    let ptep = pgdir_walk(kern_pgdir, va, true).expect("walk");
    // SAFETY: as above.
    let ptep1 = unsafe { PageTable::from_pa(pte_addr(kern_pgdir.get(pdx(va)))) };
    assert_eq!(ptep.kva(), ptep1.pa() + KERNBASE + 4 * ptx(va) as u32);
    kern_pgdir.set(pdx(va), 0);
    set_page_ref(pp0, 0);

    // Check that new page tables get cleared.
    fill(page2kva(pp0), 0xFF, PGSIZE as usize);
    page_free(pp0);
    pgdir_walk(kern_pgdir, 0x0, true).expect("walk");
    // SAFETY: pgdir_walk just made pp0 this directory's page table.
    let table = unsafe { PageTable::from_pa(page2pa(pp0)) };
    for i in 0..NPTENTRIES {
        assert!(table.get(i) & Pte::P.bits() == 0);
    }
    kern_pgdir.set(0, 0);
    set_page_ref(pp0, 0);

    // Give free list back.
    restore_free_list(fl);

    // Free the pages we took.
    page_free(pp0);
    page_free(pp1);
    page_free(pp2);
    // Nothing leaked: every page the check took is back on the free list.
    assert_eq!(nfree_pages(), nfree);

    // Test mmio_map_region.
    let mm1 = mmio_map_region(0, 4097);
    let mm2 = mmio_map_region(0, 4096);
    // Check that they're in the right region.
    assert!(mm1 >= MMIOBASE && mm1 + 8192 < MMIOLIM);
    assert!(mm2 >= MMIOBASE && mm2 + 8192 < MMIOLIM);
    // Check that they're page-aligned.
    assert!(mm1.is_multiple_of(PGSIZE) && mm2.is_multiple_of(PGSIZE));
    // Check that they don't overlap.
    assert!(mm1 + 8192 <= mm2);
    // Check page mappings.
    assert_eq!(check_va2pa(kern_pgdir, mm1), 0);
    assert_eq!(check_va2pa(kern_pgdir, mm1 + PGSIZE), PGSIZE);
    assert_eq!(check_va2pa(kern_pgdir, mm2), 0);
    assert_eq!(check_va2pa(kern_pgdir, mm2 + PGSIZE), !0);
    // Check permissions.
    let e = pgdir_walk(kern_pgdir, mm1, false).expect("walk").get();
    assert!(e & (Pte::W | Pte::PWT | Pte::PCD).bits() == (Pte::W | Pte::PWT | Pte::PCD).bits());
    assert!(e & Pte::U.bits() == 0);
    // Clear the mappings.
    pgdir_walk(kern_pgdir, mm1, false).expect("walk").set(0);
    pgdir_walk(kern_pgdir, mm1 + PGSIZE, false)
        .expect("walk")
        .set(0);
    pgdir_walk(kern_pgdir, mm2, false).expect("walk").set(0);

    crate::cprintf!("check_page() succeeded!\n");
}

/// Check that the kernel part of virtual address space has been set up correctly.
fn check_kern_pgdir() {
    let pgdir = kern_pgdir();
    let npages = npages() as u32;
    let pages_kva = PAGES.lock().pages as u32;

    // Check pages array.
    let n = round_up(npages * core::mem::size_of::<PageInfo>() as u32, PGSIZE);
    let mut i = 0;
    while i < n {
        assert_eq!(check_va2pa(pgdir, UPAGES + i), paddr(pages_kva) + i);
        i += PGSIZE;
    }

    // Check envs array (new test for lab 3).
    let n = round_up((NENV * core::mem::size_of::<Env>()) as u32, PGSIZE);
    let envs = envs_kva();
    let mut i = 0;
    while i < n {
        assert_eq!(check_va2pa(pgdir, UENVS + i), paddr(envs) + i);
        i += PGSIZE;
    }

    // Check phys mem (a table at a time: the same check as check_va2pa per page).
    check_va2pa_range(pgdir, KERNBASE, 0, npages * PGSIZE);

    // Check kernel stack (updated in lab 4 to check per-CPU kernel stacks).
    for n in 0..crate::cpu::NCPU {
        let base = kstacktop(n as u32) - KSTKSIZE - KSTKGAP;
        let stack = paddr(percpu_kstack_kva(n));
        let mut i = 0;
        while i < KSTKSIZE {
            assert_eq!(check_va2pa(pgdir, base + KSTKGAP + i), stack + i);
            i += PGSIZE;
        }
        let mut i = 0;
        while i < KSTKGAP {
            assert_eq!(check_va2pa(pgdir, base + i), !0);
            i += PGSIZE;
        }
    }

    // Check PDE permissions.
    for i in 0..NPDENTRIES {
        let e = pgdir.get(i);
        let va = (i as u32) << PDXSHIFT;
        if i == pdx(UVPT)
            || i == pdx(KSTACKTOP - 1)
            || i == pdx(UPAGES)
            || i == pdx(UENVS)
            || i == pdx(MMIOBASE)
        {
            assert!(e & Pte::P.bits() != 0);
        } else if va >= KERNBASE {
            assert!(e & Pte::P.bits() != 0);
            assert!(e & Pte::W.bits() != 0);
        } else {
            assert_eq!(e, 0);
        }
    }
    crate::cprintf!("check_kern_pgdir() succeeded!\n");
}

/// Check page_insert, page_remove, etc., with an installed kern_pgdir.
fn check_page_installed_pgdir() {
    let kern_pgdir = kern_pgdir();
    let nfree = nfree_pages();
    // Check that we can read and write installed pages.
    let pp0 = page_alloc(false).expect("pp0");
    let pp1 = page_alloc(false).expect("pp1");
    let pp2 = page_alloc(false).expect("pp2");
    page_free(pp0);
    fill(page2kva(pp1), 1, PGSIZE as usize);
    fill(page2kva(pp2), 2, PGSIZE as usize);
    page_insert(kern_pgdir, pp1, PGSIZE, Pte::W).expect("insert");
    assert_eq!(page_ref(pp1), 1);
    // SAFETY: PGSIZE is mapped to pp1 in the installed page directory just above.
    let v = unsafe { ptr::read_volatile(PGSIZE as *const u32) };
    assert_eq!(v, 0x0101_0101);
    page_insert(kern_pgdir, pp2, PGSIZE, Pte::W).expect("insert");
    // SAFETY: as above, now pp2.
    let v = unsafe { ptr::read_volatile(PGSIZE as *const u32) };
    assert_eq!(v, 0x0202_0202);
    assert_eq!(page_ref(pp2), 1);
    assert_eq!(page_ref(pp1), 0);
    // SAFETY: as above.
    unsafe { ptr::write_volatile(PGSIZE as *mut u32, 0x0303_0303) };
    // SAFETY: pp2 is ours and mapped at KERNBASE.
    let v = unsafe { ptr::read_volatile(page2kva(pp2) as *const u32) };
    assert_eq!(v, 0x0303_0303);
    page_remove(kern_pgdir, PGSIZE);
    assert_eq!(page_ref(pp2), 0);

    // Forcibly take pp0 back.
    assert_eq!(pte_addr(kern_pgdir.get(0)), page2pa(pp0));
    kern_pgdir.set(0, 0);
    assert_eq!(page_ref(pp0), 1);
    set_page_ref(pp0, 0);

    // Free the pages we took.
    page_free(pp0);
    // Nothing leaked.
    assert_eq!(nfree_pages(), nfree);
    crate::cprintf!("check_page_installed_pgdir() succeeded!\n");
}
