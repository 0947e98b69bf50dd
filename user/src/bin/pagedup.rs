//! pagedup (ours): `sys_page_dup` (fork's duppage over a range, in the kernel) and
//! `sys_page_map_copy`. Each mapping is the one duppage makes with `sys_page_map` (writable:
//! copy-on-write in both; copy-on-write: stays so; read-only: read-only; PTE_SHARE: shared as
//! it is), bad arguments are refused with JOS's errors, and one call does a bounded amount of
//! work, saying where to go on.
#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

use jos_lib::inc::env::{ENV_FREE, EnvId, envx};
use jos_lib::inc::memlayout::{UTOP, UXSTACKTOP};
use jos_lib::inc::mmu::{PGSIZE, PTSIZE, pgnum};
use jos_lib::inc::syscall::SYS_PAGE_DUP;
use jos_lib::{
    Error, Pte, envs, exit, fork, ipc_recv, ipc_send, println, sys_env_destroy, sys_exofork,
    sys_getenvid, sys_page_alloc, sys_page_dup, sys_page_map, sys_page_map_copy, sys_page_unmap,
    sys_yield, syscall, thisenv, uvpt,
};

jos_lib::entry!(umain);

/// Pages of each kind, in one table.
const RO: u32 = 0x1000_0000;
const WR: u32 = RO + PGSIZE;
const SH: u32 = RO + 2 * PGSIZE;
/// One page in each of 20 tables (more than one call's DUP_MAX_TABLES = 16).
const SPREAD: u32 = 0x2000_0000;
const SPREAD_N: u32 = 20;
/// 1,100 pages in two tables (more than one call's DUP_MAX_PAGES = 1,024).
const MANY: u32 = 0x3000_0000;
const MANY_N: u32 = 1100;

fn pte(va: u32) -> Pte {
    Pte::from_bits_retain(uvpt(pgnum(va)))
}

fn expect(what: &str, got: jos_lib::Result<()>, want: Error) {
    match got {
        Err(e) if e == want => {}
        other => panic!("{}: got {:?}, expected {:?}", what, other, want),
    }
}

fn wait_gone(id: EnvId) {
    while envs()[envx(id)].env_status() != ENV_FREE {
        sys_yield();
    }
}

/// The raw call: 0 when the range is done, else the page number to go on from.
fn dup_once(child: EnvId, va: u32, end: u32) -> i32 {
    // SAFETY: the ranges used here hold only this program's test pages.
    unsafe { syscall(SYS_PAGE_DUP, child as u32, va, end, 0, 0) }
}

fn umain() {
    let rw = Pte::P | Pte::U | Pte::W;
    // SAFETY: (all the page calls here) the test regions are used by nothing else.
    unsafe {
        sys_page_alloc(0, RO, rw).expect("alloc RO");
        write_volatile(RO as *mut u32, 11);
        sys_page_map(0, RO, 0, RO, Pte::P | Pte::U).expect("RO read-only");
        sys_page_alloc(0, WR, rw).expect("alloc WR");
        write_volatile(WR as *mut u32, 22);
        sys_page_alloc(0, SH, rw | Pte::SHARE).expect("alloc SH");
        write_volatile(SH as *mut u32, 33);
        for i in 0..SPREAD_N {
            sys_page_alloc(0, SPREAD + i * PTSIZE, rw).expect("alloc SPREAD");
        }
        let mut k = 0;
        while k < MANY_N {
            sys_page_alloc(0, MANY + k * PGSIZE, Pte::P | Pte::U).expect("alloc MANY");
            k += 1;
        }
    }

    // A raw child (never run): the calls' checks and bounds.
    let child = match sys_exofork() {
        Ok(0) => panic!("pagedup: the raw child ran"),
        Ok(id) => id,
        Err(e) => panic!("sys_exofork: {}", e),
    };
    // SAFETY: refused calls change nothing; the accepted ones only map into the child and
    // make our test pages copy-on-write.
    unsafe {
        expect(
            "unaligned start",
            sys_page_dup(child, RO + 4, WR),
            Error::Inval,
        );
        expect(
            "unaligned end",
            sys_page_dup(child, RO, WR + 4),
            Error::Inval,
        );
        expect("start after end", sys_page_dup(child, WR, RO), Error::Inval);
        expect(
            "end past UTOP",
            sys_page_dup(child, RO, UTOP + PGSIZE),
            Error::Inval,
        );
        expect(
            "no such env",
            sys_page_dup(0x7fff_f3ff, RO, WR),
            Error::BadEnv,
        );
        let parent = thisenv().env_parent_id();
        if parent != 0 {
            expect("not a child", sys_page_dup(parent, RO, WR), Error::BadEnv);
        }
        // An empty range: done at once.
        assert_eq!(dup_once(child, RO, RO), 0);
    }
    // The three kinds: ours change as duppage changes them.
    // SAFETY: as above.
    unsafe { sys_page_dup(child, RO, SH + PGSIZE) }.expect("dup RO..SH");
    assert_eq!(
        pte(RO) & (Pte::W | Pte::COW),
        Pte::empty(),
        "RO stays read-only"
    );
    assert!(
        pte(WR).contains(Pte::COW) && !pte(WR).contains(Pte::W),
        "WR is COW now"
    );
    assert!(
        pte(SH).contains(Pte::W | Pte::SHARE),
        "SH stays shared and writable"
    );
    // Bounded: 20 tables need two calls; 1,100 pages need two calls.
    let r = dup_once(child, SPREAD, SPREAD + SPREAD_N * PTSIZE);
    assert!(r > 0, "20 tables in one call: {}", r);
    let next = (r as u32) << 12;
    assert!(next > SPREAD && next < SPREAD + SPREAD_N * PTSIZE);
    assert_eq!(
        dup_once(child, next, SPREAD + SPREAD_N * PTSIZE),
        0,
        "the rest"
    );
    let r = dup_once(child, MANY, MANY + MANY_N * PGSIZE);
    assert!(r > 0, "1,100 pages in one call: {}", r);
    assert_eq!(
        (r as u32) << 12,
        MANY + 1024 * PGSIZE,
        "stops after 1,024 mappings"
    );
    // SAFETY: as above.
    unsafe { sys_page_dup(child, MANY, MANY + MANY_N * PGSIZE) }.expect("the library's loop");
    sys_env_destroy(child).expect("destroy the raw child");
    wait_gone(child);
    // SAFETY: test pages.
    unsafe {
        for i in 0..SPREAD_N {
            sys_page_unmap(0, SPREAD + i * PTSIZE).expect("unmap SPREAD");
        }
        for k in 0..MANY_N {
            sys_page_unmap(0, MANY + k * PGSIZE).expect("unmap MANY");
        }
    }

    // fork (which uses sys_page_dup): the child sees every kind as duppage leaves it.
    let me = sys_getenvid();
    match fork() {
        Ok(0) => {
            // SAFETY: (reads and writes of the test pages, as the child's mappings allow)
            unsafe {
                assert_eq!(read_volatile(RO as *const u32), 11);
                assert_eq!(pte(RO) & (Pte::W | Pte::COW), Pte::empty());
                assert!(pte(WR).contains(Pte::COW) && !pte(WR).contains(Pte::W));
                assert_eq!(read_volatile(WR as *const u32), 22);
                // A write copies: the parent keeps its 22.
                write_volatile(WR as *mut u32, 222);
                assert!(pte(WR).contains(Pte::W));
                // Shared: the parent sees this.
                assert!(pte(SH).contains(Pte::W | Pte::SHARE));
                write_volatile(SH as *mut u32, 333);
                // Our stack page is our own copy already (sys_page_map_copy), not COW.
                let sp = &raw const me as u32 & !(PGSIZE - 1);
                assert!(pte(sp).contains(Pte::W) && !pte(sp).contains(Pte::COW));
                // Our exception stack is our own.
                assert!(pte(UXSTACKTOP - PGSIZE).contains(Pte::W));
            }
            ipc_send(me, 1, None, Pte::empty());
            exit();
        }
        Ok(id) => {
            ipc_recv().expect("ipc_recv");
            // SAFETY: reads of our test pages.
            unsafe {
                assert_eq!(
                    read_volatile(WR as *const u32),
                    22,
                    "the child's write leaked"
                );
                assert_eq!(read_volatile(SH as *const u32), 333, "the shared page");
            }
            wait_gone(id);
        }
        Err(e) => panic!("fork: {}", e),
    }

    // sys_page_map_copy: a private copy in a child; bad arguments refused.
    match fork() {
        Ok(0) => {
            ipc_recv().expect("ipc_recv");
            // SAFETY: the page the parent gave us.
            let v = unsafe { read_volatile((RO + 8 * PGSIZE) as *const u32) };
            assert_eq!(v, 11);
            assert!(pte(RO + 8 * PGSIZE).contains(Pte::W));
            exit();
        }
        Ok(id) => {
            // SAFETY: maps only into the child, or refused.
            unsafe {
                sys_page_map_copy(0, RO, id, RO + 8 * PGSIZE, rw).expect("map_copy RO");
                expect(
                    "unmapped source",
                    sys_page_map_copy(0, RO + 16 * PGSIZE, id, RO, rw),
                    Error::Inval,
                );
                expect(
                    "unaligned destination",
                    sys_page_map_copy(0, RO, id, RO + 1, rw),
                    Error::Inval,
                );
                expect(
                    "bad perm",
                    sys_page_map_copy(0, RO, id, RO, Pte::P | Pte::W),
                    Error::Inval,
                );
                expect(
                    "no such env",
                    sys_page_map_copy(0, RO, 0x7fff_f3ff, RO, rw),
                    Error::BadEnv,
                );
            }
            // Our RO page is unchanged and still read-only.
            assert_eq!(pte(RO) & (Pte::W | Pte::COW), Pte::empty());
            ipc_send(id, 0, None, Pte::empty());
            wait_gone(id);
        }
        Err(e) => panic!("fork: {}", e),
    }
    println!("pagedup: all checks passed");
}
