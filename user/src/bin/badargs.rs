//! badargs (ours, no JOS counterpart): every environment and page system call, given bad
//! arguments, must fail with the error JOS specifies and change nothing.
//!
//! Cast: the parent P; child B, which only waits in `ipc_recv` (a receiving target, and a
//! child that P may manipulate); child A, which checks that it may not touch P (its parent)
//! or B (its sibling), reports its failure count to P by IPC and exits. P then checks the
//! rest and destroys B. One line per check, `badargs: <check>: ok` or
//! `badargs: <check>: FAIL (got <error> / <n>)`, then `badargs: all checks passed` if all
//! passed.
#![no_std]
#![no_main]

use core::fmt;

use jos_lib::inc::env::{ENV_FREE, ENV_NOT_RUNNABLE, EnvId, envx};
use jos_lib::inc::error::{E_BAD_ENV, E_INVAL, E_IPC_NOT_RECV};
use jos_lib::inc::memlayout::{UTEXT, UTOP, UXSTACKTOP};
use jos_lib::inc::mmu::PGSIZE;
use jos_lib::inc::syscall::*;
use jos_lib::{
    ErrNum, Pte, envs, exit, fork, ipc_recv, ipc_recv_page, ipc_send, println, sys_getenvid,
    sys_yield, syscall,
};

jos_lib::entry!(umain);

// Scratch pages, never used by Rust objects: even a kernel that wrongly accepts a call
// cannot corrupt the program through them.
const VA1: u32 = 0x1000_0000;
const VA2: u32 = 0x1000_1000;
/// A read-only page (mapped P|U).
const RO: u32 = 0x1000_2000;
/// Never mapped.
const UNMAPPED: u32 = 0x2000_0000;
/// Where B accepts a page, should one (wrongly) arrive.
const B_RECV: u32 = 0x3000_0000;

const P: u32 = Pte::P.bits();
const U: u32 = Pte::U.bits();
const W: u32 = Pte::W.bits();
const G: u32 = Pte::G.bits();
const PCD: u32 = Pte::PCD.bits();
const PU: u32 = P | U;
const PUW: u32 = P | U | W;

/// A raw system call result, shown as JOS's `%e` would, but "success" for 0.
struct Shown(i32);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 0 {
            write!(f, "success")
        } else {
            write!(f, "{}", ErrNum(self.0))
        }
    }
}

/// Prints and counts one environment's checks.
struct Checker {
    who: &'static str,
    failures: u32,
}

impl Checker {
    /// Report check `what`: the result `got` must equal `want` (0 or -E_*).
    fn check(&mut self, what: fmt::Arguments<'_>, got: i32, want: i32) {
        if got == want {
            println!("badargs: {}{}: ok", self.who, what);
        } else {
            println!(
                "badargs: {}{}: FAIL (got {} / {})",
                self.who,
                what,
                Shown(got),
                got
            );
            self.failures += 1;
        }
    }
}

/// A raw system call with the bad arguments under test.
fn sys(num: u32, a1: u32, a2: u32, a3: u32, a4: u32, a5: u32) -> i32 {
    // SAFETY: every call in this file names only the scratch pages above, addresses at or
    // above UTOP, unaligned addresses, or other environments: even a wrong success changes
    // no memory Rust code uses.
    unsafe { syscall(num, a1, a2, a3, a4, a5) }
}

/// Child B: receive forever. Nothing should ever be delivered to it.
fn child_b() -> ! {
    loop {
        // SAFETY: B_RECV is a scratch page.
        match unsafe { ipc_recv_page(B_RECV) } {
            Ok(m) => println!(
                "badargs: B: FAIL: a refused send was delivered (value {}, from {:08x})",
                m.value, m.from
            ),
            Err(e) => println!("badargs: B: FAIL: ipc_recv: {}", e),
        }
    }
}

/// Child A: may act neither on its parent nor on its sibling.
fn child_a(parent: EnvId, sibling: EnvId) -> ! {
    let mut c = Checker {
        who: "A: ",
        failures: 0,
    };
    let e = -E_BAD_ENV;
    for (name, id) in [("parent", parent as u32), ("sibling", sibling as u32)] {
        let r = sys(SYS_PAGE_ALLOC, id, VA1, PUW, 0, 0);
        c.check(format_args!("page_alloc in {}", name), r, e);
        let r = sys(SYS_PAGE_MAP, 0, UTEXT, id, VA1, PU);
        c.check(format_args!("page_map into {}", name), r, e);
        let r = sys(SYS_PAGE_MAP, id, UXSTACKTOP - PGSIZE, 0, VA1, PU);
        c.check(format_args!("page_map from {}", name), r, e);
        let r = sys(SYS_PAGE_UNMAP, id, UXSTACKTOP - PGSIZE, 0, 0, 0);
        c.check(format_args!("page_unmap in {}", name), r, e);
        let r = sys(SYS_ENV_SET_STATUS, id, ENV_NOT_RUNNABLE, 0, 0, 0);
        c.check(format_args!("env_set_status of {}", name), r, e);
        let r = sys(SYS_ENV_SET_PGFAULT_UPCALL, id, 0xdead_beef, 0, 0, 0);
        c.check(format_args!("env_set_pgfault_upcall of {}", name), r, e);
        let r = sys(SYS_ENV_DESTROY, id, 0, 0, 0, 0);
        c.check(format_args!("env_destroy of {}", name), r, e);
    }
    ipc_send(parent, c.failures, None, Pte::empty());
    exit();
}

/// Yield until the environment `id` is gone (its slot free, or reused by a new id).
fn wait_gone(id: EnvId) {
    let e = &envs()[envx(id)];
    while e.env_id() == id && e.env_status() != ENV_FREE {
        sys_yield();
    }
}

fn umain() {
    let me = sys_getenvid();
    let b = match fork() {
        Ok(0) => child_b(),
        Ok(id) => id,
        Err(e) => panic!("fork: {}", e),
    };
    let a = match fork() {
        Ok(0) => child_a(me, b),
        Ok(id) => id,
        Err(e) => panic!("fork: {}", e),
    };
    let a_failures = match ipc_recv() {
        Ok(m) if m.from == a => m.value,
        Ok(m) => panic!("unexpected message from {:08x}", m.from),
        Err(e) => panic!("ipc_recv: {}", e),
    };
    wait_gone(a);

    let mut c = Checker {
        who: "",
        failures: a_failures,
    };
    let (bad, inval) = (-E_BAD_ENV, -E_INVAL);

    // Environments that do not exist: A's id now that A is gone (stale generation), the next
    // generation of our own slot, and a negative id.
    let stale = a as u32;
    let r = sys(SYS_PAGE_ALLOC, stale, VA1, PUW, 0, 0);
    c.check(format_args!("page_alloc in a dead env"), r, bad);
    let r = sys(SYS_PAGE_MAP, stale, VA1, 0, VA2, PU);
    c.check(format_args!("page_map from a dead env"), r, bad);
    let r = sys(SYS_PAGE_MAP, 0, UTEXT, stale, VA1, PU);
    c.check(format_args!("page_map into a dead env"), r, bad);
    let r = sys(SYS_PAGE_UNMAP, stale, VA1, 0, 0, 0);
    c.check(format_args!("page_unmap in a dead env"), r, bad);
    let r = sys(SYS_ENV_SET_STATUS, stale, ENV_NOT_RUNNABLE, 0, 0, 0);
    c.check(format_args!("env_set_status of a dead env"), r, bad);
    let r = sys(SYS_ENV_SET_PGFAULT_UPCALL, stale, 0xdead_beef, 0, 0, 0);
    c.check(format_args!("env_set_pgfault_upcall of a dead env"), r, bad);
    let r = sys(SYS_ENV_DESTROY, stale, 0, 0, 0, 0);
    c.check(format_args!("env_destroy of a dead env"), r, bad);
    let r = sys(SYS_IPC_TRY_SEND, stale, 0, UTOP, 0, 0);
    c.check(format_args!("ipc_try_send to a dead env"), r, bad);
    for (what, id) in [
        ("our slot's next id", me.wrapping_add(1 << 12)),
        ("envid -1", -1),
    ] {
        let r = sys(SYS_PAGE_ALLOC, id as u32, VA1, PUW, 0, 0);
        c.check(format_args!("page_alloc in {}", what), r, bad);
        let r = sys(SYS_ENV_DESTROY, id as u32, 0, 0, 0, 0);
        c.check(format_args!("env_destroy of {}", what), r, bad);
    }

    // Our own child is fair game.
    let bb = b as u32;
    let r = sys(SYS_PAGE_ALLOC, bb, VA1, PUW, 0, 0);
    c.check(format_args!("page_alloc in our child"), r, 0);
    let r = sys(SYS_PAGE_MAP, bb, VA1, bb, VA2, PU);
    c.check(format_args!("page_map within our child"), r, 0);
    let r = sys(SYS_PAGE_UNMAP, bb, VA1, 0, 0, 0);
    c.check(format_args!("page_unmap in our child"), r, 0);
    let r = sys(SYS_PAGE_UNMAP, bb, VA2, 0, 0, 0);
    c.check(format_args!("page_unmap in our child again"), r, 0);

    // Addresses at or above UTOP, or not page-aligned.
    let r = sys(SYS_PAGE_ALLOC, 0, UTOP, PUW, 0, 0);
    c.check(format_args!("page_alloc at UTOP"), r, inval);
    let r = sys(SYS_PAGE_ALLOC, 0, VA1 + 1, PUW, 0, 0);
    c.check(format_args!("page_alloc unaligned"), r, inval);
    let r = sys(SYS_PAGE_ALLOC, 0, RO, PU, 0, 0);
    c.check(format_args!("page_alloc read-only"), r, 0);
    let r = sys(SYS_PAGE_MAP, 0, UTOP, 0, VA2, PU);
    c.check(format_args!("page_map from UTOP"), r, inval);
    let r = sys(SYS_PAGE_MAP, 0, RO + 1, 0, VA2, PU);
    c.check(format_args!("page_map from unaligned"), r, inval);
    let r = sys(SYS_PAGE_MAP, 0, RO, 0, UTOP, PU);
    c.check(format_args!("page_map to UTOP"), r, inval);
    let r = sys(SYS_PAGE_MAP, 0, RO, 0, VA2 + 1, PU);
    c.check(format_args!("page_map to unaligned"), r, inval);
    let r = sys(SYS_PAGE_UNMAP, 0, UTOP, 0, 0, 0);
    c.check(format_args!("page_unmap at UTOP"), r, inval);
    let r = sys(SYS_PAGE_UNMAP, 0, VA1 + 1, 0, 0, 0);
    c.check(format_args!("page_unmap unaligned"), r, inval);

    // Permissions: P and U required, nothing outside PTE_SYSCALL.
    for (what, perm) in [
        ("without U", P | W),
        ("without P", U | W),
        ("with PTE_G", PUW | G),
    ] {
        let r = sys(SYS_PAGE_ALLOC, 0, VA1, perm, 0, 0);
        c.check(format_args!("page_alloc {}", what), r, inval);
        let r = sys(SYS_PAGE_MAP, 0, RO, 0, VA2, perm & !W);
        c.check(format_args!("page_map {}", what), r, inval);
    }
    let r = sys(SYS_PAGE_ALLOC, 0, VA1, PUW | PCD, 0, 0);
    c.check(format_args!("page_alloc with PTE_PCD"), r, inval);
    let r = sys(SYS_PAGE_ALLOC, 0, VA1, PUW | 0x200, 0, 0);
    c.check(format_args!("page_alloc with an AVAIL bit"), r, 0);
    let r = sys(SYS_PAGE_UNMAP, 0, VA1, 0, 0, 0);
    c.check(format_args!("page_unmap"), r, 0);
    let r = sys(SYS_PAGE_MAP, 0, UNMAPPED, 0, VA2, PU);
    c.check(format_args!("page_map of an unmapped page"), r, inval);
    let r = sys(SYS_PAGE_MAP, 0, RO, 0, VA2, PUW);
    c.check(
        format_args!("page_map of a read-only page writable"),
        r,
        inval,
    );
    let r = sys(SYS_PAGE_MAP, 0, RO, 0, VA2, PU);
    c.check(format_args!("page_map of a read-only page read-only"), r, 0);

    // Statuses: only ENV_RUNNABLE and ENV_NOT_RUNNABLE may be set (B is our child).
    for status in [0, 1, 3, 5, 100] {
        let r = sys(SYS_ENV_SET_STATUS, bb, status, 0, 0, 0);
        c.check(format_args!("env_set_status {}", status), r, inval);
    }

    // IPC. We are not receiving; B is, once it has reached ipc_recv.
    let r = sys(SYS_IPC_TRY_SEND, me as u32, 0, UTOP, 0, 0);
    c.check(
        format_args!("ipc_try_send to an env not receiving"),
        r,
        -E_IPC_NOT_RECV,
    );
    let eb = &envs()[envx(b)];
    while !eb.env_ipc_recving() {
        sys_yield();
    }
    let sends = [
        ("an unaligned page", RO + 1, PU),
        ("an unmapped page", UNMAPPED, PU),
        ("a read-only page writable", RO, PUW),
        ("a page without P", RO, U),
        ("a page with PTE_G", RO, PU | G),
    ];
    for (what, va, perm) in sends {
        let r = sys(SYS_IPC_TRY_SEND, bb, 0, va, perm, 0);
        c.check(format_args!("ipc_try_send of {}", what), r, inval);
    }
    let r = sys(SYS_ENV_DESTROY, bb, 0, 0, 0, 0);
    c.check(format_args!("env_destroy of our child"), r, 0);
    wait_gone(b);

    // Last, as a kernel that wrongly accepted it would block us for good.
    let r = sys(SYS_IPC_RECV, VA1 + 1, 0, 0, 0, 0);
    c.check(format_args!("ipc_recv at an unaligned address"), r, inval);

    if c.failures == 0 {
        println!("badargs: all checks passed");
    } else {
        println!("badargs: {} check(s) failed", c.failures);
    }
}
