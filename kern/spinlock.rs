//! Spin locks and the big kernel lock (JOS's kern/spinlock.c).
//!
//! The big kernel lock follows JOS's discipline: taken on every entry from user mode (and by
//! the BSP before starting the APs, by each AP before scheduling), released just before
//! returning to user mode. It records which CPU holds it so a recursive acquire panics and
//! code can assert `holding()`. Subsystem state is additionally kept in its own `spin::Mutex`
//! so the big lock can later be replaced one subsystem at a time.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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

    /// Check whether this CPU is holding the lock.
    pub fn holding(&self) -> bool {
        self.locked.load(Ordering::Relaxed)
            && self.cpu.load(Ordering::Relaxed) == crate::cpu::cpunum()
    }

    /// Acquire the lock. Loops (spins) until the lock is acquired. Holding a lock for a long
    /// time may cause other CPUs to waste time spinning to acquire it.
    #[track_caller]
    pub fn lock(&self) {
        if self.holding() {
            panic!(
                "CPU {} cannot acquire {}: already holding",
                crate::cpu::cpunum(),
                self.name
            );
        }
        // The xchg is atomic; spin on a plain read first so waiting CPUs don't bounce the
        // cache line, with `pause` in the loop.
        while self.locked.swap(true, Ordering::Acquire) {
            while self.locked.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
        self.cpu.store(crate::cpu::cpunum(), Ordering::Relaxed);
    }

    /// Release the lock.
    #[track_caller]
    pub fn unlock(&self) {
        if !self.holding() {
            panic!(
                "CPU {} cannot release {}: not holding",
                crate::cpu::cpunum(),
                self.name
            );
        }
        self.cpu.store(NONE, Ordering::Relaxed);
        self.locked.store(false, Ordering::Release);
    }
}

/// The big kernel lock.
pub static KERNEL_LOCK: SpinLock = SpinLock::new("kernel_lock");

#[track_caller]
pub fn lock_kernel() {
    KERNEL_LOCK.lock();
}

#[track_caller]
pub fn unlock_kernel() {
    KERNEL_LOCK.unlock();
    // Normally we wouldn't need to do this, but QEMU only runs one CPU at a time and has a
    // long time-slice. Without the pause, this CPU is likely to reacquire the lock before
    // another CPU has even been given a chance to acquire it.
    core::hint::spin_loop();
}
