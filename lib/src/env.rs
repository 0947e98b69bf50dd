//! Read-only views of kernel data mapped into every environment: the symbols JOS's
//! lib/entry.S defines (`envs` at UENVS, `pages` at UPAGES, `uvpt` at UVPT, `uvpd`) and
//! libmain.c's `thisenv`.
//!
//! The kernel changes these records behind our back (another environment's status, our own
//! `env_ipc_*` fields after a receive), so every field is read with a volatile load through
//! an `UnsafeCell`, never through a plain reference the compiler may cache.

use core::cell::UnsafeCell;
use core::ptr;

use jos_inc::env::{Env, EnvId, NENV, envx};
use jos_inc::memlayout::{PageInfo, UENVS, UPAGES, USTACKTOP, UVPD, UVPT};
use jos_inc::mmu::{NPDENTRIES, NPTENTRIES, PTSIZE, Pte, pgnum};

use crate::syscall::sys_getenvid;

/// One `envs[]` slot as user space sees it: JOS's `struct Env`, read field by field.
#[repr(transparent)]
pub struct UEnv(UnsafeCell<Env>);

// SAFETY: user space only ever reads a `UEnv` (volatile loads); all writes come from the
// kernel, and `UnsafeCell` tells the compiler to expect them.
unsafe impl Sync for UEnv {}

/// A volatile read of one field of a `UEnv`.
macro_rules! env_field {
    ($(#[$doc:meta])* $name:ident: $t:ty) => {
        $(#[$doc])*
        pub fn $name(&self) -> $t {
            // SAFETY: `self` is a slot of the envs[] mapping, readable for the whole run.
            unsafe { ptr::read_volatile(&raw const (*self.0.get()).$name) }
        }
    };
}

impl UEnv {
    env_field!(
        /// Unique environment identifier.
        env_id: EnvId
    );
    env_field!(
        /// `env_id` of this env's parent (0 if the kernel created it).
        env_parent_id: EnvId
    );
    env_field!(
        /// `ENV_TYPE_*`.
        env_type: u32
    );
    env_field!(
        /// `ENV_FREE`, `ENV_DYING`, `ENV_RUNNABLE`, `ENV_RUNNING` or `ENV_NOT_RUNNABLE`.
        env_status: u32
    );
    env_field!(
        /// Number of times the environment has run.
        env_runs: u32
    );
    env_field!(
        /// The CPU the environment is running on, or last ran on.
        env_cpunum: i32
    );
    env_field!(
        /// Page-fault upcall entry point.
        env_pgfault_upcall: u32
    );
    env_field!(
        /// Where a received page is to be mapped.
        env_ipc_dstva: u32
    );
    env_field!(
        /// The last value received.
        env_ipc_value: u32
    );
    env_field!(
        /// Who sent the last message.
        env_ipc_from: EnvId
    );
    env_field!(
        /// Permissions of the last page received (0 if none).
        env_ipc_perm: i32
    );

    /// Whether the environment is blocked in `sys_ipc_recv`.
    pub fn env_ipc_recving(&self) -> bool {
        // Read the C `_Bool` as a byte: any value the kernel stores must be a valid read.
        // SAFETY: as for the other fields.
        let b = unsafe {
            ptr::read_volatile((&raw const (*self.0.get()).env_ipc_recving).cast::<u8>())
        };
        b != 0
    }
}

/// All environments: JOS's `envs`, the read-only array the kernel maps at UENVS.
pub fn envs() -> &'static [UEnv; NENV] {
    // SAFETY: the kernel maps the whole envs[] array at UENVS, user-readable, in every
    // environment, for its whole life; `UEnv` is `repr(transparent)` over `Env`, whose layout
    // inc/ asserts to be JOS's.
    unsafe { &*(UENVS as usize as *const [UEnv; NENV]) }
}

/// Where the caller's own `envs[]` index is kept: the top word of its user stack, which
/// `_start` reserves. JOS keeps `thisenv` in a global; after `sfork` globals are shared by
/// parent and child, but the stack page is each env's own (copy-on-write), so this is right
/// in both (JOS's lab 4 hint: stop keeping `thisenv` in a plain global). Reading it costs the
/// same as reading a global.
const THISENV_SLOT: usize = USTACKTOP as usize - 4;

/// The caller's own environment: JOS's `thisenv`.
pub fn thisenv() -> &'static UEnv {
    // SAFETY: the kernel starts every env with its stack page mapped and ESP = USTACKTOP,
    // and `_start` keeps this word for the index (set by libmain, fork's and sfork's child
    // paths).
    let i = unsafe { ptr::read_volatile(THISENV_SLOT as *const usize) };
    &envs()[i % NENV]
}

/// Point `thisenv` at the caller's slot, as libmain does and as a freshly forked child must
/// (its stack starts as a copy of its parent's).
pub fn set_thisenv() {
    // LAB 3: BEGIN thisenv
    // HINT: Store the caller's envs[] index (envx of sys_getenvid()) in THISENV_SLOT, the word
    // HINT: thisenv() reads (a plain global would be shared after sfork).
    // SAFETY: as for `thisenv`; the word is the env's own.
    unsafe { ptr::write_volatile(THISENV_SLOT as *mut usize, envx(sys_getenvid())) }
    // LAB 3: END thisenv
}

/// The page directory entry `pdx` of the caller's address space (JOS's `uvpd[pdx]`),
/// read through the recursive mapping at UVPD, which is always present.
pub fn uvpd(pdx: usize) -> u32 {
    assert!(pdx < NPDENTRIES, "uvpd index {pdx} out of range");
    // SAFETY: the page directory maps itself at UVPT, so UVPD is one present, user-readable
    // page holding NPDENTRIES entries.
    unsafe { ptr::read_volatile((UVPD as usize as *const u32).add(pdx)) }
}

/// The page table entry for page number `pn` (JOS's `uvpt[pn]`), or 0 when its page table is
/// not present or not user-visible: reading `uvpt` there would fault, so JOS's callers check
/// `uvpd` first, and this does it for them.
pub fn uvpt(pn: usize) -> u32 {
    assert!(pn < NPDENTRIES * NPTENTRIES, "uvpt index {pn} out of range");
    let pde = Pte::from_bits_retain(uvpd(pn / NPTENTRIES));
    if !pde.contains(Pte::P | Pte::U) {
        return 0;
    }
    // SAFETY: the page table page for `pn` is present and user-readable (checked above), and
    // the recursive mapping shows it at UVPT + (pn / NPTENTRIES) * PGSIZE.
    unsafe { ptr::read_volatile((UVPT as usize as *const u32).add(pn)) }
}

/// The page table `pdx` of the caller's address space, through UVPT, or `None` when its PDE is
/// not present and user-visible. (Given a PDE already read, see [`uvpt_table_of`].) Walking a table's entries through this checks the PDE once
/// per table (fork's walk), where [`uvpt`] checks it for every entry.
pub fn uvpt_table(pdx: usize) -> Option<PageTableView> {
    let pde = Pte::from_bits_retain(uvpd(pdx));
    pde.contains(Pte::P | Pte::U).then(|| PageTableView {
        base: (UVPT as usize as *const u32).wrapping_add(pdx * NPTENTRIES),
    })
}

/// The page table of directory entry `pdx`, whose value `pde` the caller read already.
pub fn uvpt_table_of(pdx: usize, pde: u32) -> Option<PageTableView> {
    assert!(pdx < NPDENTRIES);
    Pte::from_bits_retain(pde)
        .contains(Pte::P | Pte::U)
        .then(|| PageTableView {
            base: (UVPT as usize as *const u32).wrapping_add(pdx * NPTENTRIES),
        })
}

/// The caller's page directory, read through the recursive mapping at UVPD (always present),
/// as a table: walking it with [`PageTableView::for_each_present`] skips empty entries four at
/// a time (fork's walk of the directory, 955 entries below UTOP).
pub fn uvpd_table() -> PageTableView {
    PageTableView {
        base: UVPD as usize as *const u32,
    }
}

/// A present page table of the caller's, read through the recursive mapping at UVPT.
#[derive(Clone, Copy)]
pub struct PageTableView {
    base: *const u32,
}

impl PageTableView {
    /// Call `f(i, entry)` for each present entry among the first `n` (fork's walk: most
    /// entries of a table are empty, so empty ones are skipped four at a time).
    #[inline(always)]
    pub fn for_each_present(self, n: usize, mut f: impl FnMut(usize, u32)) {
        let n = n.min(NPTENTRIES);
        let mut i = 0;
        while i < n {
            if i + 4 <= n {
                // SAFETY: as in `get`; i + 3 < n <= NPTENTRIES.
                let (a, b, c, d) = unsafe {
                    (
                        ptr::read_volatile(self.base.add(i)),
                        ptr::read_volatile(self.base.add(i + 1)),
                        ptr::read_volatile(self.base.add(i + 2)),
                        ptr::read_volatile(self.base.add(i + 3)),
                    )
                };
                if (a | b | c | d) & Pte::P.bits() == 0 {
                    i += 4;
                    continue;
                }
            }
            let e = self.get(i);
            if e & Pte::P.bits() != 0 {
                f(i, e);
            }
            i += 1;
        }
    }

    /// Entry `i` (< NPTENTRIES).
    #[inline]
    pub fn get(self, i: usize) -> u32 {
        assert!(i < NPTENTRIES);
        // SAFETY: `uvpt_table` checked that this table is present and user-readable, and the
        // recursive mapping shows it at `base`, NPTENTRIES entries long.
        unsafe { ptr::read_volatile(self.base.add(i)) }
    }
}

/// The `struct PageInfo` of physical page `ppn` from the read-only `pages` array at UPAGES,
/// or `None` if that part of the array is not mapped (past the last physical page).
pub fn page_info(ppn: usize) -> Option<PageInfo> {
    let size = core::mem::size_of::<PageInfo>();
    if ppn >= PTSIZE as usize / size {
        return None;
    }
    let rec = UPAGES as usize + ppn * size;
    if !Pte::from_bits_retain(uvpt(pgnum(rec as u32))).contains(Pte::P | Pte::U) {
        return None;
    }
    let rec = rec as *const PageInfo;
    // SAFETY: the page holding the record is mapped user-readable (checked above); records
    // are 8-byte aligned and never straddle a page.
    unsafe {
        Some(PageInfo {
            pp_link: ptr::read_volatile(&raw const (*rec).pp_link),
            pp_ref: ptr::read_volatile(&raw const (*rec).pp_ref),
        })
    }
}
