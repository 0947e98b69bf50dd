//! The local APIC (JOS's kern/lapic.c): per-CPU interrupt controller, timer, and
//! inter-processor interrupts used to start the APs.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

use jos_inc::memlayout::KERNBASE;
use jos_inc::trap::{IRQ_ERROR, IRQ_OFFSET, IRQ_SPURIOUS, IRQ_TIMER};
use volatile::VolatilePtr;

use crate::kclock;

// Local APIC registers, divided by 4 for use as u32 indices.
const ID: usize = 0x0020 / 4; // ID
const VER: usize = 0x0030 / 4; // Version
const TPR: usize = 0x0080 / 4; // Task Priority
const EOI: usize = 0x00B0 / 4; // EOI
const SVR: usize = 0x00F0 / 4; // Spurious Interrupt Vector
const ENABLE: u32 = 0x0000_0100; // Unit Enable
const ESR: usize = 0x0280 / 4; // Error Status
const ICRLO: usize = 0x0300 / 4; // Interrupt Command
const INIT: u32 = 0x0000_0500; // INIT/RESET
const STARTUP: u32 = 0x0000_0600; // Startup IPI
const DELIVS: u32 = 0x0000_1000; // Delivery status
const ASSERT: u32 = 0x0000_4000; // Assert interrupt (vs deassert)
const LEVEL: u32 = 0x0000_8000; // Level triggered
const BCAST: u32 = 0x0008_0000; // Send to all APICs, including self.
const ICRHI: usize = 0x0310 / 4; // Interrupt Command [63:32]
const TIMER: usize = 0x0320 / 4; // Local Vector Table 0 (TIMER)
const X1: u32 = 0x0000_000B; // divide counts by 1
const PERIODIC: u32 = 0x0002_0000; // Periodic
const PCINT: usize = 0x0340 / 4; // Performance Counter LVT
const LINT0: usize = 0x0350 / 4; // Local Vector Table 1 (LINT0)
const LINT1: usize = 0x0360 / 4; // Local Vector Table 2 (LINT1)
const ERROR: usize = 0x0370 / 4; // Local Vector Table 3 (ERROR)
const MASKED: u32 = 0x0001_0000; // Interrupt masked
const TICR: usize = 0x0380 / 4; // Timer Initial Count
const TDCR: usize = 0x03E0 / 4; // Timer Divide Configuration

/// Timer initial count: JOS's 10,000,000 bus cycles per tick.
const TIMER_COUNT: u32 = 10_000_000;

/// Physical address of the LAPIC's 4K MMIO region (from the MP table).
static LAPICADDR: AtomicU32 = AtomicU32::new(0);
/// Virtual address where it is mapped (0 until lapic_init maps it).
static LAPIC: AtomicU32 = AtomicU32::new(0);

pub fn set_lapicaddr(pa: u32) {
    LAPICADDR.store(pa, Ordering::Relaxed);
}

fn reg(index: usize) -> Option<VolatilePtr<'static, u32>> {
    let base = LAPIC.load(Ordering::Relaxed);
    if base == 0 {
        return None;
    }
    let p = NonNull::new((base as *mut u32).wrapping_add(index))?;
    // SAFETY: `base` maps the LAPIC's register page (mmio_map_region, uncached) and `index`
    // is one of the register offsets above, inside that page.
    Some(unsafe { VolatilePtr::new(p) })
}

fn lapicw(index: usize, value: u32) {
    if let Some(r) = reg(index) {
        r.write(value);
        // Wait for the write to finish, by reading.
        if let Some(id) = reg(ID) {
            let _ = id.read();
        }
    }
}

fn lapicr(index: usize) -> u32 {
    reg(index).map_or(0, |r| r.read())
}

pub fn lapic_init() {
    let pa = LAPICADDR.load(Ordering::Relaxed);
    if pa == 0 {
        return;
    }
    // lapicaddr is the physical address of the LAPIC's 4K MMIO region. Map it in to
    // virtual memory so we can access it (once: all CPUs share the mapping).
    if LAPIC.load(Ordering::Relaxed) == 0 {
        LAPIC.store(crate::pmap::mmio_map_region(pa, 4096), Ordering::Relaxed);
    }

    // Enable local APIC; set spurious interrupt vector.
    lapicw(SVR, ENABLE | (IRQ_OFFSET + IRQ_SPURIOUS));

    // The timer repeatedly counts down at bus frequency from lapic[TICR] and then issues an
    // interrupt.
    lapicw(TDCR, X1);
    lapicw(TIMER, PERIODIC | (IRQ_OFFSET + IRQ_TIMER));
    lapicw(TICR, TIMER_COUNT);

    // Leave LINT0 of the BSP enabled so that it can get interrupts from the 8259A chip.
    // (According to Intel MP Specification, the BIOS should initialize BSP's local APIC in
    // Virtual Wire Mode, in which 8259A's INTR is virtually connected to BSP's LINTIN0.)
    if crate::cpu::cpunum() != crate::cpu::bootcpu() {
        lapicw(LINT0, MASKED);
    }

    // Disable NMI (LINT1) on all CPUs.
    lapicw(LINT1, MASKED);

    // Disable performance counter overflow interrupts on machines that provide that
    // interrupt entry.
    if (lapicr(VER) >> 16) & 0xFF >= 4 {
        lapicw(PCINT, MASKED);
    }

    // Map error interrupt to IRQ_ERROR.
    lapicw(ERROR, IRQ_OFFSET + IRQ_ERROR);

    // Clear error status register (requires back-to-back writes).
    lapicw(ESR, 0);
    lapicw(ESR, 0);

    // Ack any outstanding interrupts.
    lapicw(EOI, 0);

    // Send an Init Level De-Assert to synchronize arbitration ID's.
    lapicw(ICRHI, 0);
    lapicw(ICRLO, BCAST | INIT | LEVEL);
    while lapicr(ICRLO) & DELIVS != 0 {
        core::hint::spin_loop();
    }

    // Enable interrupts on the APIC (but not on the processor).
    lapicw(TPR, 0);
}

/// This CPU's local APIC id (0 before the LAPIC is mapped: only the BSP runs then).
pub fn cpunum() -> usize {
    (lapicr(ID) >> 24) as usize
}

/// Acknowledge interrupt.
pub fn lapic_eoi() {
    lapicw(EOI, 0);
}

/// Spin for a given number of microseconds. On real hardware would want to tune this
/// dynamically; QEMU needs no delay.
fn microdelay(_us: u32) {}

/// Start additional processor running entry code at `addr` (JOS's lapic_startap).
pub fn lapic_startap(apicid: u8, addr: u32) {
    // "The BSP must initialize CMOS shutdown code to 0AH and the warm reset vector (DWORD
    // based at 40:67) to point at the AP startup code prior to the [universal startup
    // algorithm]." (Through kclock, under its lock: JOS wrote the ports directly.)
    kclock::mc146818_write(kclock::MC_SHUTDOWN, 0x0A);
    // SAFETY: the warm reset vector lives in the BIOS data area (page 0), mapped at KERNBASE
    // and never handed out by the page allocator.
    unsafe {
        // Warm reset vector: offset 0, segment addr >> 4. It sits at the odd address 0x467,
        // so it is written byte by byte (an unaligned u16 store would be undefined behaviour).
        let wrv = (KERNBASE + (0x40 << 4 | 0x67)) as *mut u8;
        let seg = ((addr >> 4) as u16).to_le_bytes();
        for (i, b) in [0, 0, seg[0], seg[1]].into_iter().enumerate() {
            core::ptr::write_volatile(wrv.add(i), b);
        }
    }

    // "Universal startup algorithm." Send INIT (level-triggered) interrupt to reset other
    // CPU.
    lapicw(ICRHI, (apicid as u32) << 24);
    lapicw(ICRLO, INIT | LEVEL | ASSERT);
    microdelay(200);
    lapicw(ICRLO, INIT | LEVEL);
    microdelay(100); // should be 10ms, but too slow in Bochs!

    // Send startup IPI (twice!) to enter code. Regular hardware is supposed to only accept
    // a STARTUP when it is in the halted state due to an INIT. So the second should be
    // ignored, but it is part of the official Intel algorithm.
    for _ in 0..2 {
        lapicw(ICRHI, (apicid as u32) << 24);
        lapicw(ICRLO, STARTUP | (addr >> 12));
        microdelay(200);
    }
}

/// ICR delivery mode NMI, and the "all excluding self" destination shorthand.
const NMI: u32 = 0x0000_0400;
const OTHERS: u32 = 0x000C_0000;

/// Send an NMI to every other CPU (the panic path's stop signal: delivered even to a CPU
/// running with interrupts off).
pub fn lapic_nmi_others() {
    lapicw(ICRHI, 0);
    lapicw(ICRLO, OTHERS | NMI | ASSERT);
    while lapicr(ICRLO) & DELIVS != 0 {
        core::hint::spin_loop();
    }
}

/// Send interrupt `vector` to CPU `apicid`.
pub fn lapic_ipi(apicid: usize, vector: u32) {
    lapicw(ICRHI, (apicid as u32) << 24);
    lapicw(ICRLO, ASSERT | vector);
    while lapicr(ICRLO) & DELIVS != 0 {
        core::hint::spin_loop();
    }
}
