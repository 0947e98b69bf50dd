//! The MC146818 real-time clock's battery-backed NVRAM: JOS's kern/kclock.c and kern/kclock.h.
//!
//! The kernel reads the BIOS's memory-size bytes from it (pmap's `i386_detect_memory`) and
//! writes the shutdown code before starting an AP (lapic's `lapic_startap`), both through
//! `mc146818_read`/`mc146818_write` and their lock: nothing else touches ports 0x70/0x71.
//! The chip is reached through an index port (0x70) and a data port (0x71); the pair is one
//! transaction, so a lock keeps two CPUs from interleaving their index and data accesses.

use x86::io::{inb, outb};

use crate::spinlock::{Mutex, rank};

/// The RTC's index port; the data port is the next one.
const IO_RTC: u16 = 0x070;

/// Start of the NVRAM: offset 14 (the first 14 registers are the clock itself).
pub const MC_NVRAM_START: u8 = 0x0e;

// The BIOS's memory-size fields, each 16 bits little-endian: the register named here holds the
// low byte and the next register the high byte (read both with `nvram_read`).

/// NVRAM bytes 7-8: base memory size, in KB (RTC offset 0x15).
pub const NVRAM_BASELO: u8 = MC_NVRAM_START + 7;
/// NVRAM bytes 9-10: extended memory size (between 1MB and 16MB), in KB (RTC offset 0x17).
pub const NVRAM_EXTLO: u8 = MC_NVRAM_START + 9;
/// NVRAM bytes 38-39: extended memory size (above 16MB), in 64KB units (RTC offset 0x34).
pub const NVRAM_EXT16LO: u8 = MC_NVRAM_START + 38;

// The offsets the PC BIOS uses.
const _: () = assert!(NVRAM_BASELO == 0x15 && NVRAM_EXTLO == 0x17 && NVRAM_EXT16LO == 0x34);

/// The CMOS shutdown status byte (not NVRAM proper): what the BIOS does after a CPU reset.
/// lapic_startap sets it to 0x0A, "jump through the warm-reset vector at 40:67".
pub const MC_SHUTDOWN: u8 = 0x0F;

/// Serializes index-port/data-port pairs.
static RTC_LOCK: Mutex<(), rank::Rtc> = Mutex::new(());

/// Reads RTC register `reg`.
pub fn mc146818_read(reg: u8) -> u8 {
    let _guard = RTC_LOCK.lock();
    // SAFETY: ports 0x70/0x71 belong to the RTC; selecting a register and reading it touches
    // no memory, and the lock makes the select+read pair atomic with respect to other CPUs.
    unsafe {
        outb(IO_RTC, reg);
        inb(IO_RTC + 1)
    }
}

/// Writes `datum` to RTC register `reg` (lapic_startap's shutdown code).
pub fn mc146818_write(reg: u8, datum: u8) {
    let _guard = RTC_LOCK.lock();
    // SAFETY: as in `mc146818_read`; RTC registers hold clock/NVRAM data, not memory mappings.
    unsafe {
        outb(IO_RTC, reg);
        outb(IO_RTC + 1, datum);
    }
}

/// Reads the little-endian 16-bit NVRAM field whose low byte is register `r` (JOS's pmap.c
/// helper), e.g. `nvram_read(NVRAM_BASELO)` is the base memory size in KB.
pub fn nvram_read(r: u8) -> u32 {
    u32::from(mc146818_read(r)) | (u32::from(mc146818_read(r + 1)) << 8)
}
