//! The local APIC (JOS's kern/lapic.c): per-CPU interrupt controller, timer, and
//! inter-processor interrupts used to start the APs. JOS's `lapicw`, `lapic_init`, `cpunum`
//! (the LAPIC id), `lapic_eoi`, `microdelay`, `lapic_startap`; not in JOS: `lapic_ipi` (TLB
//! shootdown) and `lapic_nmi_others` (panic).

use core::ops::Range;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

use bit_field::BitField;
use jos_inc::trap::{IRQ_ERROR, IRQ_OFFSET, IRQ_SPURIOUS, IRQ_TIMER};
use volatile::VolatilePtr;
use x86::apic::xapic::{
    XAPIC_EOI, XAPIC_ESR, XAPIC_ICR0, XAPIC_ICR1, XAPIC_ID, XAPIC_LVT_ERROR, XAPIC_LVT_LINT0,
    XAPIC_LVT_LINT1, XAPIC_LVT_PMI, XAPIC_LVT_TIMER, XAPIC_SVR, XAPIC_TIMER_DIV_CONF,
    XAPIC_TIMER_INIT_COUNT, XAPIC_TPR, XAPIC_VERSION,
};

use crate::kclock;

// Local APIC registers: x86's xAPIC offsets (Intel SDM vol. 3, table 10-1), divided by 4 for
// use as u32 indices. (x86's `XAPIC` type itself does not fit: its register accessors are
// private, its timer is TSC-deadline only where JOS's is periodic, and it finds the LAPIC
// through IA32_APIC_BASE where JOS uses the MP table's address.)
const fn index(offset: u32) -> usize {
    offset as usize / 4
}
const ID: usize = index(XAPIC_ID); // ID
const VER: usize = index(XAPIC_VERSION); // Version
const TPR: usize = index(XAPIC_TPR); // Task Priority
const EOI: usize = index(XAPIC_EOI); // EOI
const SVR: usize = index(XAPIC_SVR); // Spurious Interrupt Vector
const ESR: usize = index(XAPIC_ESR); // Error Status
const ICRLO: usize = index(XAPIC_ICR0); // Interrupt Command
const ICRHI: usize = index(XAPIC_ICR1); // Interrupt Command [63:32]
const TIMER: usize = index(XAPIC_LVT_TIMER); // Local Vector Table 0 (TIMER)
const PCINT: usize = index(XAPIC_LVT_PMI); // Performance Counter LVT
const LINT0: usize = index(XAPIC_LVT_LINT0); // Local Vector Table 1 (LINT0)
const LINT1: usize = index(XAPIC_LVT_LINT1); // Local Vector Table 2 (LINT1)
const ERROR: usize = index(XAPIC_LVT_ERROR); // Local Vector Table 3 (ERROR)
const TICR: usize = index(XAPIC_TIMER_INIT_COUNT); // Timer Initial Count
const TDCR: usize = index(XAPIC_TIMER_DIV_CONF); // Timer Divide Configuration

// Register fields, read and written with bit_field (JOS shifts and masks by hand).
/// ID: this CPU's APIC id.
const ID_APICID: Range<usize> = 24..32;
/// Version: the highest LVT entry's number.
const VER_MAXLVT: Range<usize> = 16..24;
/// The vector of SVR, of an LVT entry and of an IPI.
const VECTOR: Range<usize> = 0..8;
/// SVR: unit enable.
const SVR_ENABLE: usize = 8;
/// LVT entry: interrupt masked.
const LVT_MASKED: usize = 16;
/// Timer LVT entry: periodic (else one-shot).
const LVT_PERIODIC: usize = 17;
/// ICR: delivery mode, and its values.
const ICR_MODE: Range<usize> = 8..11;
const MODE_FIXED: u32 = 0b000;
const MODE_NMI: u32 = 0b100;
const MODE_INIT: u32 = 0b101; // INIT/RESET
const MODE_STARTUP: u32 = 0b110; // Startup IPI
/// ICR: delivery status (set while the IPI is pending).
const ICR_DELIVS: usize = 12;
/// ICR: assert the interrupt (vs deassert).
const ICR_ASSERT: usize = 14;
/// ICR: level triggered (vs edge).
const ICR_LEVEL: usize = 15;
/// ICR: destination shorthand, and its values.
const ICR_SHORTHAND: Range<usize> = 18..20;
const TO_DEST: u32 = 0b00; // the APIC in ICRHI's destination field
const TO_ALL: u32 = 0b10; // all APICs, including self
const TO_OTHERS: u32 = 0b11; // all APICs but self
/// ICRHI: destination APIC id.
const ICRHI_DEST: Range<usize> = 24..32;
/// TDCR: divide counts by 1.
const X1: u32 = 0x0000_000B;

/// An LVT entry (or SVR) value: `vector`, with the mask, periodic and enable bits given.
fn lvt(vector: u32, masked: bool, periodic: bool) -> u32 {
    let mut v = 0u32;
    v.set_bits(VECTOR, vector)
        .set_bit(LVT_MASKED, masked)
        .set_bit(LVT_PERIODIC, periodic);
    v
}

/// An interrupt command (ICR's low word): delivery `mode` of `vector` to `shorthand`'s
/// destinations, with the trigger-mode (`level`) and level (`assert`) bits.
fn icr(shorthand: u32, mode: u32, level: bool, assert: bool, vector: u32) -> u32 {
    let mut v = 0u32;
    v.set_bits(ICR_SHORTHAND, shorthand)
        .set_bits(ICR_MODE, mode)
        .set_bit(ICR_LEVEL, level)
        .set_bit(ICR_ASSERT, assert)
        .set_bits(VECTOR, vector);
    v
}

/// ICR's high word for destination `apicid`.
fn icr_dest(apicid: u32) -> u32 {
    let mut v = 0u32;
    v.set_bits(ICRHI_DEST, apicid);
    v
}

/// Sends the command `lo` to `hi`'s destination and waits until it is delivered.
fn send_ipi(hi: u32, lo: u32) {
    lapicw(ICRHI, hi);
    lapicw(ICRLO, lo);
    while lapicr(ICRLO).get_bit(ICR_DELIVS) {
        core::hint::spin_loop();
    }
}

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
        LAPIC.store(
            crate::pmap::mmio_map_region(kern_logic::addr::PhysAddr::new(pa), 4096).get(),
            Ordering::Relaxed,
        );
    }

    // Enable local APIC; set spurious interrupt vector.
    let mut svr = 0u32;
    svr.set_bit(SVR_ENABLE, true)
        .set_bits(VECTOR, IRQ_OFFSET + IRQ_SPURIOUS);
    lapicw(SVR, svr);

    // The timer repeatedly counts down at bus frequency from lapic[TICR] and then issues an
    // interrupt.
    lapicw(TDCR, X1);
    lapicw(TIMER, lvt(IRQ_OFFSET + IRQ_TIMER, false, true));
    lapicw(TICR, TIMER_COUNT);

    // Leave LINT0 of the BSP enabled so that it can get interrupts from the 8259A chip.
    // (According to Intel MP Specification, the BIOS should initialize BSP's local APIC in
    // Virtual Wire Mode, in which 8259A's INTR is virtually connected to BSP's LINTIN0.)
    if crate::cpu::cpunum() != crate::cpu::bootcpu() {
        lapicw(LINT0, lvt(0, true, false));
    }

    // Disable NMI (LINT1) on all CPUs.
    lapicw(LINT1, lvt(0, true, false));

    // Disable performance counter overflow interrupts on machines that provide that
    // interrupt entry.
    if lapicr(VER).get_bits(VER_MAXLVT) >= 4 {
        lapicw(PCINT, lvt(0, true, false));
    }

    // Map error interrupt to IRQ_ERROR.
    lapicw(ERROR, lvt(IRQ_OFFSET + IRQ_ERROR, false, false));

    // Clear error status register (requires back-to-back writes).
    lapicw(ESR, 0);
    lapicw(ESR, 0);

    // Ack any outstanding interrupts.
    lapicw(EOI, 0);

    // Send an Init Level De-Assert to synchronize arbitration ID's.
    send_ipi(0, icr(TO_ALL, MODE_INIT, true, false, 0));

    // Enable interrupts on the APIC (but not on the processor).
    lapicw(TPR, 0);
}

/// This CPU's local APIC id (0 before the LAPIC is mapped: only the BSP runs then).
pub fn cpunum() -> usize {
    lapicr(ID).get_bits(ID_APICID) as usize
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
    // Warm reset vector: offset 0, segment addr >> 4. It sits at the odd address 0x467, so it
    // is written byte by byte (an unaligned u16 store would be undefined behaviour).
    let wrv = crate::pmap::kaddr(kern_logic::addr::PhysAddr::new(0x40 << 4 | 0x67));
    // SAFETY: the warm reset vector lives in the BIOS data area (page 0), mapped at KERNBASE
    // (wrv is its address there) and never handed out by the page allocator.
    unsafe {
        let wrv = wrv.as_ptr::<u8>();
        let seg = ((addr >> 4) as u16).to_le_bytes();
        for (i, b) in [0, 0, seg[0], seg[1]].into_iter().enumerate() {
            core::ptr::write_volatile(wrv.add(i), b);
        }
    }

    // "Universal startup algorithm." Send INIT (level-triggered) interrupt to reset other
    // CPU.
    lapicw(ICRHI, icr_dest(u32::from(apicid)));
    lapicw(ICRLO, icr(TO_DEST, MODE_INIT, true, true, 0));
    microdelay(200);
    lapicw(ICRLO, icr(TO_DEST, MODE_INIT, true, false, 0));
    microdelay(100); // should be 10ms, but too slow in Bochs!

    // Send startup IPI (twice!) to enter code. Regular hardware is supposed to only accept
    // a STARTUP when it is in the halted state due to an INIT. So the second should be
    // ignored, but it is part of the official Intel algorithm.
    for _ in 0..2 {
        lapicw(ICRHI, icr_dest(u32::from(apicid)));
        lapicw(ICRLO, icr(TO_DEST, MODE_STARTUP, false, false, addr >> 12));
        microdelay(200);
    }
}

/// Send an NMI to every other CPU (the panic path's stop signal: delivered even to a CPU
/// running with interrupts off).
pub fn lapic_nmi_others() {
    send_ipi(0, icr(TO_OTHERS, MODE_NMI, false, true, 0));
}

/// Send interrupt `vector` to CPU `apicid`.
pub fn lapic_ipi(apicid: usize, vector: u32) {
    send_ipi(
        icr_dest(apicid as u32),
        icr(TO_DEST, MODE_FIXED, false, true, vector),
    );
}
