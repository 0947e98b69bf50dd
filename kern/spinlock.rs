//! Spin locks and the big kernel lock (JOS's kern/spinlock.c and kern/spinlock.h: `holding`,
//! `spin_lock`, `spin_unlock` as `Mutex`'s methods, `kernel_lock`, `lock_kernel`, and
//! `unlock_kernel` as `Kernel::unlock`).
//!
//! Every lock of the kernel is a [`Mutex`], and its type names its rank: its place in the
//! lock order (the `lock_order!` list below, the one place the order is written) and its
//! name. Each CPU keeps the ranks of the locks it holds as a bit mask, so one compare on
//! every acquire checks both rules, in every build: a CPU never takes a lock it holds
//! already (JOS's `holding` check, for every lock: a plain spin lock would spin forever), and
//! never takes a lock the order puts before one it holds (which would let two CPUs deadlock
//! by taking two locks in opposite orders). Either panics, naming the locks.
//!
//! Where an operation depends on a lock its caller holds, the types prove it when they can:
//! the page allocator's state is reached only through its `MutexGuard`, the env table only
//! through the big lock's [`Kernel`] token, a user address space only through a
//! `pmap::PgdirMut` borrowed mutably from that table (so page_insert/page_remove need no
//! run-time `holding()` check, as xv6 has), the kernel's through one borrowed from `KERN_AS`.
//!
//! A panic stops the other CPUs before it prints and then breaks every lock ([`break_all`],
//! called by `crate::panic`), so a lock held when the kernel panicked never silences or
//! hangs it.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::cpu::{CpuId, NCPU};

/// Writes the lock order: the [`Order`] enum (one variant per lock, outermost first), each
/// lock's name, and a marker type per lock in [`rank`] that a [`Mutex`] names as its rank.
macro_rules! lock_order {
    ($($(#[doc = $doc:literal])* $rank:ident = $name:literal,)*) => {
        /// The kernel's locks in the order a CPU may take them: holding one, a CPU may take
        /// only locks further down this list.
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        #[repr(u32)]
        pub enum Order {
            $($(#[doc = $doc])* $rank,)*
        }

        impl Order {
            /// Every lock, outermost first.
            const ALL: &[Order] = &[$(Order::$rank,)*];

            /// The lock's name, for panic messages.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Order::$rank => $name,)*
                }
            }
        }

        /// One type per lock, naming its place in [`Order`]: `Mutex<T, rank::Pages>`.
        pub mod rank {
            $(
                $(#[doc = $doc])*
                pub struct $rank;
                impl super::Rank for $rank {
                    const ORDER: super::Order = super::Order::$rank;
                }
            )*
        }
    };
}

// # Lock order
//
// The one list of the kernel's locks, outermost first. A CPU holding a lock may take only
// locks below it. Each entry says which static it is and why it sits where it does.
lock_order! {
    /// The big kernel lock (taken by [`lock_kernel`], held through the [`Kernel`] token; its
    /// state is the [`BigLocked`] statics): the env table, the scheduler's run set and the
    /// per-env kernel state (kern/env.rs), i.e. everything JOS's lock protects. Taken once
    /// per trap from user mode and released just before returning to user mode; every other
    /// lock may be taken under it, none above it.
    BigLock = "kernel_lock",
    /// `BOOT_NEXTFREE` (kern/pmap.rs): boot_alloc's next free byte, during mem_init. Takes no
    /// other lock.
    BootAlloc = "boot_alloc",
    /// `KERN_AS` (kern/pmap.rs): kern_pgdir's write handle and the next free address of the
    /// MMIO window. Held while mem_init, its checks and mmio_map_region map, which may
    /// allocate a page table: above `Pages`.
    MmioNext = "mmio_next",
    /// `PAGES` (kern/pmap.rs): the physical page allocator and the reference counts.
    Pages = "pages",
    /// `RTC_LOCK` (kern/kclock.rs): the RTC's index/data port pair (boot_aps writes the
    /// shutdown code under the big lock).
    Rtc = "rtc",
    /// `PIC` (kern/picirq.rs): the 8259A's mask, which prints the enabled IRQs while held:
    /// above `Print`.
    Pic = "pic",
    /// `KBD` (kern/console.rs): the keyboard's shift state, held across a drain of the
    /// controller, which fills `INPUT` and may print ("Rebooting!"): above both.
    Kbd = "kbd",
    /// `INPUT` (kern/console.rs): the console's input ring.
    Input = "input",
    /// `PRINT` (kern/printf.rs): one print from one CPU is one unbroken run on the console;
    /// the run holds `CGA`.
    Print = "print",
    /// `CGA` (kern/console.rs): the text screen, held by a console `Output` for a run of
    /// characters. Innermost.
    Cga = "cga",
}

/// How many locks there are.
const NLOCKS: usize = Order::ALL.len();
// The per-CPU mask of held ranks is a u32.
const _: () = assert!(NLOCKS <= 32);

impl Order {
    /// This lock's bit in a CPU's mask of held locks. Bits grow along the order, so "holds
    /// this lock or one after it in the order" is "mask >= bit".
    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// A lock's place in the order: what the marker types of [`rank`] implement.
pub trait Rank {
    const ORDER: Order;
}

/// One lock's flag (true: held), alone on its cache line so that CPUs spinning on one lock
/// do not slow the holder of another.
#[repr(align(64))]
struct Flag(AtomicBool);

/// Every lock's flag, by rank. A rank is one lock: the flag lives here, not in the [`Mutex`],
/// so the panic path can break every lock ([`break_all`]) without knowing where each is
/// declared. Two statics of one rank share its flag: they are one lock guarding two values
/// (as the big lock's [`BigLocked`] statics are).
static LOCKED: [Flag; NLOCKS] = [const { Flag(AtomicBool::new(false)) }; NLOCKS];

/// The locks each CPU holds, one bit per rank ([`Order::bit`]). Only CPU i reads or writes
/// `HELD[i]` (but for `break_all`, with the other CPUs stopped), and it does so with
/// interrupts off, so relaxed loads and stores suffice.
static HELD: [AtomicU32; NCPU] = [const { AtomicU32::new(0) }; NCPU];

/// Take lock `R` for CPU `me`, spinning until it is free. Holding a lock for a long time
/// makes other CPUs spin.
///
/// Test-and-set like JOS's, not a FIFO ticket lock: a ticket lock was tried and measured.
/// With a host thread per vCPU and more vCPUs than host cores, a FIFO hand-off waits for the
/// next ticket's vCPU even while the host has it descheduled, and every CPU queues behind
/// it: 16 of 20 stresssched runs on 4 CPUs timed out at 30 s (none did with this lock).
#[inline]
#[track_caller]
fn acquire<R: Rank>(me: CpuId) {
    let held = &HELD[me.index()];
    let mask = held.load(Ordering::Relaxed);
    // One compare for both rules: this CPU holds neither R nor any lock after it in the order.
    if mask >= R::ORDER.bit() {
        out_of_order(me, R::ORDER, mask);
    }
    let flag = &LOCKED[R::ORDER as usize].0;
    // The xchg is atomic; spin on a plain read first so waiting CPUs don't bounce the cache
    // line, with `pause` in the loop.
    while flag.swap(true, Ordering::Acquire) {
        while flag.load(Ordering::Relaxed) {
            core::hint::spin_loop();
        }
    }
    // Read again rather than keep `mask` live across the loop (it is the same value): one
    // `or` into memory, and one register fewer for the caller.
    held.store(
        held.load(Ordering::Relaxed) | R::ORDER.bit(),
        Ordering::Relaxed,
    );
}

/// Release lock `R`, held by CPU `me` (the callers' guards and token prove it is).
#[inline]
fn release<R: Rank>(me: CpuId) {
    let held = &HELD[me.index()];
    held.store(
        held.load(Ordering::Relaxed) & !R::ORDER.bit(),
        Ordering::Relaxed,
    );
    LOCKED[R::ORDER as usize].0.store(false, Ordering::Release);
}

#[cold]
#[inline(never)]
#[track_caller]
fn out_of_order(me: CpuId, want: Order, held: u32) -> ! {
    if held & want.bit() != 0 {
        panic!("CPU {} cannot acquire {}: already holding", me, want.name());
    }
    // The innermost lock held is the one `want` must come before (the mask is nonzero).
    let inner = Order::ALL[(31 - held.leading_zeros()) as usize];
    panic!(
        "CPU {} cannot acquire {} while holding {}: the lock order (kern/spinlock.rs) takes {} \
         first",
        me,
        want.name(),
        inner.name(),
        want.name()
    );
}

/// Break every lock, whoever holds it, and forget what every CPU held.
///
/// # Safety
/// For the panic path only, once every other CPU has stopped (or failed to stop in time:
/// then the caller accepts the risk): the data a lock guards may be half-updated, and the
/// guards still alive on this CPU's stack belong to code that never resumes. The caller
/// accepts that in exchange for not deadlocking.
pub unsafe fn break_all() {
    for held in &HELD {
        held.store(0, Ordering::Relaxed);
    }
    for flag in &LOCKED {
        flag.0.store(false, Ordering::Release);
    }
}

/// A value guarded by the lock of rank `R`: the kernel's only lock type. The big kernel
/// lock's state is one too ([`BigLocked`]), reached through its [`Kernel`] token.
pub struct Mutex<T, R: Rank> {
    data: UnsafeCell<T>,
    _rank: PhantomData<R>,
}

// SAFETY: the lock serializes all access to `data`.
unsafe impl<T: Send, R: Rank> Sync for Mutex<T, R> {}

impl<T, R: Rank> Mutex<T, R> {
    /// The value, guarded by the lock of rank `R` (a rank is one lock: see [`LOCKED`]).
    pub const fn new(value: T) -> Mutex<T, R> {
        Mutex {
            data: UnsafeCell::new(value),
            _rank: PhantomData,
        }
    }

    /// Take the lock. Panics if this CPU holds it already, or holds a lock the order puts
    /// after it.
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T, R> {
        const {
            assert!(
                R::ORDER as u32 != Order::BigLock as u32,
                "the big kernel lock is taken with lock_kernel, its state reached with get"
            )
        };
        let me = crate::cpu::cpunum();
        acquire::<R>(me);
        MutexGuard {
            mutex: self,
            me,
            _not_send: PhantomData,
        }
    }
}

pub struct MutexGuard<'a, T, R: Rank> {
    mutex: &'a Mutex<T, R>,
    /// The CPU that took the lock (and, the guard being `!Send`, the one that drops it): the
    /// release finds its mask without computing the CPU number again.
    me: CpuId,
    _not_send: PhantomData<*const ()>,
}

impl<T, R: Rank> Deref for MutexGuard<'_, T, R> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T, R: Rank> DerefMut for MutexGuard<'_, T, R> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock, and `&mut self` makes this the only reference.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T, R: Rank> Drop for MutexGuard<'_, T, R> {
    #[inline]
    fn drop(&mut self) {
        release::<R>(self.me);
    }
}

// ---- the big kernel lock -------------------------------------------------------------------

/// State guarded by the big kernel lock: a [`Mutex`] of its rank, reached through the lock's
/// [`Kernel`] token ([`Mutex::get`]) instead of a guard. Several statics share the rank (the
/// env table, the scheduler's state): they are one lock.
pub type BigLocked<T> = Mutex<T, rank::BigLock>;

/// Proof that this CPU holds the big kernel lock, and which CPU this is (computed once per
/// trap, when the lock is taken). The state the big lock guards is reached only through
/// [`Mutex::get`], which borrows this token: one token exists at a time, so one `&mut`.
///
/// Not `Clone`, not `Send`: it stays on the CPU that took the lock. It is given up by
/// [`Kernel::unlock`], which consumes it; the kernel's exits to user mode (env_run,
/// sched_halt) do that as their last step.
pub struct Kernel {
    cpu: CpuId,
    _not_send: PhantomData<*const ()>,
}

impl Kernel {
    /// This CPU's index.
    pub fn cpu(&self) -> CpuId {
        self.cpu
    }

    /// Release the big kernel lock.
    #[inline]
    pub fn unlock(self) {
        release::<rank::BigLock>(self.cpu);
        // Normally we wouldn't need to do this, but QEMU only runs one CPU at a time and has a
        // long time-slice. Without the pause, this CPU is likely to reacquire the lock before
        // another CPU has even been given a chance to acquire it.
        core::hint::spin_loop();
    }
}

/// Acquire the big kernel lock. Panics if this CPU holds any lock (the big lock comes first).
#[inline]
#[track_caller]
pub fn lock_kernel() -> Kernel {
    let cpu = crate::cpu::cpunum();
    // SAFETY: `cpu` is this CPU's, just computed.
    unsafe { lock_kernel_as(cpu) }
}

/// Acquire the big kernel lock on CPU `cpu`, for a caller that has computed `cpu` already
/// (the trap path: a second `cpu::cpunum` costs it about one instruction).
///
/// # Safety
/// `cpu` is the CPU running this code (`cpu::cpunum()`): the token carries it, and unsafe code
/// relies on `Kernel::cpu` being this CPU (its per-CPU frame, stack and TLB state).
#[inline]
#[track_caller]
pub unsafe fn lock_kernel_as(cpu: CpuId) -> Kernel {
    acquire::<rank::BigLock>(cpu);
    Kernel {
        cpu,
        _not_send: PhantomData,
    }
}

/// Acquire the big kernel lock on CPU `cpu` at a trap from user mode: `lock_kernel_as` without
/// the lock-order check, which cannot fail there (a CPU releases every lock before it returns
/// to user mode: the lock guards are dropped and the token consumed on the way out), so it
/// is a debug assertion; the held mask is kept as always, for the checks of later acquires.
///
/// # Safety
/// As for `lock_kernel_as`, and the CPU came from user mode (it holds no lock).
#[inline]
pub unsafe fn lock_kernel_from_user(cpu: CpuId) -> Kernel {
    debug_assert!(HELD[cpu.index()].load(Ordering::Relaxed) == 0);
    let flag = &LOCKED[Order::BigLock as usize].0;
    if flag.swap(true, Ordering::Acquire) {
        spin_for(flag);
    }
    let held = &HELD[cpu.index()];
    held.store(
        held.load(Ordering::Relaxed) | Order::BigLock.bit(),
        Ordering::Relaxed,
    );
    Kernel {
        cpu,
        _not_send: PhantomData,
    }
}

/// Spin until `flag` can be taken (the contended case, out of the fast path's way).
#[cold]
#[inline(never)]
fn spin_for(flag: &AtomicBool) {
    loop {
        while flag.load(Ordering::Relaxed) {
            core::hint::spin_loop();
        }
        if !flag.swap(true, Ordering::Acquire) {
            return;
        }
    }
}

impl<T> Mutex<T, rank::BigLock> {
    /// The guarded state, for as long as the token is borrowed.
    pub fn get<'a>(&'static self, _k: &'a mut Kernel) -> &'a mut T {
        // SAFETY: `Kernel` proves this CPU holds the big lock (no other CPU is in here), and
        // the exclusive borrow of the one token makes this the only reference on this CPU.
        unsafe { &mut *self.data.get() }
    }
}
