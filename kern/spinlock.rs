//! Spin locks and the big kernel lock (JOS's kern/spinlock.c and kern/spinlock.h: `holding`,
//! `spin_lock`, `spin_unlock` as `SpinLock`'s methods, `kernel_lock`, `lock_kernel`, and
//! `unlock_kernel` as `Kernel::unlock`).
//!
//! Every lock here knows which CPU holds it, so a recursive acquire panics. Where an operation
//! depends on a lock its caller holds, the types prove it when they can: the page allocator's
//! state is reached only through its `MutexGuard`, the env table only through the big lock's
//! [`Kernel`] token, a user address space only through a `pmap::UserPgdir` borrowed from that
//! table (so page_insert/page_remove need no run-time `holding()` check, as xv6 has).
//!
//! # Lock order
//!
//! The one list of the kernel's locks, outermost first. A CPU holding a lock may take only
//! locks below it:
//!
//! 1. the big kernel lock ([`lock_kernel`]): the env table, the scheduler's run set and the
//!    per-env kernel state (kern/env.rs), i.e. everything JOS's lock protects. Taken once per
//!    trap from user mode and released just before returning to user mode.
//! 2. `PAGES` (kern/pmap.rs): the physical page allocator and reference counts.
//! 3. `MMIO_NEXT`, `BOOT_NEXTFREE` (kern/pmap.rs): boot-time allocators.
//! 4. the console's locks (kern/console.rs; `PRINT` is kern/printf.rs's): `KBD` -> `PRINT` ->
//!    `CGA`, `KBD` -> `INPUT`.
//!
//! A panic stops the other CPUs before it prints and then breaks these locks (see
//! `crate::panic`), so a lock held when the kernel panicked never silences or hangs it.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::cpu::CpuId;

/// Mutual exclusion lock that knows its holder.
///
/// Test-and-set like JOS's, not a FIFO ticket lock: a ticket lock was tried and measured. With
/// a host thread per vCPU and more vCPUs than host cores, a FIFO hand-off waits for the next
/// ticket's vCPU even while the host has it descheduled, and every CPU queues behind it: 16 of
/// 20 stresssched runs on 4 CPUs timed out at 30 s (none did with this lock).
pub struct SpinLock {
    locked: AtomicBool,
    /// CPU holding the lock, or NONE.
    cpu: AtomicUsize,
    name: &'static str,
}

const NONE: usize = usize::MAX;

impl SpinLock {
    pub const fn new(name: &'static str) -> SpinLock {
        SpinLock {
            locked: AtomicBool::new(false),
            cpu: AtomicUsize::new(NONE),
            name,
        }
    }

    /// Acquire the lock for CPU `me`. Loops (spins) until the lock is acquired. Holding a
    /// lock for a long time makes other CPUs spin.
    #[inline]
    #[track_caller]
    fn lock_as(&self, me: CpuId) {
        // (The holder's CPU number is stored only while the lock is held.)
        if self.cpu.load(Ordering::Relaxed) == me.index() {
            self.already_holding(me);
        }
        // The xchg is atomic; spin on a plain read first so waiting CPUs don't bounce the
        // cache line, with `pause` in the loop.
        while self.locked.swap(true, Ordering::Acquire) {
            while self.locked.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
        self.cpu.store(me.index(), Ordering::Relaxed);
    }

    /// Release the lock held by CPU `me`.
    #[inline]
    #[track_caller]
    fn unlock_as(&self, me: CpuId) {
        // Only the holder may release it (the holder's CPU number is stored only while the
        // lock is held, so this is `holding()`).
        if self.cpu.load(Ordering::Relaxed) != me.index() {
            self.not_holding();
        }
        self.cpu.store(NONE, Ordering::Relaxed);
        self.locked.store(false, Ordering::Release);
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn not_holding(&self) -> ! {
        panic!(
            "CPU {} cannot release {}: not holding",
            crate::cpu::cpunum(),
            self.name
        );
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn already_holding(&self, me: CpuId) -> ! {
        panic!("CPU {} cannot acquire {}: already holding", me, self.name);
    }

    /// Release the lock whoever holds it.
    ///
    /// # Safety
    /// For the panic path only, once every other CPU has stopped: the data the lock guards may
    /// be half-updated, and the caller accepts that in exchange for not deadlocking.
    pub unsafe fn force_unlock(&self) {
        self.cpu.store(NONE, Ordering::Relaxed);
        self.locked.store(false, Ordering::Release);
    }
}

/// A value guarded by a [`SpinLock`]: the kernel's `spin::Mutex`, plus `holding()`.
pub struct Mutex<T> {
    lock: SpinLock,
    data: UnsafeCell<T>,
}

// SAFETY: the lock serializes all access to `data`.
unsafe impl<T: Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    pub const fn new(name: &'static str, value: T) -> Mutex<T> {
        Mutex {
            lock: SpinLock::new(name),
            data: UnsafeCell::new(value),
        }
    }

    #[inline]
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        let me = crate::cpu::cpunum();
        self.lock.lock_as(me);
        MutexGuard {
            mutex: self,
            me,
            _not_send: PhantomData,
        }
    }

    /// See [`SpinLock::force_unlock`].
    ///
    /// # Safety
    /// As there: the panic path only, other CPUs stopped, and no guard of this CPU's is used
    /// again.
    pub unsafe fn force_unlock(&self) {
        // SAFETY: passed on.
        unsafe { self.lock.force_unlock() }
    }
}

pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
    /// The CPU that took the lock (and, the guard being `!Send`, the one that drops it): the
    /// release checks the holder against it without computing the CPU number again.
    me: CpuId,
    _not_send: PhantomData<*const ()>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock, and `&mut self` makes this the only reference.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.mutex.lock.unlock_as(self.me);
    }
}

// ---- the big kernel lock -------------------------------------------------------------------

static KERNEL_LOCK: SpinLock = SpinLock::new("kernel_lock");

/// Proof that this CPU holds the big kernel lock, and which CPU this is (computed once per
/// trap, when the lock is taken). The state the big lock guards is reached only through
/// [`BigLocked::get`], which borrows this token: one token exists at a time, so one `&mut`.
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
        KERNEL_LOCK.cpu.store(NONE, Ordering::Relaxed);
        KERNEL_LOCK.locked.store(false, Ordering::Release);
        // Normally we wouldn't need to do this, but QEMU only runs one CPU at a time and has a
        // long time-slice. Without the pause, this CPU is likely to reacquire the lock before
        // another CPU has even been given a chance to acquire it.
        core::hint::spin_loop();
    }
}

/// Acquire the big kernel lock.
pub fn lock_kernel() -> Kernel {
    lock_kernel_on(crate::cpu::cpunum())
}

/// Acquire the big kernel lock on CPU `cpu` (this one; the trap path knows it already).
#[inline]
pub fn lock_kernel_on(cpu: CpuId) -> Kernel {
    KERNEL_LOCK.lock_as(cpu);
    Kernel {
        cpu,
        _not_send: PhantomData,
    }
}

/// Break the big kernel lock (the panic path; see [`SpinLock::force_unlock`]).
///
/// # Safety
/// As there.
pub unsafe fn force_unlock_kernel() {
    // SAFETY: passed on.
    unsafe { KERNEL_LOCK.force_unlock() }
}

/// State guarded by the big kernel lock.
pub struct BigLocked<T>(UnsafeCell<T>);

// SAFETY: only reachable through `get`, which requires the lock's token.
unsafe impl<T: Send> Sync for BigLocked<T> {}

impl<T> BigLocked<T> {
    pub const fn new(value: T) -> BigLocked<T> {
        BigLocked(UnsafeCell::new(value))
    }

    /// The guarded state, for as long as the token is borrowed.
    pub fn get<'a>(&'static self, _k: &'a mut Kernel) -> &'a mut T {
        // SAFETY: `Kernel` proves this CPU holds the big lock (no other CPU is in here), and
        // the exclusive borrow of the one token makes this the only reference on this CPU.
        unsafe { &mut *self.0.get() }
    }
}
