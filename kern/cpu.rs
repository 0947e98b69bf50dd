//! Per-CPU state (JOS's kern/cpu.h): one record per CPU, indexed by the CPU's id and touched
//! only by that CPU, except the status the BSP polls while starting APs.

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// Maximum number of CPUs.
pub const NCPU: usize = 8;

/// `cpu_status` values.
pub const CPU_UNUSED: u32 = 0;
pub const CPU_STARTED: u32 = 1;
pub const CPU_HALTED: u32 = 2;

/// No env is running on the CPU.
const NO_ENV: usize = usize::MAX;

/// JOS's `struct CpuInfo` minus the TSS (which lives in trap.rs) and `cpu_id` (the index:
/// JOS assumes APIC id == index too).
pub struct CpuInfo {
    /// The status of the CPU.
    status: AtomicU32,
    /// The envs[] slot currently running on this CPU.
    env: AtomicUsize,
}

impl CpuInfo {
    const fn new() -> CpuInfo {
        CpuInfo {
            status: AtomicU32::new(CPU_UNUSED),
            env: AtomicUsize::new(NO_ENV),
        }
    }
    pub fn status(&self) -> u32 {
        self.status.load(Ordering::Acquire)
    }
    pub fn set_status(&self, s: u32) {
        self.status.store(s, Ordering::Release)
    }
    /// Atomically exchange the status (JOS's `xchg(&thiscpu->cpu_status, ...)`).
    pub fn swap_status(&self, s: u32) -> u32 {
        self.status.swap(s, Ordering::AcqRel)
    }
}

static CPUS: [CpuInfo; NCPU] = [
    CpuInfo::new(),
    CpuInfo::new(),
    CpuInfo::new(),
    CpuInfo::new(),
    CpuInfo::new(),
    CpuInfo::new(),
    CpuInfo::new(),
    CpuInfo::new(),
];

/// Number of CPUs found by mp_init.
static NCPU_FOUND: AtomicUsize = AtomicUsize::new(1);
/// The boot processor's index.
static BOOTCPU: AtomicUsize = AtomicUsize::new(0);

pub fn cpus() -> &'static [CpuInfo] {
    &CPUS[..ncpu()]
}

pub fn cpu(i: usize) -> &'static CpuInfo {
    &CPUS[i]
}

pub fn ncpu() -> usize {
    NCPU_FOUND.load(Ordering::Relaxed)
}

pub fn set_ncpu(n: usize, boot: usize) {
    NCPU_FOUND.store(n.clamp(1, NCPU), Ordering::Relaxed);
    BOOTCPU.store(boot, Ordering::Relaxed);
}

pub fn bootcpu() -> usize {
    BOOTCPU.load(Ordering::Relaxed)
}

/// This CPU's id (its local APIC id; 0 before the LAPIC is mapped).
pub fn cpunum() -> usize {
    crate::lapic::cpunum()
}

pub fn thiscpu() -> &'static CpuInfo {
    &CPUS[cpunum() % NCPU]
}

/// The envs[] slot running on this CPU (JOS's `curenv`).
pub fn curenv() -> Option<usize> {
    match thiscpu().env.load(Ordering::Relaxed) {
        NO_ENV => None,
        i => Some(i),
    }
}

pub fn set_curenv(e: Option<usize>) {
    thiscpu().env.store(e.unwrap_or(NO_ENV), Ordering::Relaxed);
}
