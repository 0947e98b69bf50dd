//! Per-CPU state (JOS's kern/cpu.h: `struct CpuInfo`, `cpus[]`, `ncpu`, `bootcpu`, `cpunum()`,
//! `thiscpu`; JOS's cpunum() reads the LAPIC id, this one the stack pointer) and the `CpuId`
//! type: one record per CPU, indexed by the CPU's id and touched
//! only by that CPU, except the status the BSP polls while starting APs and the panic path
//! reads while stopping CPUs.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use kern_logic::envid::EnvIdx;

use jos_inc::memlayout::{KSTACKTOP, KSTKGAP, KSTKSIZE};

pub use kern_logic::cpuid::{CpuId, NCPU};

/// JOS's `cpu_status` values, as a type (kept in an `AtomicU32`, converted on the way in and
/// out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum CpuStatus {
    Unused = 0,
    Started = 1,
    Halted = 2,
    /// Stopped for good by another CPU's panic (not in JOS).
    Stopped = 3,
}

impl CpuStatus {
    /// The status stored as `v` (only this module stores, and only `CpuStatus` values).
    fn from_stored(v: u32) -> CpuStatus {
        match v {
            0 => CpuStatus::Unused,
            1 => CpuStatus::Started,
            2 => CpuStatus::Halted,
            3 => CpuStatus::Stopped,
            _ => unreachable!("cpu_status {v}"),
        }
    }
}

pub const CPU_UNUSED: CpuStatus = CpuStatus::Unused;
pub const CPU_STARTED: CpuStatus = CpuStatus::Started;
pub const CPU_HALTED: CpuStatus = CpuStatus::Halted;
pub const CPU_STOPPED: CpuStatus = CpuStatus::Stopped;

/// No env is running on the CPU.
const NO_ENV: usize = usize::MAX;

/// JOS's `struct CpuInfo` minus the TSS (which lives in trap.rs) and `cpu_id` (the index:
/// JOS assumes APIC id == index too).
pub struct CpuInfo {
    /// The status of the CPU.
    status: AtomicU32,
    /// The envs[] slot currently running on this CPU (JOS's `cpu_env`).
    env: AtomicUsize,
    /// The CPU is in user mode (between env_run's exit and the next trap's entry), so a TLB
    /// shootdown must interrupt it (pmap::tlb_shootdown).
    pub in_user: AtomicBool,
    /// Another CPU changed the page tables this CPU is running on: flush before user mode.
    pub tlb_stale: AtomicBool,
}

impl CpuInfo {
    const fn new() -> CpuInfo {
        CpuInfo {
            status: AtomicU32::new(CPU_UNUSED as u32),
            env: AtomicUsize::new(NO_ENV),
            in_user: AtomicBool::new(false),
            tlb_stale: AtomicBool::new(false),
        }
    }
    pub fn status(&self) -> CpuStatus {
        CpuStatus::from_stored(self.status.load(Ordering::Acquire))
    }
    pub fn set_status(&self, s: CpuStatus) {
        self.status.store(s as u32, Ordering::Release)
    }
    /// Atomically exchange the status (JOS's `xchg(&thiscpu->cpu_status, ...)`).
    pub fn swap_status(&self, s: CpuStatus) -> CpuStatus {
        CpuStatus::from_stored(self.status.swap(s as u32, Ordering::AcqRel))
    }
    /// The envs[] slot running on this CPU (JOS's `curenv`).
    pub fn env(&self) -> Option<EnvIdx> {
        // (NO_ENV is no slot.)
        EnvIdx::new(self.env.load(Ordering::Relaxed))
    }
    pub fn set_env(&self, e: Option<EnvIdx>) {
        self.env
            .store(e.map_or(NO_ENV, EnvIdx::index), Ordering::Relaxed);
    }
}

static CPUS: [CpuInfo; NCPU] = [const { CpuInfo::new() }; NCPU];

/// Number of CPUs found by mp_init.
static NCPU_FOUND: AtomicUsize = AtomicUsize::new(1);
/// The boot processor's index.
static BOOTCPU: AtomicUsize = AtomicUsize::new(0);

pub fn cpus() -> &'static [CpuInfo] {
    &CPUS[..ncpu()]
}

pub fn cpu(i: CpuId) -> &'static CpuInfo {
    &CPUS[i.index()]
}

pub fn ncpu() -> usize {
    NCPU_FOUND.load(Ordering::Relaxed)
}

pub fn set_ncpu(n: usize, boot: CpuId) {
    NCPU_FOUND.store(n.clamp(1, NCPU), Ordering::Relaxed);
    BOOTCPU.store(boot.index(), Ordering::Relaxed);
}

pub fn bootcpu() -> CpuId {
    CpuId::wrapping(BOOTCPU.load(Ordering::Relaxed))
}

// Each CPU's kernel stack is KSTKSIZE bytes ending at kstacktop(i) = KSTACKTOP - i * 64 KiB
// (stack plus guard gap): the stack pointer alone says which CPU this is.
const STACK_STRIDE_SHIFT: u32 = 16;
const _: () = assert!(KSTKSIZE + KSTKGAP == 1 << STACK_STRIDE_SHIFT);

/// This CPU's id.
///
/// From the stack pointer when it is on a per-CPU kernel stack (every trap and everything
/// after the first env starts: a few instructions and no memory access), else from the local
/// APIC (boot, and the APs' start-up stacks): JOS reads the LAPIC every time, which costs an
/// uncached MMIO access and was read 11 times per system call.
#[inline]
pub fn cpunum() -> CpuId {
    let esp: u32;
    // SAFETY: reads the stack pointer. `pure` lets the compiler reuse an earlier read in the
    // same function instead (so a function and the callees inlined into it compute the CPU
    // once): the stack pointer changes within a function, but never to another CPU's stack,
    // and the CPU is all that is derived from it.
    unsafe {
        core::arch::asm!("movl %esp, {}", out(reg) esp, options(att_syntax, pure, nomem, nostack, preserves_flags))
    };
    let i = (KSTACKTOP.wrapping_sub(1).wrapping_sub(esp) >> STACK_STRIDE_SHIFT) as usize;
    match CpuId::new(i) {
        Some(c) => c,
        None => cpunum_lapic(),
    }
}

/// `cpunum` off the per-CPU kernel stacks (boot, the APs' start-up stacks): out of line, so
/// that the common case falls through with no jump.
#[cold]
#[inline(never)]
fn cpunum_lapic() -> CpuId {
    // Only CPUs with APIC ids below NCPU are started (mp_init), as JOS assumes.
    CpuId::wrapping(crate::lapic::cpunum())
}

/// The CPU whose live trap frame `_alltraps` (or the system call entry) built at `tf`: the
/// frame lies just below its kernel stack's top (`env::live_frame`; 16 bytes lower for a trap
/// from V86 mode), so its address says which CPU this is, in three instructions and with
/// no check: the entry code only ever runs on a CPU's own kernel stack (TSS esp0).
#[inline]
pub fn trap_cpu(tf: *const jos_inc::trap::Trapframe) -> CpuId {
    let top = KSTACKTOP - core::mem::size_of::<jos_inc::trap::Trapframe>() as u32;
    CpuId::wrapping((top.wrapping_sub(tf as u32) >> STACK_STRIDE_SHIFT) as usize)
}

pub fn thiscpu() -> &'static CpuInfo {
    &CPUS[cpunum().index()]
}
