//! User environments (JOS's kern/env.c): the envs[] table (mapped read-only for users at
//! UENVS), env ids, per-env address spaces, loading embedded ELF programs, and creating,
//! freeing, destroying and running envs. Also the global descriptor table. JOS's `gdt`,
//! `env_init`, `env_init_percpu`, `envid2env`, `env_setup_vm`, `env_alloc`, `region_alloc`,
//! `load_icode`, `env_create`, `env_free`, `env_destroy`, `env_pop_tf`, `env_run`; and the
//! env-table side of kern/syscall.c's `sys_exofork`, `sys_env_set_status` and IPC.
//!
//! Unlike JOS, every change of an env's status goes through one state machine
//! (kern_logic::lifecycle, host-tested): "which CPU runs it" is kept apart from the status,
//! destroy is idempotent and deferred while the env runs anywhere, suspension never cancels a
//! receive, and envs that can provably never run again are reclaimed. The scheduler's runnable
//! envs are a bitmap kept in step with those states (O(1) choice, JOS's order).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

use jos_inc::env::*;
use jos_inc::error::{Error, Result};
use jos_inc::memlayout::*;
use jos_inc::mmu::*;
use jos_inc::trap::Trapframe;
use kern_logic::elf::Elf;
use kern_logic::envid::EnvIdx;
use kern_logic::envid::next_envid;
use kern_logic::lifecycle::{self, EnvState, Event, Life, Refusal};
use kern_logic::runset::RunSet;
use x86::Ring;
use x86::dtables::{DescriptorTablePointer, lgdt};
use x86::segmentation::{
    BuildDescriptor, CodeSegmentType, DataSegmentType, Descriptor, DescriptorBuilder,
    SegmentDescriptorBuilder, SegmentSelector,
};

use crate::cprintf;
use crate::cpu::CpuId;
use crate::cpu::{self, NCPU};
use crate::fpu::{self, FpuArea};
use crate::pmap::{self, Entry, KernVa, PageTable, UserPage, UserPgdir};
use crate::spinlock::{BigLocked, Kernel};

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

/// No slot (in the kernel-only links).
const NIL: u16 = u16::MAX;

/// Every this many timer ticks of a CPU, the lowest runnable priority runs (`EnvTable::pick`).
const AGING_PERIOD: u32 = 8;

/// Per-env state the kernel keeps out of the user-visible `Env` (design.md, "Beyond JOS"):
/// the lifecycle state (which CPU runs it, suspended, receiving, dying, orphaned) and the
/// parent/child links that let a parent's death reclaim children nobody can ever run.
#[derive(Clone, Copy)]
struct EnvKern {
    state: EnvState,
    parent: u16,
    first_child: u16,
    next_sibling: u16,
    prev_sibling: u16,
    /// While blocked in sys_ipc_send: the receiver, the next sender queued on the same
    /// receiver, and the message (value, srcva, perm).
    send_to: u16,
    send_next: u16,
    msg: [u32; 3],
    /// Senders blocked on this env, first come first served.
    senders: u16,
    senders_tail: u16,
    /// Scheduling priority, `0..NPRIO` (higher first).
    prio: u8,
    /// The user exception upcall (0: none; JOS's behaviour, the env is destroyed).
    exc_upcall: u32,
}

impl EnvKern {
    const FREE: EnvKern = EnvKern {
        state: EnvState::FREE,
        parent: NIL,
        first_child: NIL,
        next_sibling: NIL,
        prev_sibling: NIL,
        send_to: NIL,
        send_next: NIL,
        msg: [0; 3],
        senders: NIL,
        senders_tail: NIL,
        prio: ENV_PRIO_DEFAULT as u8,
        exc_upcall: 0,
    };
}

/// A lifecycle event the kernel's own invariants guarantee to be legal was refused: a kernel
/// bug.
#[cold]
#[inline(never)]
#[track_caller]
fn refused(i: EnvIdx, ev: Event, r: Refusal, s: EnvState) -> ! {
    panic!("env {}: {:?} refused ({:?}) in {:?}", i, ev, r, s)
}

/// The slot a `u16` link names (NIL, past the last slot, names none).
fn link(i: u16) -> Option<EnvIdx> {
    EnvIdx::new(usize::from(i))
}

/// The `u16` link to slot `i` (the kernel's per-env lists store links in 16 bits).
fn to_link(i: EnvIdx) -> u16 {
    i.index() as u16
}

/// One `T` per env slot, indexed by `EnvIdx`.
struct PerEnv<T>([T; NENV]);

impl<T> core::ops::Index<EnvIdx> for PerEnv<T> {
    type Output = T;
    #[inline]
    fn index(&self, i: EnvIdx) -> &T {
        &self.0[i.index()]
    }
}

impl<T> core::ops::IndexMut<EnvIdx> for PerEnv<T> {
    #[inline]
    fn index_mut(&mut self, i: EnvIdx) -> &mut T {
        &mut self.0[i.index()]
    }
}

/// The envs[] array (the memory user space reads at UENVS), the kernel-only state beside it,
/// the free list and the scheduler's run set. Guarded by the big kernel lock.
pub struct EnvTable {
    envs: *mut Env,
    kern: PerEnv<EnvKern>,
    /// First free slot; the list is threaded through `env_link` (kernel addresses, as JOS).
    free: Option<EnvIdx>,
    /// RUNNABLE envs (live, wanting a CPU, on none), one set per priority: the scheduler's
    /// choice is a bit search in the highest non-empty one.
    runq: [RunSet; NPRIO as usize],
    /// Bit p set iff `runq[p]` is non-empty.
    levels: u8,
    /// Per CPU: timer ticks, for the anti-starvation rule (`pick`).
    ticks: [u32; NCPU],
    /// Envs that are RUNNABLE, RUNNING or DYING (sched_halt's "anything to do?").
    nactive: usize,
    /// Per CPU: the env its current env last woke with a message, to run next when the
    /// current env blocks (IPC hand-off; NIL if none).
    handoff: [u16; NCPU],
}

// SAFETY: `envs` points at the boot-allocated array, owned by this table; access is
// serialized by the big kernel lock.
unsafe impl Send for EnvTable {}

static ENVS: BigLocked<EnvTable> = BigLocked::new(EnvTable {
    envs: core::ptr::null_mut(),
    kern: PerEnv([EnvKern::FREE; NENV]),
    free: None,
    runq: [const { RunSet::new() }; NPRIO as usize],
    levels: 0,
    ticks: [0; NCPU],
    nactive: 0,
    handoff: [NIL; NCPU],
});

/// Free env slots, kept outside the lock for the monitor (which runs after a panic, too).
static NFREE: AtomicUsize = AtomicUsize::new(0);

/// The env table.
pub fn table(k: &mut Kernel) -> &mut EnvTable {
    ENVS.get(k)
}

impl EnvTable {
    /// Env slot `i`.
    #[inline]
    pub fn env(&mut self, i: EnvIdx) -> &mut Env {
        debug_assert!(!self.envs.is_null(), "envs[] used before env_init");
        // SAFETY: NENV records allocated by mem_init, never freed, and `i` < NENV (EnvIdx);
        // the big lock gives exclusive access on the kernel side (user space only reads them,
        // through UENVS).
        unsafe { &mut *self.envs.add(i.index()) }
    }

    #[inline]
    pub fn id(&mut self, i: EnvIdx) -> EnvId {
        self.env(i).env_id
    }

    #[inline]
    pub fn state(&self, i: EnvIdx) -> EnvState {
        self.kern[i].state
    }

    /// The id of the env running on CPU `cpu`, or 0 (for messages).
    pub fn cur_id(&mut self, cpu: CpuId) -> EnvId {
        match cpu::cpu(cpu).env() {
            Some(i) => self.id(i),
            None => 0,
        }
    }

    /// Env `i`'s page directory: the proof that its address space may be edited lasts as
    /// long as this borrow of the table (see `pmap::UserPgdir`).
    #[inline]
    pub fn pgdir(&self, i: EnvIdx) -> UserPgdir<'_> {
        // SAFETY: as in `env`; only the one field is read.
        let kva = unsafe { (*self.envs.add(i.index())).env_pgdir };
        // SAFETY: env_pgdir is the page directory env_setup_vm allocated for this live env,
        // and the table is reached only under the big kernel lock (BigLocked), held for as
        // long as `self` is borrowed.
        unsafe { UserPgdir::new(PageTable::from_pa(pmap::paddr(KernVa::new(kva)))) }
    }

    /// The env CPU `cpu` should run next, given that `cur` (its env, if any) may or may not go
    /// on: the first RUNNABLE slot after `cur`, circularly (JOS's scan order), in the highest
    /// priority that has one, unless `cur` may go on and its priority is higher still (then
    /// None: keep it). With every env at one priority this is exactly JOS's choice.
    ///
    /// Starvation: a strict priority rule would never run a lower level while a higher one is
    /// busy. So on every `AGING_PERIOD`th timer tick of a CPU (`timer`), the lowest non-empty
    /// level is chosen instead: the lowest runnable priority gets at least one tick in eight of
    /// each CPU. (An intermediate level can still wait while both a higher and a lower level
    /// stay busy.)
    pub fn pick(&mut self, cpu: CpuId, cur: Option<EnvIdx>, timer: bool) -> Option<EnvIdx> {
        if self.levels == 0 {
            return None;
        }
        // LAB 4: BEGIN sched_yield
        // HINT: Round robin: the first runnable env after `cur` (circularly), from the highest
        // HINT: non-empty priority level (runq, levels); None to keep `cur` running if it continues
        // HINT: at a higher priority than that. On every AGING_PERIOD-th timer tick, take the
        // HINT: lowest level instead.
        // STUB: // Until then, as in lab 3: the first runnable env, when this CPU runs none.
        // STUB: if cur.is_none() {
        // STUB:     return EnvIdx::all().find(|&i| self.kern[i].state.runnable());
        // STUB: }
        // STUB: todo!("LAB 4: sched_yield");
        let start = cur.map_or(0, |c| c.index() + 1);
        let mut level = 7 - self.levels.leading_zeros() as usize;
        if timer {
            let t = &mut self.ticks[cpu.index()];
            *t = t.wrapping_add(1);
            if t.is_multiple_of(AGING_PERIOD) {
                level = self.levels.trailing_zeros() as usize;
                return self.runq[level].next_from(start).and_then(EnvIdx::new);
            }
        }
        if let Some(c) = cur
            && self.kern[c].state.continues()
            && usize::from(self.kern[c].prio) > level
        {
            return None;
        }
        self.runq[level].next_from(start).and_then(EnvIdx::new)
        // LAB 4: END sched_yield
    }

    /// Env `i`'s scheduling priority.
    pub fn prio(&self, i: EnvIdx) -> u32 {
        u32::from(self.kern[i].prio)
    }

    /// Env `i`'s user exception upcall (0: none).
    pub fn exc_upcall(&self, i: EnvIdx) -> u32 {
        self.kern[i].exc_upcall
    }

    pub fn set_exc_upcall(&mut self, i: EnvIdx, func: u32) {
        self.kern[i].exc_upcall = func;
    }

    /// Set env `i`'s priority (checked by the caller).
    pub fn set_prio(&mut self, i: EnvIdx, p: u32) {
        let runnable = self.kern[i].state.runnable();
        if runnable {
            self.runq_remove(i);
        }
        self.kern[i].prio = p as u8;
        if runnable {
            self.runq_insert(i);
        }
    }

    fn runq_insert(&mut self, i: EnvIdx) {
        let p = usize::from(self.kern[i].prio);
        self.runq[p].insert(i.index());
        self.levels |= 1 << p;
    }

    fn runq_remove(&mut self, i: EnvIdx) {
        let p = usize::from(self.kern[i].prio);
        self.runq[p].remove(i.index());
        if self.runq[p].is_empty() {
            self.levels &= !(1 << p);
        }
    }

    /// The highest priority with a runnable env, if any.
    fn top_level(&self) -> Option<usize> {
        (self.levels != 0).then(|| 7 - self.levels.leading_zeros() as usize)
    }

    /// Apply a lifecycle event to env `i` (kern_logic::lifecycle, the only place states
    /// change) and publish the result: JOS's `env_status` and `env_ipc_recving` in envs[],
    /// the run set, the active count. A new state of `Free` means the caller must free it.
    #[inline]
    fn apply(&mut self, i: EnvIdx, ev: Event) -> core::result::Result<EnvState, Refusal> {
        let old = self.kern[i].state;
        let new = lifecycle::step(old, ev)?;
        self.publish(i, old, new);
        Ok(new)
    }

    /// Record env `i`'s new state (from `old`, by a lifecycle step) and publish it: the run
    /// set, the active count, JOS's `env_status` and `env_ipc_recving` in envs[].
    #[inline(always)]
    fn publish(&mut self, i: EnvIdx, old: EnvState, new: EnvState) {
        self.kern[i].state = new;
        if old.runnable() != new.runnable() {
            if new.runnable() {
                self.runq_insert(i);
            } else {
                self.runq_remove(i);
            }
        }
        if old.active() != new.active() {
            if new.active() {
                self.nactive += 1;
            } else {
                self.nactive -= 1;
            }
        }
        let e = self.env(i);
        e.env_status = new.status().into();
        e.env_ipc_recving = new.recving();
    }

    /// Apply an event the kernel's own invariants guarantee to be legal.
    #[inline]
    #[track_caller]
    fn must(&mut self, i: EnvIdx, ev: Event) -> EnvState {
        match self.apply(i, ev) {
            Ok(s) => s,
            Err(r) => refused(i, ev, r, self.kern[i].state),
        }
    }

    /// `must` for the IPC paths (Deliver, Recv, SendWait, SendDone...), always inlined: with
    /// the event known where it is called, the step folds to its one case and the
    /// bookkeeping to what that case can change (`apply` is one out-of-line function for all
    /// events: about 110 instructions a step, where these take a few dozen).
    #[inline(always)]
    #[track_caller]
    fn must_ipc(&mut self, i: EnvIdx, ev: Event) -> EnvState {
        let old = self.kern[i].state;
        match lifecycle::step(old, ev) {
            Ok(new) => {
                self.publish(i, old, new);
                new
            }
            Err(r) => refused(i, ev, r, old),
        }
    }

    /// Anything RUNNABLE, RUNNING or DYING?
    pub fn any_active(&self) -> bool {
        self.nactive != 0
    }

    fn kva(&self, i: EnvIdx) -> u32 {
        self.envs as u32 + (i.index() * core::mem::size_of::<Env>()) as u32
    }

    fn index_of(&self, link: u32) -> Option<EnvIdx> {
        if link == 0 {
            None
        } else {
            EnvIdx::new((link - self.envs as u32) as usize / core::mem::size_of::<Env>())
        }
    }

    /// Push slot `i` on the head of the free list, marking it free: the most recently freed
    /// slot is reused first (JOS's order; the grader's forktree test depends on it).
    fn push_free(&mut self, i: EnvIdx) {
        let link = self.free.map_or(0, |f| self.kva(f));
        let e = self.env(i);
        e.env_status = EnvStatus::Free.into();
        e.env_link = link;
        e.env_pgdir = 0;
        self.free = Some(i);
        NFREE.fetch_add(1, Ordering::Relaxed);
    }

    /// Add `child` to `parent`'s children.
    fn adopt(&mut self, parent: EnvIdx, child: EnvIdx) {
        let head = self.kern[parent].first_child;
        let k = &mut self.kern[child];
        k.parent = to_link(parent);
        k.next_sibling = head;
        k.prev_sibling = NIL;
        if let Some(h) = link(head) {
            self.kern[h].prev_sibling = to_link(child);
        }
        self.kern[parent].first_child = to_link(child);
    }

    /// Remove `i` from its parent's children, if it has a parent.
    fn disown(&mut self, i: EnvIdx) {
        let EnvKern {
            parent,
            next_sibling,
            prev_sibling,
            ..
        } = self.kern[i];
        let Some(p) = link(parent) else { return };
        match link(prev_sibling) {
            Some(prev) => self.kern[prev].next_sibling = next_sibling,
            None => self.kern[p].first_child = next_sibling,
        }
        if let Some(next) = link(next_sibling) {
            self.kern[next].prev_sibling = prev_sibling;
        }
        let k = &mut self.kern[i];
        k.parent = NIL;
        k.next_sibling = NIL;
        k.prev_sibling = NIL;
    }
}

impl EnvTable {
    /// Queue sender `s` (blocking) on receiver `r`.
    fn queue_sender(&mut self, r: EnvIdx, s: EnvIdx) {
        self.kern[s].send_to = to_link(r);
        self.kern[s].send_next = NIL;
        match link(self.kern[r].senders_tail) {
            Some(tail) => self.kern[tail].send_next = to_link(s),
            None => self.kern[r].senders = to_link(s),
        }
        self.kern[r].senders_tail = to_link(s);
    }

    /// The first sender queued on `r`, removed from the queue.
    fn take_sender(&mut self, r: EnvIdx) -> Option<EnvIdx> {
        let s = link(self.kern[r].senders)?;
        self.kern[r].senders = self.kern[s].send_next;
        if self.kern[r].senders == NIL {
            self.kern[r].senders_tail = NIL;
        }
        self.kern[s].send_to = NIL;
        self.kern[s].send_next = NIL;
        Some(s)
    }

    /// Remove sender `s` from `r`'s queue (it is being freed). A walk of the queue: only
    /// destroying a blocked sender needs it.
    fn unqueue_sender(&mut self, r: EnvIdx, s: EnvIdx) {
        let mut prev: Option<EnvIdx> = None;
        let mut cur = link(self.kern[r].senders);
        while let Some(c) = cur {
            if c == s {
                let next = self.kern[s].send_next;
                match prev {
                    Some(p) => self.kern[p].send_next = next,
                    None => self.kern[r].senders = next,
                }
                if self.kern[r].senders_tail == to_link(s) {
                    self.kern[r].senders_tail = prev.map_or(NIL, to_link);
                }
                break;
            }
            prev = cur;
            cur = link(self.kern[c].send_next);
        }
        self.kern[s].send_to = NIL;
        self.kern[s].send_next = NIL;
    }

    /// Run `i` next on CPU `cpu` when its current env blocks (if `i` can run then).
    pub fn set_handoff(&mut self, cpu: CpuId, i: EnvIdx) {
        self.handoff[cpu.index()] = to_link(i);
    }

    /// Take the IPC hand-off hint of CPU `cpu`: an env that is runnable now because the
    /// current env just sent it a message.
    pub fn take_handoff(&mut self, cpu: CpuId) -> Option<EnvIdx> {
        let h = link(core::mem::replace(&mut self.handoff[cpu.index()], NIL))?;
        // Never past a higher priority that is waiting (no inversion by hand-off).
        let top = self.top_level()?;
        (self.state(h).runnable() && usize::from(self.kern[h].prio) >= top).then_some(h)
    }
}

/// Env `i`, running on `cpu`, blocks in sys_ipc_send until receiver `r` takes the message.
pub fn block_send(t: &mut EnvTable, i: EnvIdx, r: EnvIdx, msg: [u32; 3]) {
    t.must_ipc(i, Event::SendWait);
    t.kern[i].msg = msg;
    t.queue_sender(r, i);
}

/// The next sender blocked on receiver `r`, and its message (value, srcva, perm).
pub fn take_sender(t: &mut EnvTable, r: EnvIdx) -> Option<(EnvIdx, [u32; 3])> {
    let s = t.take_sender(r)?;
    Some((s, t.kern[s].msg))
}

/// A blocked sender's send is over: its sys_ipc_send returns `result`. A sender in
/// `sys_ipc_send_recv` (its number still in the EAX its trap saved) whose message was taken
/// goes on to wait for its reply instead (SendDoneRecv), at the dstva it gave.
pub fn finish_send(t: &mut EnvTable, s: EnvIdx, result: Result<()>) {
    // The sender is off every CPU (blocked), so its registers are in env_tf.
    let regs = &mut t.env(s).env_tf.tf_regs;
    if result.is_ok() && regs.reg_eax == jos_inc::syscall::SYS_IPC_SEND_RECV {
        t.must_ipc(s, Event::SendDoneRecv);
        return;
    }
    regs.reg_eax = jos_inc::error::to_abi(result.map(|()| 0)) as u32;
    t.must_ipc(s, Event::SendDone);
}

/// Env `i`, running on `cpu`, blocks in sys_ipc_send_recv until receiver `r` takes its message
/// (then it waits for its own, at `dstva`: see finish_send).
pub fn block_send_recv(t: &mut EnvTable, i: EnvIdx, r: EnvIdx, msg: [u32; 3], dstva: u32) {
    block_send(t, i, r, msg);
    t.env(i).env_ipc_dstva = dstva;
}

/// Free env slots.
pub fn nfree_envs() -> usize {
    NFREE.load(Ordering::Relaxed)
}

/// Mark all environments in 'envs' as free, set their env_ids to 0, and insert them into the
/// free list, in order: the first call to env_alloc() returns envs[0].
pub fn env_init(k: &mut Kernel) {
    let t = table(k);
    // LAB 3: BEGIN env_init
    // HINT: Point the table at the envs array (pmap::envs_kva()) and put every slot, id 0, on the
    // HINT: free list (push_free) so that the first env_alloc returns envs[0].
    t.envs = pmap::envs_kva().as_ptr::<Env>();
    for i in EnvIdx::all().rev() {
        t.env(i).env_id = 0;
        t.push_free(i);
    }
    // LAB 3: END env_init
    gdt_init();
    // Per-CPU part of the initialization.
    env_init_percpu();
}

/// Converts an envid to an env slot, for the env running on CPU `cpu`. `checkperm`: the env
/// must be the current env or an immediate child of it.
#[inline]
pub fn envid2env(t: &mut EnvTable, cpu: CpuId, envid: EnvId, checkperm: bool) -> Result<EnvIdx> {
    let cur = cpu::cpu(cpu).env();
    // If envid is zero, return the current environment.
    if envid == 0 {
        return cur.ok_or(Error::BadEnv);
    }
    let i = EnvIdx::of(envid);
    let e = t.env(i);
    if e.env_status == u32::from(EnvStatus::Free) || e.env_id != envid {
        return Err(Error::BadEnv);
    }
    if checkperm && Some(i) != cur {
        let parent = e.env_parent_id;
        if cur.is_none_or(|c| t.id(c) != parent) {
            return Err(Error::BadEnv);
        }
    }
    Ok(i)
}

/// Initialize the kernel virtual memory layout for a new env: a page directory sharing the
/// kernel's part of kern_pgdir, with its own UVPT entry.
fn env_setup_vm() -> Result<u32> {
    // LAB 3: BEGIN env_setup_vm
    // HINT: A zeroed page for the page directory (count it): kern_pgdir's entries from UTOP up, and
    // HINT: UVPT mapping the directory itself read-only for the user. Return its kernel address.
    let pp = pmap::page_alloc(true).ok_or(Error::NoMem)?;
    pmap::page_incref(pp)?;
    // SAFETY: a fresh, zeroed page we own, used from now on as this env's page directory.
    let pgdir = unsafe { PageTable::from_pa(pmap::page2pa(pp)) };
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

/// Allocate and initialize a new environment: a child of the env running on CPU `cpu` (none
/// for the kernel's own), RUNNABLE, or NOT_RUNNABLE when `suspended` (sys_exofork).
pub fn env_alloc(t: &mut EnvTable, cpu: CpuId, suspended: bool) -> Result<EnvIdx> {
    let i = t.free.ok_or(Error::NoFreeEnv)?;
    // Allocate and set up the page directory for this environment.
    let pgdir = env_setup_vm()?;
    let parent = cpu::cpu(cpu).env();
    let parent_id = t.cur_id(cpu);
    let link = t.env(i).env_link;
    let next = t.index_of(link);
    t.free = next;
    NFREE.fetch_sub(1, Ordering::Relaxed);
    let e = t.env(i);
    e.env_pgdir = pgdir;
    e.env_id = next_envid(e.env_id, i.index());
    e.env_parent_id = parent_id;
    e.env_type = ENV_TYPE_USER;
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
    // LAB 4: BEGIN env_alloc-interrupts
    // HINT: Timer preemption: user code must run with interrupts enabled (FL_IF).
    // STUB: // (until then user code runs with interrupts off: no preemption)
    // Enable interrupts while in user mode.
    e.env_tf.tf_eflags = FL_IF;
    // LAB 4: END env_alloc-interrupts

    // Clear the page fault handler until user installs one.
    e.env_pgfault_upcall = 0;
    // Also clear the IPC receiving flag.
    e.env_ipc_dstva = 0;
    e.env_ipc_value = 0;
    e.env_ipc_from = 0;
    e.env_ipc_perm = 0;
    let id = e.env_id;
    // A clean FPU (sys_exofork then copies the parent's registers over it).
    // SAFETY: slot i's save area, not in use by anyone (the slot was free).
    unsafe { fpu::reset(fpu_area(i)) };

    t.kern[i] = EnvKern::FREE;
    // A child starts at its parent's priority.
    if let Some(p) = parent {
        t.kern[i].prio = t.kern[p].prio;
    }
    t.must(
        i,
        Event::Alloc {
            suspended,
            orphan: parent.is_none(),
        },
    );
    if let Some(p) = parent {
        t.adopt(p, i);
    }

    cprintf!("[{:08x}] new env {:08x}\n", parent_id, id);
    Ok(i)
}

/// Env `i`'s FPU save area (kernel-only memory beside envs[], see kern/fpu.rs).
fn fpu_area(i: EnvIdx) -> *mut FpuArea {
    pmap::fpu_areas_kva()
        .as_ptr::<FpuArea>()
        .wrapping_add(i.index())
}

/// Allocate `len` bytes of physical memory for env `pgdir` and map it at `va` (user
/// writable). Pages already mapped are kept.
fn region_alloc(pgdir: UserPgdir, va: u32, len: u32) -> Result<()> {
    // LAB 3: BEGIN region_alloc
    // HINT: Map a fresh zeroed, user-writable page at every page of [va, va+len) not mapped yet.
    let start = round_down(va, PGSIZE);
    let end = round_up(va.checked_add(len).ok_or(Error::Inval)?, PGSIZE);
    let mut a = start;
    while a < end {
        if pmap::page_lookup(pgdir, a).is_none() {
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
    let pgdir = t.pgdir(i);
    for (ph, data) in elf.load_segments() {
        region_alloc(pgdir, ph.p_va, ph.p_memsz)?;
        // The pages are fresh (zeroed), so the bss part needs no clearing.
        pmap::copy_to_user(pgdir, ph.p_va, data)?;
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
            t.must(
                i,
                Event::Destroy {
                    by: cpu.index() as u8,
                },
            );
            env_free(t, cpu, i);
            Err(err)
        }
    }
    // LAB 3: END env_create
}

/// Release env `i`'s memory: every user page, the page tables, the page directory.
fn release_memory(t: &mut EnvTable, i: EnvIdx) {
    let pgdir = t.pgdir(i).table();
    // If freeing the current environment, switch to kern_pgdir before freeing the page
    // directory, just in case the page gets reused.
    if pmap::current_pgdir() == pgdir.pa() {
        pmap::load_pgdir(pmap::kern_pgdir());
    }
    // Flush all mapped pages in the user portion of the address space (only mapped page
    // tables, only present entries: both walks skip empty entries four at a time).
    pgdir.for_each_present(pdx(UTOP), |pdeno, pde| {
        // SAFETY: a present PDE below UTOP of a live env points at a page table that
        // pgdir_walk allocated for it.
        let table = unsafe { PageTable::from_pa(pde.frame()) };
        // Unmap all PTEs in this page table (one hold of the allocator's lock per table).
        pmap::release_table(table);
        // Free the page table itself.
        pgdir.set(pdeno, Entry::EMPTY);
        pmap::page_decref(pmap::pa2page(pde.frame()));
    });
    // Free the page directory.
    pmap::page_decref(pmap::pa2page(pgdir.pa()));
}

/// Free env `i` (already moved to `Free` by a lifecycle event) and all memory it uses; then
/// reclaim the children its death leaves unable to ever run (suspended orphans), and theirs.
/// `cpu` is the CPU doing it (for the message, and in case `i` is its current env).
pub fn env_free(t: &mut EnvTable, cpu: CpuId, i: EnvIdx) {
    let this = cpu::cpu(cpu);
    t.disown(i);
    // The envs to free, linked through next_sibling (each is out of every child list).
    let mut work = Some(i);
    while let Some(x) = work {
        work = link(t.kern[x].next_sibling);
        let (cur_id, id) = (t.cur_id(cpu), t.id(x));
        cprintf!("[{:08x}] free env {:08x}\n", cur_id, id);
        if this.env() == Some(x) {
            this.set_env(None);
        }
        release_memory(t, x);
        // Out of the queue it was waiting in to send; the senders waiting for it get
        // -E_BAD_ENV, as a send to a freed env does.
        if let Some(r) = link(t.kern[x].send_to) {
            t.unqueue_sender(r, x);
        }
        while let Some(s) = t.take_sender(x) {
            finish_send(t, s, Err(Error::BadEnv));
        }
        // Its children lose their parent; the ones only it could have resumed go too.
        while let Some(c) = link(t.kern[x].first_child) {
            t.disown(c);
            if t.must(c, Event::ParentGone).life() == Life::Free {
                t.kern[c].next_sibling = work.map_or(NIL, to_link);
                work = Some(c);
            }
        }
        t.kern[x] = EnvKern::FREE;
        // Return the environment to the free list.
        t.push_free(x);
    }
}

/// How a destroy went.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Destroyed {
    /// Freed now.
    Freed,
    /// It runs on another CPU, which frees it when it next enters the kernel (JOS's DYING).
    Deferred,
    /// It was already dying: nothing more to do (destroy is idempotent).
    Already,
}

/// Destroy env `i`, from CPU `cpu`. If it runs on another CPU it is marked DYING and freed
/// there; if it is `cpu`'s own env, that CPU has no env afterwards (the caller schedules).
/// Unlike JOS, a second destroy of a DYING env does not free it under the other CPU's feet.
pub fn env_destroy(t: &mut EnvTable, cpu: CpuId, i: EnvIdx) -> Result<Destroyed> {
    let was = t.state(i).life();
    let new = t
        .apply(
            i,
            Event::Destroy {
                by: cpu.index() as u8,
            },
        )
        .map_err(|_| Error::BadEnv)?;
    Ok(match (was, new.life()) {
        (_, Life::Free) => {
            env_free(t, cpu, i);
            Destroyed::Freed
        }
        (Life::Dying, _) => Destroyed::Already,
        _ => Destroyed::Deferred,
    })
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

/// The trap frame of the env running on CPU `cpu`: where `_alltraps` builds it on every trap
/// from user mode (the top of that CPU's kernel stack, TSS esp0) and where `env_run` pops it.
///
/// While an env is on a CPU its registers live here, not in `env_tf`: a trap that returns to
/// the same env (the common case: a system call) copies nothing. `env_tf` is written when the
/// CPU lets the env go (`deschedule`) and read when a CPU takes it (`dispatch`); nobody else
/// reads or writes an on-CPU env's registers (the lifecycle keeps DYING envs and receivers off
/// other CPUs).
#[inline]
pub fn live_frame(cpu: CpuId) -> *mut Trapframe {
    (kstacktop(cpu.index() as u32) - core::mem::size_of::<Trapframe>() as u32) as *mut Trapframe
}

/// CPU `cpu` lets go of its env `i`: its registers and FPU state go back into its records, and
/// the lifecycle decides whether it is runnable, blocked, or to be freed now (DYING, or an
/// orphan that suspended itself).
fn deschedule(t: &mut EnvTable, cpu: CpuId, i: EnvIdx) {
    if t.must(i, Event::Deschedule).life() == Life::Free {
        env_free(t, cpu, i);
        return;
    }
    // SAFETY: this CPU's live frame holds env i's registers (it ran here until now).
    t.env(i).env_tf = unsafe { *live_frame(cpu) };
    // SAFETY: the FPU holds env i's state; its save area belongs to it.
    unsafe { fpu::save(fpu_area(i)) };
    cpu::cpu(cpu).set_env(None);
}

/// Make the env running on `k`'s CPU let go of it (sched_halt).
pub fn deschedule_current(k: &mut Kernel) {
    let cpu = k.cpu();
    if let Some(i) = cpu::cpu(cpu).env() {
        deschedule(table(k), cpu, i);
    }
}

/// Context switch from curenv to env `i`, which must be RUNNABLE or be this CPU's current env.
/// This function does not return: it releases the big kernel lock and enters user mode.
/// Inlined: its common case (the env that trapped goes on) is a few instructions; the switch
/// itself is `switch_to`, out of line.
#[inline(always)]
pub fn env_run(mut k: Kernel, i: EnvIdx) -> ! {
    // LAB 3: BEGIN env_run
    // HINT: Switch to env i if it is not this CPU's env already (switch_to), count the run, release
    // HINT: the big lock, and pop its trap frame (this CPU's live frame) with env_pop_tf.
    let cpu = k.cpu();
    // Step 1: if this is a context switch, the current env leaves the CPU and env i takes it.
    // Resuming the env that trapped (every system call) skips all of it.
    if cpu::cpu(cpu).env() != Some(i) {
        switch_to(table(&mut k), cpu, i);
    }
    let e = table(&mut k).env(i);
    e.env_runs = e.env_runs.wrapping_add(1);
    k.unlock();
    pmap::leaving_for_user(cpu);
    // SAFETY: the live frame holds env i's user-mode registers.
    unsafe { env_pop_tf(live_frame(cpu)) }
    // LAB 3: END env_run
}

/// Return to env `i`, which trapped on `k`'s CPU and may go on running there (its state
/// `continues()`: it is still this CPU's env, since only a switch or a halt takes an env off
/// a CPU, and neither returns): `env_run` without the test for a switch (the end of a system
/// call).
#[inline(always)]
pub fn env_resume(mut k: Kernel, i: EnvIdx) -> ! {
    let cpu = k.cpu();
    debug_assert!(cpu::cpu(cpu).env() == Some(i));
    let e = table(&mut k).env(i);
    e.env_runs = e.env_runs.wrapping_add(1);
    k.unlock();
    pmap::leaving_for_user(cpu);
    // SAFETY: the live frame holds env i's user-mode registers.
    unsafe { env_pop_tf(live_frame(cpu)) }
}

/// CPU `cpu` switches from its env (if any) to env `i`: registers, address space, FPU state.
#[inline(never)]
fn switch_to(t: &mut EnvTable, cpu: CpuId, i: EnvIdx) {
    // LAB 3: BEGIN switch_to
    // HINT: The current env (if any) leaves the CPU (deschedule); env i takes it: the Dispatch
    // HINT: event, this CPU's env, its registers into the live frame, its page directory, its FPU.
    let this = cpu::cpu(cpu);
    if let Some(c) = this.env() {
        deschedule(t, cpu, c);
    }
    // Step 2: env i takes the CPU: its registers, address space and FPU state.
    t.must(
        i,
        Event::Dispatch {
            cpu: cpu.index() as u8,
        },
    );
    t.handoff[cpu.index()] = NIL;
    this.set_env(Some(i));
    let e = t.env(i);
    e.env_cpunum = cpu.index() as i32;
    // SAFETY: the live frame is this CPU's (no env's until now); the kernel stack below it is
    // where we are running, so the copy does not overwrite anything in use.
    unsafe { *live_frame(cpu) = e.env_tf };
    let pgdir = t.pgdir(i);
    pmap::load_pgdir(pgdir);
    // SAFETY: env i's area holds its state (saved at its last deschedule, or the clean
    // template, or its parent's copy).
    unsafe { fpu::restore(fpu_area(i)) };
    // The first user instruction comes through here (no env ran on this CPU before).
    crate::bench::before_user_return();
    // LAB 3: END switch_to
}

/// Address of env `i`'s saved trapframe (what JOS's trapframe dump prints).
pub fn env_tf_kva(i: EnvIdx) -> u32 {
    // Derived from the array's fixed address: no need to take the envs lock on every trap.
    (pmap::envs_kva() + (i.index() * core::mem::size_of::<Env>()) as u32).get()
}

/// Copy the live registers of the env running on `cpu` into its `env_tf` (before printing
/// the trapframe JOS prints from there).
pub fn sync_tf(t: &mut EnvTable, cpu: CpuId, i: EnvIdx) {
    // SAFETY: env i runs on `cpu`, whose live frame holds its registers.
    t.env(i).env_tf = unsafe { *live_frame(cpu) };
}

/// Env `i` blocks in sys_ipc_recv, to have a page mapped at `dstva` if below UTOP.
pub fn block_recv(t: &mut EnvTable, i: EnvIdx, dstva: u32) {
    t.must_ipc(i, Event::Recv);
    t.env(i).env_ipc_dstva = dstva;
}

/// Deliver a message to env `i`, blocked in sys_ipc_recv, from the env running on `cpu`: its
/// receive returns 0, and it is the env to hand the CPU to when the sender blocks.
pub fn deliver(t: &mut EnvTable, cpu: CpuId, i: EnvIdx, from: EnvId, value: u32, perm: i32) {
    set_message(t, i, from, value, perm);
    // The receiver is off every CPU (receivers are), so its registers are in env_tf.
    message_regs(&mut t.env(i).env_tf.tf_regs, from, value, perm);
    t.must_ipc(i, Event::Deliver);
    t.handoff[cpu.index()] = to_link(i);
}

/// The registers of a receiver, blocked in a receive, as its system call returns with a
/// message: EAX = 0; and if the call was `SYS_IPC_SEND_RECV` (its number is still in the EAX
/// its trap saved), the message itself, which that call returns in registers (Liedtke's
/// "message in registers"): EDX = value, ECX = sender, EBX = permissions. Any other receive
/// keeps every register but EAX, as JOS's ABI says; its message is in `envs[]` (as it is
/// for every receiver).
#[inline]
fn message_regs(regs: &mut jos_inc::trap::PushRegs, from: EnvId, value: u32, perm: i32) {
    if regs.reg_eax == jos_inc::syscall::SYS_IPC_SEND_RECV {
        regs.reg_edx = value;
        regs.reg_ecx = from as u32;
        regs.reg_ebx = perm as u32;
    }
    regs.reg_eax = 0;
}

// ---- the IPC fast path (not in JOS) ------------------------------------------------------
//
// Liedtke, "Improving IPC by Kernel Design": when a message wakes a receiver and the sender
// then waits, switch straight from the one to the other, no scheduler pass, and touch only
// what the switch needs. The lifecycle steps are the ones `deliver`, `block_recv` and
// `env_run` take (Deliver, Recv, Deschedule, Dispatch), decided by the same state machine;
// what is special is the bookkeeping: for the shape handled here the steps' effect on the run
// set and the active count is known (see `handoff`), so it is applied directly instead of
// being found by comparing every state before and after (`apply`, about 120 instructions a
// step). Any other shape takes the general path.

impl EnvTable {
    /// Env `cur`, running on `cpu`, lets go of the CPU for env `to`, which takes it. If
    /// `fused`, `cur` is still running and blocks to receive now (Recv) and `to`, blocked
    /// receiving, gets its message now (Deliver: `sys_ipc_send_recv`); else `cur` has blocked
    /// already (in a receive or a send) and `to` is runnable (the hand-off after a send).
    ///
    /// Then Deschedule for `cur` and Dispatch for `to`, with registers, address space and
    /// FPU state switched as `switch_to` does (the live frame, now `to`'s registers, is
    /// returned). Returns None, having changed nothing, unless
    /// the steps take `cur` to a live state that is not runnable (so not freed: not dying,
    /// not an orphan suspending itself) and `to` from runnable (after Deliver, if fused) to
    /// running, and `to`'s priority is at least the highest runnable one (as `take_handoff`).
    /// For that shape, `cur` leaves the active count and the run set had neither env before
    /// nor has after, except that, when not fused, `to` was runnable: it leaves the run set,
    /// and the active count gains no one (`to` was active already), where fused it gains `to`.
    #[inline(always)]
    fn handoff(
        &mut self,
        cpu: CpuId,
        cur: EnvIdx,
        to: EnvIdx,
        fused: bool,
    ) -> Option<*mut Trapframe> {
        let (c0, t0) = (self.kern[cur].state, self.kern[to].state);
        let (c1, t1) = if fused {
            (
                lifecycle::step(c0, Event::Recv),
                lifecycle::step(t0, Event::Deliver),
            )
        } else {
            (Ok(c0), Ok(t0))
        };
        let (Ok(c1), Ok(t1)) = (c1, t1) else {
            return None;
        };
        let c2 = lifecycle::step(c1, Event::Deschedule);
        let t2 = lifecycle::step(
            t1,
            Event::Dispatch {
                cpu: cpu.index() as u8,
            },
        );
        let (Ok(c2), Ok(t2)) = (c2, t2) else {
            return None;
        };
        if c2.life() != Life::Live || c2.runnable() || !t1.runnable() || !c0.active() {
            return None;
        }
        // No inversion by hand-off (as take_handoff): `to` runs now only if nothing runnable
        // has a higher priority.
        if self
            .top_level()
            .is_some_and(|top| usize::from(self.kern[to].prio) < top)
        {
            return None;
        }
        let frame = live_frame(cpu);
        self.kern[cur].state = c2;
        self.kern[to].state = t2;
        if !fused {
            self.runq_remove(to);
            self.nactive -= 1;
        }
        // SAFETY: the FPU holds cur's state; its save area belongs to it. (First, so that
        // the frame copies below may use the XMM registers.)
        unsafe { fpu::save(fpu_area(cur)) };
        let e = self.env(cur);
        e.env_status = c2.status().into();
        e.env_ipc_recving = c2.recving();
        // SAFETY: this CPU's live frame holds cur's registers (it ran here until now); the
        // XMM registers belong to nobody until `to`'s state is restored below.
        unsafe { fpu::copy_frame(&raw mut e.env_tf, frame) };
        self.handoff[cpu.index()] = NIL;
        cpu::cpu(cpu).set_env(Some(to));
        let e = self.env(to);
        e.env_status = t2.status().into();
        e.env_ipc_recving = false;
        e.env_cpunum = cpu.index() as i32;
        // SAFETY: as in switch_to; the XMM registers are still nobody's.
        unsafe { fpu::copy_frame(frame, &raw const e.env_tf) };
        pmap::load_pgdir(self.pgdir(to));
        // SAFETY: to's area holds its state (saved when it last left a CPU).
        unsafe { fpu::restore(fpu_area(to)) };
        Some(frame)
    }

    /// Whether any env is runnable (in the run set, at any priority).
    #[inline]
    pub fn any_runnable(&self) -> bool {
        self.levels != 0
    }

    /// Whether senders are queued on env `i` (blocked in sys_ipc_send until it receives).
    #[inline]
    pub fn has_senders(&self, i: EnvIdx) -> bool {
        self.kern[i].senders != NIL
    }
}

/// The current env of `k`'s CPU has blocked (in a receive or a send) after waking env `to`:
/// run `to` now, through the fast path if it applies (see `EnvTable::handoff`), else as
/// env_run does.
pub fn run_blocked_to(mut k: Kernel, to: EnvIdx) -> ! {
    let cpu = k.cpu();
    if let Some(cur) = cpu::cpu(cpu).env() {
        table(&mut k).handoff(cpu, cur, to, false);
    }
    // (After a fast hand-off `to` is this CPU's env, and env_run only returns to it.)
    env_run(k, to)
}

/// sys_ipc_send_recv's second half, the fast path proper: env `cur`, running on `k`'s CPU,
/// has sent a message (from `from`, `value`, page permissions `perm`) to env `to`, blocked
/// receiving, and now blocks receiving at `dstva`; `to` takes the CPU at once if it can
/// (`EnvTable::handoff`: one switch, no scheduler pass), its message in registers if it asked
/// for that. Otherwise the same as `deliver`, `block_recv` and a hand-off through the
/// scheduler's rules.
pub fn send_recv_switch(
    mut k: Kernel,
    cur: EnvIdx,
    to: EnvIdx,
    (from, value, perm): (EnvId, u32, i32),
    dstva: u32,
) -> ! {
    let cpu = k.cpu();
    let t = table(&mut k);
    set_message(t, to, from, value, perm);
    if let Some(frame) = t.handoff(cpu, cur, to, true) {
        t.env(cur).env_ipc_dstva = dstva;
        // SAFETY: the live frame holds `to`'s registers now (handoff copied them in).
        message_regs(unsafe { &mut (*frame).tf_regs }, from, value, perm);
        env_run(k, to)
    }
    message_regs(&mut t.env(to).env_tf.tf_regs, from, value, perm);
    t.must_ipc(to, Event::Deliver);
    t.handoff[cpu.index()] = to_link(to);
    block_recv(t, cur, dstva);
    match t.take_handoff(cpu) {
        Some(h) => run_blocked_to(k, h),
        None => crate::sched::sched_yield(k),
    }
}

/// The message fields of env `i`'s `Env` (what `ipc_recv` reads after the call).
pub fn set_message(t: &mut EnvTable, i: EnvIdx, from: EnvId, value: u32, perm: i32) {
    let e = t.env(i);
    e.env_ipc_from = from;
    e.env_ipc_value = value;
    e.env_ipc_perm = perm;
}

/// sys_env_set_status: suspend (NOT_RUNNABLE) or resume (RUNNABLE) env `i`. A running env
/// keeps running until its CPU next enters the kernel; a receiver stays blocked in its
/// receive. -E_BAD_ENV for a dying env.
pub fn set_status(t: &mut EnvTable, cpu: CpuId, i: EnvIdx, runnable: bool) -> Result<()> {
    // LAB 4: BEGIN set_status
    // HINT: Apply the SetStatus event (a refusal is BadEnv); free the env if that finished it.
    let s = t
        .apply(i, Event::SetStatus { runnable })
        .map_err(|_| Error::BadEnv)?;
    if s.life() == Life::Free {
        env_free(t, cpu, i);
    }
    Ok(())
    // LAB 4: END set_status
}

/// sys_exofork's child of the env running on `cpu`: its registers (returning 0) and FPU
/// state, an empty address space, NOT_RUNNABLE.
pub fn exofork(t: &mut EnvTable, cpu: CpuId) -> Result<EnvId> {
    // LAB 4: BEGIN exofork
    // HINT: A suspended child (env_alloc) with the parent's registers (live_frame(cpu)) but eax 0,
    // HINT: the parent's FPU state (fpu::snapshot) and its exception upcall.
    let child = env_alloc(t, cpu, true)?;
    let e = t.env(child);
    // SAFETY: the parent runs on `cpu`; its registers are in the live frame.
    e.env_tf = unsafe { *live_frame(cpu) };
    // Tweak so sys_exofork will appear to return 0 in the child.
    e.env_tf.tf_regs.reg_eax = 0;
    let id = e.env_id;
    // SAFETY: the FPU holds the parent's state (it runs here); the child's area is its own.
    unsafe { fpu::snapshot(fpu_area(child)) };
    // Kernel-only per-env state a child inherits, as it inherits the registers.
    if let Some(p) = cpu::cpu(cpu).env() {
        t.kern[child].exc_upcall = t.kern[p].exc_upcall;
    }
    Ok(id)
    // LAB 4: END exofork
}
