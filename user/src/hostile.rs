//! Helpers shared by the hostile tests (refcount, setstatusrace, destroytwice, dyingcalls,
//! recvwake, bigputs, stranded, fpmulti) and the fuzzer: each uses the part it needs.

use core::sync::atomic::{AtomicU32, Ordering};

use jos_lib::inc::env::{ENV_FREE, EnvId, envx};
use jos_lib::{Pte, envs, sys_page_alloc, sys_yield};

pub const P: u32 = Pte::P.bits();
pub const U: u32 = Pte::U.bits();
pub const W: u32 = Pte::W.bits();
pub const PU: u32 = P | U;
pub const PUW: u32 = P | U | W;

/// A page of 32-bit words shared by a parent and every child it forks after creating it:
/// mapped PTE_SHARE, so `fork` maps the same page into the child instead of copying it.
/// Children report through it without any system call, which matters for children that
/// must never trap voluntarily.
#[derive(Clone, Copy)]
pub struct Shared(&'static [AtomicU32; 1024]);

impl Shared {
    /// Map a fresh zeroed shared page at `va`, which must be a page nothing else uses.
    pub fn new(va: u32) -> Shared {
        // SAFETY: each program passes a page-aligned address of its own that no Rust object
        // occupies; the page is never unmapped afterwards.
        if let Err(e) = unsafe { sys_page_alloc(0, va, Pte::P | Pte::U | Pte::W | Pte::SHARE) } {
            panic!("allocating the shared page at {:08x}: {}", va, e);
        }
        // SAFETY: the page at `va` is mapped writable for the rest of the program (and of
        // every child forked after this), 4-byte aligned, and any bit pattern is a valid
        // `AtomicU32`.
        Shared(unsafe { &*(va as usize as *const [AtomicU32; 1024]) })
    }

    pub fn get(&self, i: usize) -> u32 {
        self.0[i].load(Ordering::SeqCst)
    }

    pub fn set(&self, i: usize, v: u32) {
        self.0[i].store(v, Ordering::SeqCst)
    }

    pub fn add(&self, i: usize, v: u32) -> u32 {
        self.0[i].fetch_add(v, Ordering::SeqCst)
    }
}

/// Busy-wait `n` rounds with `pause`: under QEMU's single-threaded TCG a `pause` hands the
/// host thread to the next vCPU, so other CPUs make progress while we wait.
pub fn spin(n: u32) {
    for _ in 0..n {
        core::hint::spin_loop();
    }
}

/// Whether the environment `id` still exists (its slot holds that id and is not free),
/// whatever state it is in.
pub fn exists(id: EnvId) -> bool {
    let e = &envs()[envx(id)];
    e.env_id() == id && e.env_status() != ENV_FREE
}

/// Yield until `id` is gone (slot free or reused), at most `patience` times: false if it is
/// still there.
pub fn wait_gone(id: EnvId, patience: u32) -> bool {
    for _ in 0..patience {
        if !exists(id) {
            return true;
        }
        sys_yield();
    }
    !exists(id)
}

/// Wait until word `i` of `sh` changes from `old` while we keep running (spinning with
/// `pause`, no yield): then whoever writes it ran while we did, on another CPU. At most
/// `patience` spin rounds of 100 pauses; false if it never changed.
pub fn wait_change(sh: Shared, i: usize, old: u32, patience: u32) -> bool {
    for _ in 0..patience {
        if sh.get(i) != old {
            return true;
        }
        spin(100);
    }
    false
}

/// xorshift32: the seeded pseudo-random numbers of the fuzzer and of the races' timing.
#[derive(Clone, Copy)]
pub struct Rng(pub u32);

impl Rng {
    /// The next number.
    #[allow(
        clippy::should_implement_trait,
        reason = "an endless generator: Iterator's next would wrap every number in Some"
    )]
    pub fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// A number in 0..n (n > 0).
    pub fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }

    /// One element of `xs`.
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u32) as usize]
    }
}

/// A raw system call result as JOS's `%e` shows it, but `success` for 0 (and the number
/// itself for a positive result).
pub struct Shown(pub i32);

impl core::fmt::Display for Shown {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            0 => write!(f, "0 (success)"),
            r if r > 0 => write!(f, "{}", r),
            r => write!(f, "{} ({})", r, jos_lib::ErrNum(r)),
        }
    }
}

/// Whether word `i` of `sh` stays put while we spin: an env whose slot is already free must
/// not be running any more, so a counter it kept bumping must have stopped. (A kernel that
/// frees an env still running on another CPU leaves it running until its next trap.)
pub fn stopped(sh: Shared, i: usize) -> bool {
    let before = sh.get(i);
    spin(2000);
    sh.get(i) == before
}
