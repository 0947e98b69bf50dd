//! refcount (ours, no JOS counterpart): a page's reference count (`pp_ref`, 16 bits as in
//! JOS) must saturate, never wrap.
//!
//! Allocates one page and maps it at 65,535 more addresses (64 page tables' worth). A kernel
//! that lets the count wrap to 0 has a mapped page it considers unreferenced: one more map
//! and unmap frees it while the other mappings still reach it, and the allocator then hands
//! it to someone else. Specified: the map that would make the count 65,536 fails with
//! -E_NO_MEM and maps nothing; the count reads 65,535 in the read-only `pages` array; and
//! IPC refuses to send the saturated page the same way (to a child waiting for a page),
//! still delivering nothing. Everything is then unmapped, the child released, and the
//! program exits; the grader checks with `meminfo` that no page or env leaked.
//! Prints `refcount: saturated at 65535, refused with -E_NO_MEM: ok` only if all held.
#![no_std]
#![no_main]

use jos_lib::inc::env::{EnvId, envx};
use jos_lib::inc::error::E_NO_MEM;
use jos_lib::inc::memlayout::UTOP;
use jos_lib::inc::mmu::{PGSIZE, pgnum};
use jos_lib::inc::syscall::{SYS_IPC_TRY_SEND, SYS_PAGE_ALLOC, SYS_PAGE_MAP, SYS_PAGE_UNMAP};
use jos_lib::{
    ErrNum, Pte, envs, exit, fork, ipc_recv_page, page_info, println, sys_getenvid, sys_yield,
    syscall, uvpt,
};
use jos_user::hostile::{PU, Shared, Shown, wait_gone};

jos_lib::entry!(umain);

/// The page whose count we saturate; its own page table.
const PAGE: u32 = 0x1000_0000;
/// Its extra mappings: 65,535 consecutive pages from here, 64 page tables.
const MAPS: u32 = 0x1040_0000;
/// The most mappings a 16-bit count allows.
const MAX_REF: u32 = 65_535;
/// Words of the page shared with the child: done flag, value, perm, sender.
const SHARED: u32 = 0x0e00_0000;
/// Where the child accepts a page.
const CHILD_RECV: u32 = 0x0f00_0000;

/// How the map loop ended: no map refused, or the error of the first refused one.
struct Refusal(i32);

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            0 => write!(f, "none refused"),
            r => write!(f, "then {}", Shown(r)),
        }
    }
}

/// A raw system call on the pages above.
fn sys(num: u32, a1: u32, a2: u32, a3: u32, a4: u32, a5: u32) -> i32 {
    // SAFETY: every call in this file maps or unmaps only PAGE, the MAPS region and the
    // child's CHILD_RECV page, which no Rust object occupies.
    unsafe { syscall(num, a1, a2, a3, a4, a5) }
}

/// The reference count of the page mapped at `va`, read from the `pages` array.
fn pp_ref_at(va: u32) -> Option<u16> {
    let pte = uvpt(pgnum(va));
    if pte & Pte::P.bits() == 0 {
        return None;
    }
    page_info((pte >> 12) as usize).map(|p| p.pp_ref)
}

/// The child: wait for one message, possibly with a page, and report it.
fn child(sh: Shared) -> ! {
    // SAFETY: CHILD_RECV is not used by anything else.
    match unsafe { ipc_recv_page(CHILD_RECV) } {
        Ok(m) => {
            sh.set(1, m.value);
            sh.set(2, m.perm.bits());
            sh.set(3, m.from as u32);
        }
        Err(e) => println!("refcount: child: ipc_recv: {}", e),
    }
    sh.set(0, 1);
    exit();
}

/// Map PAGE at the MAPS addresses until a map fails or MAX_REF have been tried. Returns the
/// number of successes and the first error (0 if none failed).
fn saturate() -> (u32, i32) {
    for k in 0..MAX_REF {
        let r = sys(SYS_PAGE_MAP, 0, PAGE, 0, MAPS + k * PGSIZE, PU);
        if r != 0 {
            return (k, r);
        }
    }
    (MAX_REF, 0)
}

fn umain() {
    let me = sys_getenvid();
    let sh = Shared::new(SHARED);
    // The child first, while nothing is mapped in the region fork would copy.
    let kid: EnvId = match fork() {
        Ok(0) => child(sh),
        Ok(id) => id,
        Err(e) => panic!("fork: {}", e),
    };
    let mut ok = true;

    let r = sys(SYS_PAGE_ALLOC, 0, PAGE, PU, 0, 0);
    assert!(r == 0, "sys_page_alloc: {}", ErrNum(r));
    let r0 = pp_ref_at(PAGE).unwrap_or(0);
    if r0 != 1 {
        println!("refcount: a fresh page has pp_ref {}, expected 1: FAIL", r0);
        ok = false;
    }

    let (maps, err) = saturate();
    let want_maps = MAX_REF - u32::from(r0);
    let count = pp_ref_at(PAGE).unwrap_or(0);
    println!(
        "refcount: {} maps succeeded, {}; pp_ref reads {}",
        maps,
        Refusal(err),
        count
    );
    let saturated = maps == want_maps && err == -E_NO_MEM && u32::from(count) == MAX_REF;
    if !saturated {
        println!(
            "refcount: FAIL: expected {} maps, then -E_NO_MEM, pp_ref 65535; got {} maps, \
             {}, pp_ref {}",
            want_maps,
            maps,
            Refusal(err),
            count
        );
        ok = false;
    } else if uvpt(pgnum(MAPS + maps * PGSIZE)) & Pte::P.bits() != 0 {
        println!("refcount: FAIL: the refused map left a mapping behind");
        ok = false;
    }

    // IPC with the saturated page: refused too, and the child must get nothing. (Only if
    // the count saturated: sending a wrapped page would hand the child a page whose count
    // the kernel already has wrong.)
    let kid_env = &envs()[envx(kid)];
    while !kid_env.env_ipc_recving() {
        sys_yield();
    }
    if saturated {
        let r = sys(SYS_IPC_TRY_SEND, kid as u32, 1, PAGE, PU, 0);
        if r != -E_NO_MEM || sh.get(0) != 0 || !kid_env.env_ipc_recving() {
            println!(
                "refcount: FAIL: sending the saturated page returned {} ({}), expected \
                 -E_NO_MEM with the child still waiting",
                r,
                ErrNum(r)
            );
            ok = false;
        } else {
            println!("refcount: sending the saturated page refused with -E_NO_MEM: ok");
        }
    }

    // Release the child with a plain value, which needs no reference.
    let r = sys(SYS_IPC_TRY_SEND, kid as u32, 2, UTOP, 0, 0);
    if r != 0 {
        println!("refcount: FAIL: plain send returned {} ({})", r, ErrNum(r));
        ok = false;
    }
    while sh.get(0) == 0 && kid_env.env_id() == kid {
        sys_yield();
    }
    if sh.get(1) != 2 || sh.get(2) != 0 || sh.get(3) != me as u32 {
        println!(
            "refcount: FAIL: the child received value {} perm {:#x} from {:08x}, \
             expected 2 with no page from {:08x}",
            sh.get(1),
            sh.get(2),
            sh.get(3),
            me
        );
        ok = false;
    }
    if !wait_gone(kid, 100_000) {
        println!("refcount: FAIL: the child never exited");
        ok = false;
    }

    // Unmap everything: the count must come back down to 1, then the page go.
    for k in 0..maps {
        let r = sys(SYS_PAGE_UNMAP, 0, MAPS + k * PGSIZE, 0, 0, 0);
        if r != 0 {
            println!("refcount: FAIL: unmap {} returned {}", k, ErrNum(r));
            ok = false;
            break;
        }
    }
    let left = pp_ref_at(PAGE).unwrap_or(0);
    if left != 1 {
        println!(
            "refcount: FAIL: pp_ref is {} after unmapping the copies, expected 1",
            left
        );
        ok = false;
    }
    let r = sys(SYS_PAGE_UNMAP, 0, PAGE, 0, 0, 0);
    assert!(r == 0, "sys_page_unmap: {}", ErrNum(r));

    if ok {
        println!("refcount: saturated at 65535, refused with -E_NO_MEM: ok");
    }
}
