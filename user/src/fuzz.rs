//! The seeded system-call fuzzer shared by `fuzz` (short, for `make test`) and `fuzzlong`:
//! each calls [`run`] with its budget and seed.
//!
//! The parent P forks WORKERS workers and keeps that many alive (a dead one is replaced)
//! until the budget of system calls is spent. Every env counts each call it makes in a page
//! shared with P (PTE_SHARE), so calls made by envs the kernel destroyed count too. A worker
//! draws calls from a xorshift generator seeded from P's seed, with arguments from sets of
//! interesting values: env ids (0, its own, P's, other workers', its children, other
//! workers' children, dead ones, the next generation of a live one, random, negative),
//! addresses (0, unaligned, below/at/above UTOP, the stacks, ULIM, UVPT, kernel addresses,
//! a scratch region), permissions, statuses, lengths. Besides single calls it mounts the
//! attacks of the hostile tests at random: exoforks (some left behind when it exits),
//! children ("kamikazes") that make random calls of their own, block in sys_ipc_recv or die
//! of a bad sys_cputs pointer; status toggles, double destroys and wake-ups of its running
//! or receiving children; bursts of maps of one page (a cheap refcount attack). And two
//! attacks on the lifecycle around long and blocking calls: a child ("printer") that prints
//! a few KiB in one sys_cputs while its worker suspends and resumes it over and over (the
//! print must go on: suspension takes effect when the call returns); and a child ("queue
//! builder") that exoforks a receiver, forks senders blocked in sys_ipc_send on it or on each
//! other (rings of two or three), suspends some while they are blocked and exits, sometimes
//! from a generation down (a grandchild that builds the queue and suspends itself), so that
//! the kernel must reclaim suspended orphans that sit in each other's sender queues; a sender
//! it did not suspend, whose receiver is reclaimed, must see -E_BAD_ENV.
//!
//! Self-preservation: calls that could wreck the caller itself (unmapping or replacing its
//! own memory, a bogus upcall, suspending itself) only ever target its scratch region, the
//! real upcall, or values the kernel must refuse; a page of its own other than scratch is
//! only lent read-only. Calls on other envs may be anything.
//!
//! Checks: no call returns a value outside JOS's (0 or -E_1..-E_8, a child id for exofork,
//! our id for getenvid); calls on a nonexistent env, on an address at or above UTOP or with
//! a bad permission fail; a bad sys_cputs pointer never returns; a send to a reclaimed
//! receiver returns -E_BAD_ENV; the kernel survives; P ends with every worker gone and
//! nothing that ran left behind. P prints `NAME: N calls, seed S, done` only if all held (the
//! grader adds a `meminfo` leak check).

use jos_lib::inc::env::ENV_RUNNING;
use jos_lib::inc::env::{ENV_FREE, ENV_NOT_RUNNABLE, ENV_RUNNABLE, EnvId, NENV, envx};
use jos_lib::inc::error::{E_BAD_ENV, E_INVAL, MAXERROR};
use jos_lib::inc::memlayout::*;
use jos_lib::inc::mmu::PGSIZE;
use jos_lib::inc::syscall::*;
use jos_lib::{envs, exit, fork, pgfault_upcall, println, sys_getenvid, sys_yield, syscall};

use crate::hostile::{P, PU, PUW, Rng, Shared, U, W, exists};

const WORKERS: usize = 4;
/// The page shared by P and every worker and kamikaze.
const SHARED: u32 = 0x0e00_0000;
/// Shared words.
const TOTAL: usize = 0;
const BUDGET: usize = 1;
const FAILURES: usize = 2;
const KAMIKAZES: usize = 3;
const BURSTS: usize = 4;
const PRINTERS: usize = 5;
const QUEUES: usize = 6;
/// The next mailbox (below) to hand out.
const MAILBOX_NEXT: usize = 7;
/// Mailboxes: a ring's first sender learns there whom to send to (the last one, forked
/// after it). Handed out round robin; a reuse while still in use only misdirects a sender
/// that is suspended anyway (reclaimed whatever it sends to).
const MAILBOX: usize = 128;
const MAILBOXES: u32 = 64;
/// Worker slot w: its id, then its KIDS children's ids (0 for none).
const SLOT: usize = 16;
const SLOT_WORDS: usize = 8;
const KIDS: usize = 6;

/// Every env's own scratch region (the same addresses in each address space).
const SCRATCH: u32 = 0x2000_0000;
const SCRATCH_PAGES: u32 = 64;
/// Where the refcount bursts map their page.
const BURST_PAGE: u32 = 0x3000_0000;
const BURST_MAPS: u32 = 0x3040_0000;
const BURST_LEN: u32 = 2048;
/// A printer's one sys_cputs: this many bytes (16 chunks of the kernel's 256), built in
/// the last page of its scratch region.
const PRINT_LEN: usize = 4096;
/// Yields a blocking step may take (a sender to block, a grandchild to suspend itself, a
/// ring's first sender to learn its target) before the attack goes on without it.
const BLOCK_PATIENCE: u32 = 2000;

/// Static data a valid sys_cputs may point at (with length 0: nothing is printed).
static NOTHING: [u8; 4] = *b"fuzz";

/// Who is making the calls: their id, parent, and what counts as "itself".
struct Me {
    id: EnvId,
    parent: EnvId,
    rng: Rng,
    sh: Shared,
    /// Index of the worker's slot (a kamikaze uses its worker's).
    slot: usize,
    /// A worker (publishes its children) rather than a kamikaze.
    worker: bool,
    kids: [Kid; KIDS],
    /// Recently destroyed children: stale ids.
    dead: [EnvId; 4],
    ndead: usize,
    name: &'static str,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    None,
    /// Made by sys_exofork: empty, never started (we never set it RUNNABLE).
    Exo,
    /// Forked, running `kamikaze`.
    Kamikaze,
    /// Forked, running `queue_builder`: never suspended or destroyed by its worker (see
    /// `queue_builder`); it exits by itself.
    Builder,
}

#[derive(Clone, Copy)]
struct Kid {
    id: EnvId,
    kind: Kind,
}

const NO_KID: Kid = Kid {
    id: 0,
    kind: Kind::None,
};

/// The raw system call.
fn raw(num: u32, a: [u32; 5]) -> i32 {
    // SAFETY: the callers in this file follow the self-preservation rules of the module
    // header: what a call may do to the caller's own address space is confined to its
    // scratch and burst regions, which no Rust object occupies.
    unsafe { syscall(num, a[0], a[1], a[2], a[3], a[4]) }
}

fn is_err(r: i32) -> bool {
    (-(MAXERROR - 1)..0).contains(&r)
}

impl Me {
    fn is_self(&self, e: u32) -> bool {
        e == 0 || e == self.id as u32
    }

    fn kid_kind(&self, e: u32) -> Kind {
        self.kids
            .iter()
            .find(|k| k.kind != Kind::None && k.id as u32 == e)
            .map_or(Kind::None, |k| k.kind)
    }

    /// Whether memory-changing calls on `e` must spare it: ourselves, and our running
    /// children. A kamikaze whose stack or text we replaced could run into an `int3` (the
    /// compiler pads functions with them) or a user panic, and a breakpoint trap stops the
    /// whole machine in the kernel monitor, as in JOS.
    fn protect(&self, e: u32) -> bool {
        self.is_self(e) || matches!(self.kid_kind(e), Kind::Kamikaze | Kind::Builder)
    }

    /// An address for a memory-changing call on `e`.
    fn va_for(&mut self, e: u32) -> u32 {
        if self.protect(e) {
            self.self_va()
        } else {
            self.any_va()
        }
    }

    /// An env id to aim a call at.
    fn env(&mut self) -> u32 {
        let sh = self.sh;
        let r = &mut self.rng;
        let id = match r.below(16) {
            0 => 0,
            1 => self.id,
            2 => self.parent,
            3 => sh.get(SLOT + SLOT_WORDS * r.below(WORKERS as u32) as usize) as EnvId,
            4..=7 => self.kids[r.below(KIDS as u32) as usize].id,
            8 | 9 => {
                let w = r.below(WORKERS as u32) as usize;
                sh.get(SLOT + SLOT_WORDS * w + 1 + r.below(KIDS as u32) as usize) as EnvId
            }
            10 => self.dead[r.below(4) as usize],
            11 => self.id.wrapping_add(1 << 12),
            12 => -1,
            13 => i32::MIN,
            14 => r.below(NENV as u32) as EnvId,
            _ => r.next() as EnvId,
        };
        id as u32
    }

    /// An address that is safe to hand to a call that may change the caller's own mapping
    /// there: its scratch region (aligned or not), or one the kernel must refuse.
    fn self_va(&mut self) -> u32 {
        let r = &mut self.rng;
        match r.below(12) {
            0..=6 => SCRATCH + r.below(SCRATCH_PAGES) * PGSIZE,
            7 => SCRATCH + r.below(SCRATCH_PAGES * PGSIZE),
            8 => r.pick(&[UTOP, UTOP + PGSIZE, ULIM, UVPT, UENVS, UPAGES]),
            9 => r.pick(&[KERNBASE, 0xf010_0000, 0xffff_f000, 0xffff_ffff]),
            10 => UTOP + r.below(0u32.wrapping_sub(UTOP)),
            _ => SCRATCH + 1,
        }
    }

    /// Any address.
    fn any_va(&mut self) -> u32 {
        let r = &mut self.rng;
        match r.below(10) {
            0 => r.pick(&[0, 1, PGSIZE, UTEMP, PFTEMP, UTEXT, UTEXT + PGSIZE]),
            1 => r.pick(&[
                USTACKTOP - PGSIZE,
                UXSTACKTOP - PGSIZE,
                USTACKTOP,
                UTOP - PGSIZE,
            ]),
            2 => r.pick(&[UTOP, ULIM, UVPT, UPAGES, UENVS, KERNBASE, 0xf010_0000]),
            3 => r.pick(&[0xffff_f000, 0xffff_ffff, 0x8000_0000, UTOP - 1]),
            4 => r.below(UTOP / PGSIZE) * PGSIZE,
            5 => r.next(),
            _ => self.self_va(),
        }
    }

    fn perm(&mut self) -> u32 {
        let r = &mut self.rng;
        match r.below(10) {
            0..=3 => PU,
            4..=5 => PUW,
            6 => PU | 0x400 | (r.below(2) * 0x800),
            7 => r.pick(&[0, P, U, W, PUW | 0x100, PUW | 0x10, 0xfff]),
            _ => r.next() & 0xfff,
        }
    }

    fn status(&mut self) -> u32 {
        let r = &mut self.rng;
        match r.below(4) {
            0 => ENV_RUNNABLE,
            1 => ENV_NOT_RUNNABLE,
            2 => r.below(8),
            _ => r.pick(&[100, 0xffff_ffff, 0x8000_0002]),
        }
    }

    /// Count one call in the shared total; false once the budget is spent.
    fn count(&self) -> bool {
        self.sh.add(TOTAL, 1) < self.sh.get(BUDGET)
    }

    fn fail(&self, num: u32, a: [u32; 5], r: i32, why: &str) {
        println!(
            "{}: FAIL: [{:08x}] syscall {}({:08x}, {:08x}, {:08x}, {:08x}, {:08x}) returned {}: {}",
            self.name, self.id, num, a[0], a[1], a[2], a[3], a[4], r, why
        );
        self.sh.add(FAILURES, 1);
    }

    /// Make one checked call. `must_fail`: the arguments make it invalid whatever the state.
    fn call(&mut self, num: u32, a: [u32; 5], must_fail: bool) -> i32 {
        let r = raw(num, a);
        match num {
            SYS_GETENVID => {
                if r != self.id {
                    self.fail(num, a, r, "not our id");
                }
            }
            SYS_CGETC => {
                if r < 0 {
                    self.fail(num, a, r, "negative");
                }
            }
            // Resumes with whatever EAX held: not a result.
            SYS_YIELD => {}
            SYS_EXOFORK => {
                if r == 0 {
                    // We are a child nobody should ever start: stop at once.
                    exit();
                }
                if r < 0 && !is_err(r) {
                    self.fail(num, a, r, "not an error code");
                }
            }
            n if n >= NSYSCALLS => {
                if r != -E_INVAL {
                    self.fail(num, a, r, "an unknown syscall must return -E_INVAL");
                }
            }
            _ => {
                if r != 0 && !is_err(r) {
                    self.fail(num, a, r, "neither 0 nor an error code");
                } else if must_fail && r == 0 {
                    self.fail(num, a, r, "must fail");
                }
            }
        }
        r
    }

    /// Whether `e` names no env at all (whatever happens meanwhile).
    fn bogus_env(e: u32) -> bool {
        (e as i32) < 0
    }

    /// One random system call.
    fn random_call(&mut self) {
        let num = match self.rng.below(40) {
            0 => self
                .rng
                .pick(&[NSYSCALLS, 14, 255, 0xffff_ffff, 0x8000_0000]),
            n => n % NSYSCALLS,
        };
        match num {
            SYS_CPUTS => {
                // Only valid pointers here: a bad one would end us (kamikazes do that).
                let p = &raw const NOTHING as u32 + self.rng.below(4);
                self.call(num, [p, 0, 0, 0, 0], false);
            }
            SYS_ENV_DESTROY => {
                let e = self.env();
                if self.is_self(e) || self.kid_kind(e) == Kind::Builder {
                    return;
                }
                let r = self.call(num, [e, 0, 0, 0, 0], Self::bogus_env(e));
                if r == 0 {
                    self.forget(e as EnvId);
                }
            }
            SYS_PAGE_ALLOC => {
                let e = self.env();
                let va = self.va_for(e);
                let perm = self.perm();
                let bad = Self::bogus_env(e) || va >= UTOP || bad_perm(perm);
                self.call(num, [e, va, perm, 0, 0], bad);
            }
            SYS_PAGE_MAP => {
                let (src, dst) = (self.env(), self.env());
                let srcva = if self.rng.below(3) == 0 {
                    self.self_va()
                } else {
                    self.any_va()
                };
                let dstva = self.va_for(dst);
                let mut perm = self.perm();
                if self.is_self(src) && !self.is_self(dst) && !in_scratch(srcva) {
                    // Lend our own pages read-only: a writable stack page shared with a
                    // running child would let it corrupt us.
                    perm &= !W;
                }
                let bad = Self::bogus_env(src)
                    || Self::bogus_env(dst)
                    || srcva >= UTOP
                    || dstva >= UTOP
                    || bad_perm(perm);
                self.call(num, [src, srcva, dst, dstva, perm], bad);
            }
            SYS_PAGE_UNMAP => {
                let e = self.env();
                let va = self.va_for(e);
                self.call(num, [e, va, 0, 0, 0], Self::bogus_env(e) || va >= UTOP);
            }
            // Mostly a plain yield instead: every exofork is an env slot for a while.
            SYS_EXOFORK if self.rng.below(4) == 0 => self.exofork(),
            SYS_EXOFORK => sys_yield(),
            SYS_ENV_SET_STATUS => {
                let e = self.env();
                let mut s = self.status();
                if ((self.is_self(e) || self.kid_kind(e) == Kind::Builder) && s == ENV_NOT_RUNNABLE)
                    || (self.kid_kind(e) == Kind::Exo && s == ENV_RUNNABLE)
                {
                    // Never suspend ourselves or a queue builder; never start an empty child.
                    s = 5;
                }
                let bad = Self::bogus_env(e) || (s != ENV_RUNNABLE && s != ENV_NOT_RUNNABLE);
                self.call(num, [e, s, 0, 0, 0], bad);
            }
            SYS_ENV_SET_PGFAULT_UPCALL => {
                let e = self.env();
                // Ourselves and our running children keep the real upcall: a bogus one, or
                // a bogus one then the real one while a fault is being delivered, sends the
                // env into code or data that may reach an `int3` or a user panic. Others
                // (empty or not ours) get any, from entries that end a faulting env cleanly
                // (none, unmapped, not user-accessible) if it ever ran.
                let f = if self.protect(e) {
                    pgfault_upcall()
                } else {
                    self.rng
                        .pick(&[pgfault_upcall(), 0, 0xdead_beef, KERNBASE, ULIM])
                };
                self.call(num, [e, f, 0, 0, 0], Self::bogus_env(e));
            }
            SYS_IPC_TRY_SEND => {
                let e = self.env();
                let va = self.any_va();
                let mut perm = self.perm();
                if !in_scratch(va) {
                    perm &= !W;
                }
                let v = self.rng.next();
                self.call(num, [e, v, va, perm, 0], Self::bogus_env(e));
            }
            SYS_IPC_RECV => {
                // Only ones that must fail: a real receive could block us for good.
                let va = SCRATCH + 1 + self.rng.below(PGSIZE - 1);
                self.call(num, [va, 0, 0, 0, 0], true);
            }
            _ => {
                let a = [self.rng.next(), self.rng.next(), 0, 0, 0];
                self.call(num, a, false);
            }
        }
    }

    fn exofork(&mut self) {
        let Some(slot) = self.free_kid_slot() else {
            return;
        };
        let r = self.call(SYS_EXOFORK, [0; 5], false);
        if r > 0 {
            self.adopt(slot, r, Kind::Exo);
        }
    }

    fn free_kid_slot(&mut self) -> Option<usize> {
        // A queue builder's slot is free once it has gone (it exits by itself).
        if let Some(i) = self
            .kids
            .iter()
            .position(|k| k.kind == Kind::None || (k.kind == Kind::Builder && !exists(k.id)))
        {
            return Some(i);
        }
        // All taken: destroy one at random to make room (never a queue builder).
        let i = self.rng.below(KIDS as u32) as usize;
        let id = self.kids[i].id;
        if self.kids[i].kind == Kind::Builder {
            return None;
        }
        if self.count() {
            self.call(SYS_ENV_DESTROY, [id as u32, 0, 0, 0, 0], false);
            self.forget(id);
            Some(i)
        } else {
            None
        }
    }

    fn adopt(&mut self, i: usize, id: EnvId, kind: Kind) {
        self.kids[i] = Kid { id, kind };
        if self.worker {
            self.sh
                .set(SLOT + SLOT_WORDS * self.slot + 1 + i, id as u32);
        }
    }

    fn forget(&mut self, id: EnvId) {
        for i in 0..KIDS {
            if self.kids[i].kind != Kind::None && self.kids[i].id == id {
                self.kids[i] = NO_KID;
                self.dead[self.ndead % 4] = id;
                self.ndead += 1;
            }
        }
    }

    /// Fork a kamikaze child.
    fn spawn_kamikaze(&mut self) {
        let Some(slot) = self.free_kid_slot() else {
            return;
        };
        if !self.count() {
            return;
        }
        let seed = self.rng.next() | 1;
        match fork() {
            Ok(0) => kamikaze(self.sh, self.slot, seed, self.name),
            Ok(id) => {
                self.adopt(slot, id, Kind::Kamikaze);
                self.sh.add(KAMIKAZES, 1);
            }
            Err(_) => {}
        }
    }

    /// Fork a printer and suspend and resume it while it prints (then leave it runnable).
    fn spawn_printer(&mut self) {
        let Some(slot) = self.free_kid_slot() else {
            return;
        };
        if !self.count() {
            return;
        }
        let seed = self.rng.next() | 1;
        let id = match fork() {
            Ok(0) => printer(self.sh, self.slot, seed, self.name),
            Ok(id) => id,
            Err(_) => return,
        };
        self.adopt(slot, id, Kind::Kamikaze);
        self.sh.add(PRINTERS, 1);
        let e = id as u32;
        for _ in 0..self.rng.below(64) {
            if !self.count() {
                break;
            }
            self.call(SYS_ENV_SET_STATUS, [e, ENV_NOT_RUNNABLE, 0, 0, 0], false);
            busy(self.rng.below(2000));
            if !self.count() {
                break;
            }
            self.call(SYS_ENV_SET_STATUS, [e, ENV_RUNNABLE, 0, 0, 0], false);
            busy(self.rng.below(500));
        }
        // Runnable for good (a budget that ran out between the two calls must not leave it
        // suspended: it would be a suspended child that ran, for cleanup to destroy).
        self.sh.add(TOTAL, 1);
        self.call(SYS_ENV_SET_STATUS, [e, ENV_RUNNABLE, 0, 0, 0], false);
    }

    /// Fork a queue builder (see `queue_builder`).
    fn spawn_queue_builder(&mut self) {
        let Some(slot) = self.free_kid_slot() else {
            return;
        };
        if !self.count() {
            return;
        }
        let seed = self.rng.next() | 1;
        match fork() {
            Ok(0) => queue_builder(self.sh, self.slot, seed, self.name),
            Ok(id) => {
                self.adopt(slot, id, Kind::Builder);
                self.sh.add(QUEUES, 1);
            }
            Err(_) => {}
        }
    }

    /// Fork a sender that sends to `to` (0: to whoever mailbox `mb` names, once it does)
    /// with the blocking sys_ipc_send, maybe with a page, then exits. `bad_env`: its
    /// receiver will be reclaimed, so the send must return -E_BAD_ENV.
    fn fork_sender(&mut self, to: EnvId, mb: usize, bad_env: bool) -> Option<EnvId> {
        if !self.count() {
            return None;
        }
        match fork() {
            Ok(0) => {
                self.id = sys_getenvid();
                let mut to = to;
                let mut patience = BLOCK_PATIENCE;
                while to == 0 && patience > 0 {
                    to = self.sh.get(mb) as EnvId;
                    sys_yield();
                    patience -= 1;
                }
                if to == 0 || !self.count() {
                    exit();
                }
                let page = SCRATCH + self.rng.below(SCRATCH_PAGES) * PGSIZE;
                let (va, perm) = if self.rng.below(2) == 0
                    && self.count()
                    && self.call(SYS_PAGE_ALLOC, [0, page, PUW, 0, 0], false) == 0
                {
                    (page, PU)
                } else {
                    (UTOP, 0)
                };
                let a = [to as u32, self.rng.next(), va, perm, 0];
                let r = self.call(SYS_IPC_SEND, a, false);
                if bad_env && r != -E_BAD_ENV {
                    self.fail(
                        SYS_IPC_SEND,
                        a,
                        r,
                        "a send to a receiver the kernel reclaimed must fail with -E_BAD_ENV",
                    );
                }
                exit();
            }
            Ok(id) => Some(id),
            Err(_) => None,
        }
    }

    /// Wait (yielding, bounded) until `id` no longer runs or wants to: blocked in its send,
    /// suspended, or gone.
    fn await_blocked(&self, id: EnvId) {
        for _ in 0..BLOCK_PATIENCE {
            let e = &envs()[envx(id)];
            if e.env_id() != id || !matches!(e.env_status(), ENV_RUNNABLE | ENV_RUNNING) {
                return;
            }
            sys_yield();
        }
    }

    /// Build sender queues for the kernel to reclaim when we exit: an exoforked receiver
    /// with one to four senders blocked on it, about half suspended; sometimes a ring of two
    /// or three suspended senders sending to each other.
    fn build_queues(&mut self) {
        if !self.count() {
            return;
        }
        let r = self.call(SYS_EXOFORK, [0; 5], false);
        if r <= 0 {
            return;
        }
        for _ in 0..1 + self.rng.below(4) {
            let suspend = self.rng.below(2) == 0;
            let Some(s) = self.fork_sender(r, 0, !suspend) else {
                break;
            };
            self.await_blocked(s);
            if suspend {
                self.sh.add(TOTAL, 1);
                self.call(
                    SYS_ENV_SET_STATUS,
                    [s as u32, ENV_NOT_RUNNABLE, 0, 0, 0],
                    false,
                );
            }
        }
        if self.rng.below(2) == 0 {
            let mb = MAILBOX + (self.sh.add(MAILBOX_NEXT, 1) % MAILBOXES) as usize;
            self.sh.set(mb, 0);
            let mut ring = [0 as EnvId; 3];
            let n = 2 + self.rng.below(2) as usize;
            for i in 0..n {
                // The first learns its target (the last) from the mailbox.
                let to = if i == 0 { 0 } else { ring[i - 1] };
                match self.fork_sender(to, mb, false) {
                    Some(s) => ring[i] = s,
                    None => break,
                }
            }
            self.sh.set(mb, ring[n - 1] as u32);
            for &s in ring.iter().filter(|&&s| s != 0) {
                self.await_blocked(s);
            }
            // Even past the budget: a ring left running is a deadlock nobody can end (its
            // members are orphans once we exit), where a suspended one is reclaimed.
            for &s in ring.iter().filter(|&&s| s != 0) {
                self.sh.add(TOTAL, 1);
                self.call(
                    SYS_ENV_SET_STATUS,
                    [s as u32, ENV_NOT_RUNNABLE, 0, 0, 0],
                    false,
                );
            }
        }
    }

    /// Races on our own children: status toggles, double destroys, waking receivers.
    fn race(&mut self) {
        let i = self.rng.below(KIDS as u32) as usize;
        let Kid { id, kind } = self.kids[i];
        if kind != Kind::Kamikaze {
            return;
        }
        let e = id as u32;
        match self.rng.below(3) {
            0 => {
                for _ in 0..self.rng.below(20) {
                    if !self.count() {
                        return;
                    }
                    self.call(SYS_ENV_SET_STATUS, [e, ENV_NOT_RUNNABLE, 0, 0, 0], false);
                    if !self.count() {
                        return;
                    }
                    self.call(SYS_ENV_SET_STATUS, [e, ENV_RUNNABLE, 0, 0, 0], false);
                }
            }
            1 => {
                for _ in 0..2 {
                    if self.count() {
                        self.call(SYS_ENV_DESTROY, [e, 0, 0, 0, 0], false);
                    }
                }
                self.forget(id);
            }
            _ => {
                // Wake it if it is receiving: it must stay blocked (its receive must not
                // return without a message; the kamikaze checks).
                if envs()[envx(id)].env_ipc_recving() && self.count() {
                    self.call(SYS_ENV_SET_STATUS, [e, ENV_RUNNABLE, 0, 0, 0], false);
                }
            }
        }
    }

    /// Map one scratch page many times, then unmap it all: counts must follow.
    fn burst(&mut self) {
        if !self.count() {
            return;
        }
        if self.call(SYS_PAGE_ALLOC, [0, BURST_PAGE, PU, 0, 0], false) != 0 {
            return;
        }
        self.sh.add(BURSTS, 1);
        let mut mapped = 0;
        for k in 0..BURST_LEN {
            if !self.count() {
                break;
            }
            let a = [0, BURST_PAGE, 0, BURST_MAPS + k * PGSIZE, PU];
            let r = self.call(SYS_PAGE_MAP, a, false);
            if r != 0 {
                self.fail(
                    SYS_PAGE_MAP,
                    a,
                    r,
                    "a map of a page with a small count failed",
                );
                break;
            }
            mapped += 1;
        }
        for k in 0..mapped {
            self.sh.add(TOTAL, 1);
            self.call(SYS_PAGE_UNMAP, [0, BURST_MAPS + k * PGSIZE, 0, 0, 0], false);
        }
        self.sh.add(TOTAL, 1);
        self.call(SYS_PAGE_UNMAP, [0, BURST_PAGE, 0, 0, 0], false);
    }

    /// Destroy our children, except (at random, one in `leave`) some never-started
    /// exoforked ones, which are left behind for the kernel to reclaim.
    fn cleanup(&mut self, leave: u32) {
        for i in 0..KIDS {
            let Kid { id, kind } = self.kids[i];
            if kind == Kind::None
                || kind == Kind::Builder
                || (kind == Kind::Exo && self.rng.below(leave) == 0)
            {
                continue;
            }
            self.sh.add(TOTAL, 1);
            self.call(SYS_ENV_DESTROY, [id as u32, 0, 0, 0, 0], false);
            self.forget(id);
        }
    }
}

fn in_scratch(va: u32) -> bool {
    (SCRATCH..SCRATCH + SCRATCH_PAGES * PGSIZE).contains(&va)
}

/// A permission JOS refuses: P and U required, nothing outside PTE_SYSCALL (0xe07).
fn bad_perm(perm: u32) -> bool {
    perm & PU != PU || perm & !0xe07 != 0
}

/// A kamikaze: random calls, maybe a receive, maybe a bad pointer that must kill it.
fn kamikaze(sh: Shared, slot: usize, seed: u32, name: &'static str) -> ! {
    let mut me = Me {
        id: sys_getenvid(),
        parent: 0,
        rng: Rng(seed),
        sh,
        slot,
        worker: false,
        kids: [NO_KID; KIDS],
        dead: [0; 4],
        ndead: 0,
        name,
    };
    me.parent = envs()[envx(me.id)].env_parent_id();
    let n = me.rng.below(40);
    for _ in 0..n {
        if !me.count() {
            break;
        }
        match me.rng.below(40) {
            0 | 1 => {
                // Block until someone sends (another worker's random send) or our worker
                // destroys us. Must not return without a message.
                // (A wake-up without a message returns garbage, which `call` reports.)
                let va = me.self_va();
                let unaligned = va < UTOP && !va.is_multiple_of(PGSIZE);
                me.call(SYS_IPC_RECV, [va, 0, 0, 0, 0], unaligned);
            }
            2 | 3 => {
                // A bad pointer: the kernel must destroy us.
                // (Not UTOP..ULIM: envs[], pages[] and the page tables are user-readable.)
                let p = me
                    .rng
                    .pick(&[0, 1, ULIM, KERNBASE, 0xf010_0000, 0xffff_ffff]);
                let p = if me.rng.below(2) == 0 {
                    p
                } else {
                    SCRATCH + me.rng.below(SCRATCH_PAGES) * PGSIZE
                };
                // 0xffff_ffff wraps around the address space from any p > 0.
                let len = me.rng.pick(&[1, 4096, 0x10_0000, 0xffff_ffff]);
                let mapped = in_scratch(p)
                    && jos_lib::uvpt(jos_lib::inc::mmu::pgnum(p)) & P != 0
                    && len <= PGSIZE - (p % PGSIZE);
                if !mapped {
                    // Our children first (but a few exoforked ones, left behind).
                    me.cleanup(8);
                    let r = raw(SYS_CPUTS, [p, len, 0, 0, 0]);
                    me.fail(SYS_CPUTS, [p, len, 0, 0, 0], r, "a bad pointer came back");
                }
            }
            _ => me.random_call(),
        }
    }
    me.cleanup(8);
    exit();
}

/// Busy-wait `n` rounds without `pause` (which would end this vCPU's slice under QEMU's
/// single TCG thread: a burst of status changes should land while the other CPU runs).
fn busy(n: u32) {
    for i in 0..n {
        core::hint::black_box(i);
    }
}

/// A printer: one sys_cputs of PRINT_LEN bytes of its own (lines naming it), while its
/// worker suspends and resumes it; then it exits.
fn printer(sh: Shared, slot: usize, seed: u32, name: &'static str) -> ! {
    let id = sys_getenvid();
    let mut me = Me {
        id,
        parent: envs()[envx(id)].env_parent_id(),
        rng: Rng(seed),
        sh,
        slot,
        worker: false,
        kids: [NO_KID; KIDS],
        dead: [0; 4],
        ndead: 0,
        name,
    };
    let va = SCRATCH + (SCRATCH_PAGES - 1) * PGSIZE;
    if me.count() && me.call(SYS_PAGE_ALLOC, [0, va, PUW, 0, 0], false) == 0 {
        // SAFETY: the page was just mapped writable at `va`, in our scratch region, which
        // no Rust object occupies; nothing of ours maps over it while we fill it.
        let buf = unsafe { core::slice::from_raw_parts_mut(va as usize as *mut u8, PRINT_LEN) };
        buf.fill(b'.');
        for line in buf.chunks_mut(64) {
            let head = b": print ";
            let n = name.len().min(16);
            line[..n].copy_from_slice(&name.as_bytes()[..n]);
            line[n..n + head.len()].copy_from_slice(head);
            let mut x = id as u32;
            for k in (0..8).rev() {
                line[n + head.len() + k] = b"0123456789abcdef"[(x & 15) as usize];
                x >>= 4;
            }
            line[63] = b'\n';
        }
        // Another worker may unmap the page meanwhile: the kernel then destroys us.
        if me.count() {
            me.call(SYS_CPUTS, [va, PRINT_LEN as u32, 0, 0, 0], false);
        }
    }
    exit();
}

/// A queue builder: builds sender queues (`Me::build_queues`) and exits, leaving them for
/// the kernel to reclaim; or, one time in four, forks a child that builds them and then
/// suspends itself, waits for that, and exits: the kernel must reclaim the child and, with
/// it, its queues. Its worker never suspends or destroys it: a builder stopped between
/// making a ring and suspending its members would leave a ring of orphans blocked sending
/// to each other, a deadlock that only they could end (a user program's bug, not a leak the
/// kernel must reclaim: like an orphan spinning for ever).
fn queue_builder(sh: Shared, slot: usize, seed: u32, name: &'static str) -> ! {
    let id = sys_getenvid();
    let mut me = Me {
        id,
        parent: envs()[envx(id)].env_parent_id(),
        rng: Rng(seed),
        sh,
        slot,
        worker: false,
        kids: [NO_KID; KIDS],
        dead: [0; 4],
        ndead: 0,
        name,
    };
    if me.rng.below(4) != 0 {
        me.build_queues();
        exit();
    }
    if !me.count() {
        exit();
    }
    match fork() {
        Ok(0) => {
            me.id = sys_getenvid();
            me.parent = id;
            me.build_queues();
            // Suspend ourselves: only our parent could resume us, and it is about to exit.
            me.sh.add(TOTAL, 1);
            raw(SYS_ENV_SET_STATUS, [0, ENV_NOT_RUNNABLE, 0, 0, 0]);
            exit();
        }
        Ok(g) => {
            // Wait for it to suspend itself (its status: NOT_RUNNABLE, or FREE if it died).
            for _ in 0..BLOCK_PATIENCE * 8 {
                let e = &envs()[envx(g)];
                if e.env_id() != g || e.env_status() == ENV_NOT_RUNNABLE {
                    break;
                }
                sys_yield();
            }
        }
        Err(_) => {}
    }
    exit();
}

/// A worker: random calls and attacks until the budget is spent.
fn worker(sh: Shared, slot: usize, seed: u32, name: &'static str) -> ! {
    let id = sys_getenvid();
    let mut me = Me {
        id,
        parent: envs()[envx(id)].env_parent_id(),
        rng: Rng(seed),
        sh,
        slot,
        worker: true,
        kids: [NO_KID; KIDS],
        dead: [0; 4],
        ndead: 0,
        name,
    };
    while me.count() {
        match me.rng.below(1000) {
            0..=19 => me.spawn_kamikaze(),
            20..=49 => me.exofork(),
            50..=79 => me.race(),
            80 if me.rng.below(4) == 0 => me.burst(),
            82 if me.rng.below(2) == 0 => me.spawn_printer(),
            83 if me.rng.below(2) == 0 => me.spawn_queue_builder(),
            81 if me.rng.below(4) == 0 => {
                // Exit early: children destroyed, some exoforked ones left behind.
                me.cleanup(4);
                exit();
            }
            _ => me.random_call(),
        }
    }
    me.cleanup(4);
    exit();
}

/// The parent: keep WORKERS workers alive until `budget` calls are spent, then wait for
/// them all to go. Prints the result line.
pub fn run(name: &'static str, budget: u32, seed: u32) {
    let sh = Shared::new(SHARED);
    sh.set(BUDGET, budget);
    println!(
        "{}: seed {:#010x}, {} calls, {} workers",
        name, seed, budget, WORKERS
    );
    let mut workers: [EnvId; WORKERS] = [0; WORKERS];
    let mut spawned = 0u32;
    let mut last_total = 0;
    let mut stuck = 0u32;
    loop {
        let total = sh.get(TOTAL);
        if total >= budget {
            break;
        }
        for (w, id) in workers.iter_mut().enumerate() {
            if *id != 0 && exists(*id) {
                continue;
            }
            // Clear the slot; the worker fills in its children.
            for k in 0..SLOT_WORDS {
                sh.set(SLOT + SLOT_WORDS * w + k, 0);
            }
            let wseed = seed ^ (spawned + 1).wrapping_mul(0x9e37_79b9);
            spawned += 1;
            match fork() {
                Ok(0) => worker(sh, w, wseed | 1, name),
                Ok(kid) => {
                    *id = kid;
                    sh.set(SLOT + SLOT_WORDS * w, kid as u32);
                }
                Err(e) => println!("{}: fork: {}", name, e),
            }
        }
        sys_yield();
        // A watchdog: if no call is made for a long time, everyone is stuck.
        if total == last_total {
            stuck += 1;
            if stuck > 200_000 {
                println!("{}: FAIL: no progress at {} calls", name, total);
                sh.add(FAILURES, 1);
                break;
            }
        } else {
            stuck = 0;
            last_total = total;
        }
    }
    // Workers stop by themselves once the budget is spent.
    for &id in &workers {
        let mut patience = 200_000;
        while id != 0 && exists(id) && patience > 0 {
            sys_yield();
            patience -= 1;
        }
        if id != 0 && exists(id) {
            println!("{}: FAIL: worker {:08x} never finished", name, id);
            sh.add(FAILURES, 1);
            let _ = jos_lib::sys_env_destroy(id);
        }
    }
    // What is left: only never-started exoforked children may remain (for the kernel to
    // reclaim); anything that ran was ours to destroy. Destroys of envs running elsewhere
    // complete at their next trap: give them time.
    let me = sys_getenvid();
    let mut others = 0;
    let mut unstarted = 0;
    // (Long enough for the senders that a reclaimed receiver answered, and the first
    // senders of rings whose builder died before naming their target, to finish.)
    for _ in 0..BLOCK_PATIENCE * 20 {
        (unstarted, others) = (0, 0);
        for e in envs().iter() {
            if e.env_status() == ENV_FREE || e.env_id() == me {
                continue;
            }
            if e.env_runs() == 0 {
                unstarted += 1;
            } else {
                others += 1;
            }
        }
        if others == 0 {
            break;
        }
        sys_yield();
    }
    if others != 0 {
        println!(
            "{}: FAIL: {} envs that ran are left behind (and {} never started)",
            name, others, unstarted
        );
        for e in envs().iter() {
            if e.env_status() != ENV_FREE && e.env_id() != me && e.env_runs() != 0 {
                println!(
                    "{}: left behind: {:08x} (parent {:08x}) status {}, {} runs, receiving {}",
                    name,
                    e.env_id(),
                    e.env_parent_id(),
                    e.env_status(),
                    e.env_runs(),
                    e.env_ipc_recving()
                );
            }
        }
        sh.add(FAILURES, 1);
    }
    let (total, failures) = (sh.get(TOTAL), sh.get(FAILURES));
    println!(
        "{}: {} workers, {} kamikazes, {} refcount bursts, {} printers, {} queue builders, \
         {} never-started envs left",
        name,
        spawned,
        sh.get(KAMIKAZES),
        sh.get(BURSTS),
        sh.get(PRINTERS),
        sh.get(QUEUES),
        unstarted
    );
    if failures == 0 {
        println!("{}: {} calls, seed {:#010x}, done", name, total, seed);
    } else {
        println!(
            "{}: {} calls, seed {:#010x}, {} failure(s)",
            name, total, seed, failures
        );
    }
}
