//! The console: JOS's kern/console.c (and kern/console.h, inc/kbdreg.h): `serial_init`,
//! `serial_intr`, `serial_putc`, `lpt_putc`, `cga_init`/`cga_putc`, `kbd_proc_data`,
//! `kbd_intr`, `kbd_init`, `cons_intr`, `cons_getc`, `cons_putc`, `cons_init`, `cputchar`,
//! `getchar`. (`cprintf` is printf.rs's.)
//!
//! Output goes to three devices at once, as in JOS: the COM1 serial port (what QEMU's
//! `-serial mon:stdio` and the grader see), the parallel port, and the CGA/VGA text screen.
//! Input comes from the PS/2 keyboard and the serial port, either by polling (`cons_getc`, which
//! works with interrupts off, as the kernel always runs) or from the IRQ 1 / IRQ 4 handlers
//! (`kbd_intr`, `serial_intr`); both feed one 512-byte ring.
//!
//! Locking: each device's state has its own lock, taken per character (the screen's once per
//! run of characters, [`Output`]). printf's `PRINT` lock is the outer one that keeps one
//! formatted print from one CPU from interleaving with another CPU's. Their places in the
//! kernel's lock order (kern/spinlock.rs): `KBD` before `INPUT` and `PRINT` (the Ctrl-Alt-Del
//! message), `PRINT` before `CGA`.

use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use bitflags::bitflags;
use jos_inc::memlayout::KERNBASE;
use jos_inc::trap::IRQ_KBD;
use volatile::VolatilePtr;
use x86::io::{inb, outb};

use crate::spinlock::{Mutex, MutexGuard, rank};

// ---------------------------------------------------------------------------------------------
// Port I/O

/// Reads a console device register.
fn port_in(port: u16) -> u8 {
    // SAFETY: this module passes only the ports of the devices it drives (COM1, LPT1, the CRTC,
    // the 8042 keyboard controller, the POST port 0x84). Reading them has device side effects
    // (consuming a received byte, ...) that this module owns, but touches no memory.
    unsafe { inb(port) }
}

/// Writes a console device register.
fn port_out(port: u16, value: u8) {
    // SAFETY: as for `port_in`, plus system control port A (0x92), written only to reboot.
    // None of these devices does DMA, so no write here can change memory Rust relies on.
    unsafe { outb(port, value) }
}

/// A short I/O delay, needed by old PC hardware between accesses: four reads of the unused
/// POST diagnostic port, about a microsecond on real hardware and nearly free under QEMU.
fn delay() {
    for _ in 0..4 {
        port_in(0x84);
    }
}

// ---------------------------------------------------------------------------------------------
// Serial port (8250/16550 UART at COM1)

const COM1: u16 = 0x3F8;

const COM_RX: u16 = 0; // In: receive buffer (DLAB=0)
const COM_TX: u16 = 0; // Out: transmit buffer (DLAB=0)
const COM_DLL: u16 = 0; // Out: divisor latch low (DLAB=1)
const COM_DLM: u16 = 1; // Out: divisor latch high (DLAB=1)
const COM_IER: u16 = 1; // Out: interrupt enable register
const COM_IER_RDI: u8 = 0x01; //   enable receiver data interrupt
const COM_IIR: u16 = 2; // In: interrupt ID register
const COM_FCR: u16 = 2; // Out: FIFO control register
const COM_LCR: u16 = 3; // Out: line control register
const COM_LCR_DLAB: u8 = 0x80; //   divisor latch access bit
const COM_LCR_WLEN8: u8 = 0x03; //   word length: 8 bits
const COM_MCR: u16 = 4; // Out: modem control register
const COM_LSR: u16 = 5; // In: line status register
const COM_LSR_DATA: u8 = 0x01; //   data available
const COM_LSR_TXRDY: u8 = 0x20; //   transmit buffer available

/// How many delays to wait for a device to become ready before writing anyway: a missing or
/// wedged device must not hang the kernel's output.
const READY_SPINS: u32 = 12800;

/// Set by `serial_init` once the UART has been seen to answer.
static SERIAL_EXISTS: AtomicBool = AtomicBool::new(false);

/// One received byte, or `None` when the UART has nothing (JOS's `serial_proc_data`).
fn serial_proc_data() -> Option<u8> {
    if port_in(COM1 + COM_LSR) & COM_LSR_DATA == 0 {
        return None;
    }
    Some(port_in(COM1 + COM_RX))
}

/// Moves whatever the UART has received into the input ring. The IRQ 4 handler calls this.
pub fn serial_intr() {
    if SERIAL_EXISTS.load(Ordering::Relaxed) {
        cons_intr(serial_proc_data);
    }
}

fn serial_putc(c: u8) {
    let mut i = 0;
    while port_in(COM1 + COM_LSR) & COM_LSR_TXRDY == 0 && i < READY_SPINS {
        delay();
        i += 1;
    }
    port_out(COM1 + COM_TX, c);
}

fn serial_init() {
    // Turn off the FIFO.
    port_out(COM1 + COM_FCR, 0);

    // Set the speed; the divisor latch is reachable only with DLAB set.
    port_out(COM1 + COM_LCR, COM_LCR_DLAB);
    port_out(COM1 + COM_DLL, (115_200 / 9600) as u8);
    port_out(COM1 + COM_DLM, 0);

    // 8 data bits, 1 stop bit, parity off; turn off DLAB.
    port_out(COM1 + COM_LCR, COM_LCR_WLEN8 & !COM_LCR_DLAB);

    // No modem controls.
    port_out(COM1 + COM_MCR, 0);
    // Enable receive interrupts. (Lab 4 leaves IRQ 4 masked at the PIC, as JOS does, so input
    // still arrives by polling.)
    port_out(COM1 + COM_IER, COM_IER_RDI);

    // A missing UART floats the bus: its line status reads 0xFF.
    SERIAL_EXISTS.store(port_in(COM1 + COM_LSR) != 0xFF, Ordering::Relaxed);
    // Clear any preexisting overrun indications and interrupts.
    port_in(COM1 + COM_IIR);
    port_in(COM1 + COM_RX);
}

// ---------------------------------------------------------------------------------------------
// Parallel port output (LPT1)

const LPT1: u16 = 0x378;
const LPT_STATUS_NOT_BUSY: u8 = 0x80;
/// Control register values: strobe + init + select, then init + select (strobe released).
const LPT_CTRL_STROBE: u8 = 0x08 | 0x04 | 0x01;
const LPT_CTRL_IDLE: u8 = 0x08;

fn lpt_putc(c: u8) {
    let mut i = 0;
    while port_in(LPT1 + 1) & LPT_STATUS_NOT_BUSY == 0 && i < READY_SPINS {
        delay();
        i += 1;
    }
    port_out(LPT1, c);
    port_out(LPT1 + 2, LPT_CTRL_STROBE);
    port_out(LPT1 + 2, LPT_CTRL_IDLE);
}

// ---------------------------------------------------------------------------------------------
// Text-mode CGA/VGA display output

/// Monochrome adapter: CRTC index port and buffer physical address.
const MONO_BASE: u16 = 0x3B4;
const MONO_BUF: usize = 0xB0000;
/// Colour adapter.
const CGA_BASE: u16 = 0x3D4;
const CGA_BUF: usize = 0xB8000;

const CRT_ROWS: usize = 25;
const CRT_COLS: usize = 80;
const CRT_SIZE: usize = CRT_ROWS * CRT_COLS;

/// CRTC registers holding the cursor position (high byte, low byte).
const CRTC_CURSOR_HI: u8 = 14;
const CRTC_CURSOR_LO: u8 = 15;

/// Light grey on black: the attribute a character without one gets.
const DEFAULT_ATTR: u16 = 0x0700;

/// The text screen.
struct Cga {
    /// Kernel virtual address of the text buffer: `KERNBASE + CGA_BUF` or `KERNBASE + MONO_BUF`,
    /// nothing else (set only by `cga_init`). The low 4 MB are mapped at KERNBASE from the entry
    /// page tables on, so the `CRT_SIZE` cells there are always accessible.
    buf: usize,
    /// The CRTC's index port (its data port is the next one).
    addr_6845: u16,
    /// Cursor position, a cell index; always `< CRT_SIZE` between calls.
    pos: usize,
}

/// `None` until `cons_init` has found the adapter: output before then goes to serial only.
static CGA: Mutex<Option<Cga>, rank::Cga> = Mutex::new(None);

impl Cga {
    /// Volatile access to screen cell `i`, or `None` past the end of the screen.
    fn cell(&self, i: usize) -> Option<VolatilePtr<'_, u16>> {
        if i >= CRT_SIZE {
            return None;
        }
        let ptr = core::ptr::with_exposed_provenance_mut::<u16>(self.buf).wrapping_add(i);
        let ptr = NonNull::new(ptr)?;
        // SAFETY: `buf` is one of the two mapped text buffers (see its field comment) and
        // `i < CRT_SIZE`, so `ptr` is an aligned cell of device memory that Rust never otherwise
        // references; the borrow of `self` (under the CGA lock) serializes all access to it.
        Some(unsafe { VolatilePtr::new(ptr) })
    }

    fn write(&self, i: usize, value: u16) {
        if let Some(cell) = self.cell(i) {
            cell.write(value);
        }
    }

    fn read(&self, i: usize) -> u16 {
        self.cell(i).map_or(0, VolatilePtr::read)
    }

    fn crtc_read(&self, reg: u8) -> u8 {
        port_out(self.addr_6845, reg);
        port_in(self.addr_6845 + 1)
    }

    fn crtc_write(&self, reg: u8, value: u8) {
        port_out(self.addr_6845, reg);
        port_out(self.addr_6845 + 1, value);
    }

    /// Puts one cell value (attribute in the high byte) on the screen, leaving the blinking
    /// cursor where it was (`Output` moves it once, when its run of characters ends: four port
    /// writes per character otherwise). Tab never gets here: `Output::putc` expands it.
    fn put(&mut self, c: u16) {
        // No attribute given: use the default.
        let c = if c & !0xFF == 0 { c | DEFAULT_ATTR } else { c };

        match (c & 0xFF) as u8 {
            BS => {
                if self.pos > 0 {
                    self.pos -= 1;
                    self.write(self.pos, (c & !0xFF) | u16::from(b' '));
                }
            }
            // Newline moves down a row and back to column 0 (CR+LF), as JOS's fall-through.
            b'\n' => {
                self.pos += CRT_COLS;
                self.pos -= self.pos % CRT_COLS;
            }
            b'\r' => self.pos -= self.pos % CRT_COLS,
            _ => {
                self.write(self.pos, c);
                self.pos += 1;
            }
        }

        // Past the bottom: scroll everything up a row and blank the last row. One block move,
        // as JOS's memmove (`rep movsl`: about 960 instructions), not 1,920 checked cell
        // copies (about 23,600 instructions for every line printed once the screen is full).
        while self.pos >= CRT_SIZE {
            let base = core::ptr::with_exposed_provenance_mut::<u16>(self.buf);
            // SAFETY: `buf` is one of the two mapped text buffers (see its field comment),
            // CRT_SIZE cells long, which Rust never otherwise references; the CGA lock
            // serializes access. Both ranges lie inside it.
            unsafe { core::ptr::copy(base.add(CRT_COLS), base, CRT_SIZE - CRT_COLS) };
            for i in CRT_SIZE - CRT_COLS..CRT_SIZE {
                self.write(i, DEFAULT_ATTR | u16::from(b' '));
            }
            self.pos -= CRT_COLS;
        }
    }

    /// Move the blinking hardware cursor to the current position.
    fn move_cursor(&self) {
        let [lo, hi] = (self.pos as u16).to_le_bytes();
        self.crtc_write(CRTC_CURSOR_HI, hi);
        self.crtc_write(CRTC_CURSOR_LO, lo);
    }
}

fn cga_init() {
    // Probe for a colour adapter: its buffer is memory and keeps what is written to it.
    let mut cga = Cga {
        buf: KERNBASE as usize + CGA_BUF,
        addr_6845: CGA_BASE,
        pos: 0,
    };
    let was = cga.read(0);
    cga.write(0, 0xA55A);
    if cga.read(0) == 0xA55A {
        cga.write(0, was);
    } else {
        cga.buf = KERNBASE as usize + MONO_BUF;
        cga.addr_6845 = MONO_BASE;
    }

    // Continue where the BIOS left the cursor. A cursor hidden off-screen (or garbage) would
    // index past the buffer: start on the last row instead.
    let pos = usize::from(cga.crtc_read(CRTC_CURSOR_HI)) << 8
        | usize::from(cga.crtc_read(CRTC_CURSOR_LO));
    cga.pos = if pos < CRT_SIZE {
        pos
    } else {
        CRT_SIZE - CRT_COLS
    };

    *CGA.lock() = Some(cga);
}

// ---------------------------------------------------------------------------------------------
// PS/2 keyboard (8042 controller)

/// Keyboard controller status port and its bits.
const KBSTATP: u16 = 0x64;
const KBS_DIB: u8 = 0x01; // keyboard data in buffer
const KBS_TERR: u8 = 0x20; // the byte comes from the auxiliary device (mouse)
/// Keyboard data port.
const KBDATAP: u16 = 0x60;

/// System control port A; writing bit 0 pulses the CPU reset line (bit 1 keeps A20 on).
const SYSCTRL_PORT_A: u16 = 0x92;

// Special keys, as delivered to readers of the console (inc/kbdreg.h).
pub const KEY_HOME: u8 = 0xE0;
pub const KEY_END: u8 = 0xE1;
pub const KEY_UP: u8 = 0xE2;
pub const KEY_DN: u8 = 0xE3;
pub const KEY_LF: u8 = 0xE4;
pub const KEY_RT: u8 = 0xE5;
pub const KEY_PGUP: u8 = 0xE6;
pub const KEY_PGDN: u8 = 0xE7;
pub const KEY_INS: u8 = 0xE8;
pub const KEY_DEL: u8 = 0xE9;

bitflags! {
    /// Modifier and lock state, updated by every scan code.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Shift: u8 {
        const SHIFT = 1 << 0;
        const CTL = 1 << 1;
        const ALT = 1 << 2;
        const CAPSLOCK = 1 << 3;
        const NUMLOCK = 1 << 4;
        const SCROLLLOCK = 1 << 5;
        /// The previous byte was the 0xE0 escape prefix.
        const E0ESC = 1 << 6;
    }
}

/// A table entry for "no character".
const NO: u8 = 0;
/// Backspace (C's '\b').
const BS: u8 = 0x08;

/// The control character for `x` (e.g. `c(b'C')` = 3). Like JOS's `C(x)`, characters below
/// '@' wrap around (`c(b'/')` = 0xEF).
const fn c(x: u8) -> u8 {
    x.wrapping_sub(b'@')
}

/// Builds a 256-entry table from its dense start and sparse `(index, value)` entries (C's
/// designated initializers).
const fn table<T: Copy>(empty: T, dense: &[T], sparse: &[(u8, T)]) -> [T; 256] {
    let mut t = [empty; 256];
    let mut i = 0;
    while i < dense.len() {
        t[i] = dense[i];
        i += 1;
    }
    let mut j = 0;
    while j < sparse.len() {
        t[sparse[j].0 as usize] = sparse[j].1;
        j += 1;
    }
    t
}

/// Scan codes that change a modifier while held (0x9D and 0xB8 are the E0-prefixed right
/// Ctrl and right Alt, which the decoder sees with the high bit set).
static SHIFTCODE: [Shift; 256] = table(
    Shift::empty(),
    &[],
    &[
        (0x1D, Shift::CTL),
        (0x2A, Shift::SHIFT),
        (0x36, Shift::SHIFT),
        (0x38, Shift::ALT),
        (0x9D, Shift::CTL),
        (0xB8, Shift::ALT),
    ],
);

/// Scan codes that toggle a lock on each press.
static TOGGLECODE: [Shift; 256] = table(
    Shift::empty(),
    &[],
    &[
        (0x3A, Shift::CAPSLOCK),
        (0x45, Shift::NUMLOCK),
        (0x46, Shift::SCROLLLOCK),
    ],
);

/// The E0-prefixed navigation keys, the same in every map.
const NAV_KEYS: [(u8, u8); 10] = [
    (0xC7, KEY_HOME),
    (0xC8, KEY_UP),
    (0xC9, KEY_PGUP),
    (0xCB, KEY_LF),
    (0xCD, KEY_RT),
    (0xCF, KEY_END),
    (0xD0, KEY_DN),
    (0xD1, KEY_PGDN),
    (0xD2, KEY_INS),
    (0xD3, KEY_DEL),
];

/// `NAV_KEYS` plus the E0-prefixed keypad Enter and keypad '/'.
const NAV_AND_KEYPAD: [(u8, u8); 12] = {
    let mut t = [(0, 0); 12];
    let mut i = 0;
    while i < NAV_KEYS.len() {
        t[i] = NAV_KEYS[i];
        i += 1;
    }
    t[10] = (0x9C, b'\n'); // keypad Enter
    t[11] = (0xB5, b'/'); // keypad '/'
    t
};

/// `NAV_KEYS` plus Ctrl-keypad-'/'. (JOS's ctlmap lists Home at 0x97, a typo for 0xC7 that
/// made Ctrl-Home dead; here it is at 0xC7 like the other maps.)
const CTL_NAV: [(u8, u8); 11] = {
    let mut t = [(0, 0); 11];
    let mut i = 0;
    while i < NAV_KEYS.len() {
        t[i] = NAV_KEYS[i];
        i += 1;
    }
    t[10] = (0xB5, c(b'/'));
    t
};

#[rustfmt::skip]
static NORMALMAP: [u8; 256] = table(NO, &[
    NO,    0x1B,  b'1',  b'2',  b'3',  b'4',  b'5',  b'6',  // 0x00
    b'7',  b'8',  b'9',  b'0',  b'-',  b'=',  BS,    b'\t',
    b'q',  b'w',  b'e',  b'r',  b't',  b'y',  b'u',  b'i',  // 0x10
    b'o',  b'p',  b'[',  b']',  b'\n', NO,    b'a',  b's',
    b'd',  b'f',  b'g',  b'h',  b'j',  b'k',  b'l',  b';',  // 0x20
    b'\'', b'`',  NO,    b'\\', b'z',  b'x',  b'c',  b'v',
    b'b',  b'n',  b'm',  b',',  b'.',  b'/',  NO,    b'*',  // 0x30
    NO,    b' ',  NO,    NO,    NO,    NO,    NO,    NO,
    NO,    NO,    NO,    NO,    NO,    NO,    NO,    b'7',  // 0x40
    b'8',  b'9',  b'-',  b'4',  b'5',  b'6',  b'+',  b'1',
    b'2',  b'3',  b'0',  b'.',  NO,    NO,    NO,    NO,    // 0x50
], &NAV_AND_KEYPAD);

#[rustfmt::skip]
static SHIFTMAP: [u8; 256] = table(NO, &[
    NO,    0x1B,  b'!',  b'@',  b'#',  b'$',  b'%',  b'^',  // 0x00
    b'&',  b'*',  b'(',  b')',  b'_',  b'+',  BS,    b'\t',
    b'Q',  b'W',  b'E',  b'R',  b'T',  b'Y',  b'U',  b'I',  // 0x10
    b'O',  b'P',  b'{',  b'}',  b'\n', NO,    b'A',  b'S',
    b'D',  b'F',  b'G',  b'H',  b'J',  b'K',  b'L',  b':',  // 0x20
    b'"',  b'~',  NO,    b'|',  b'Z',  b'X',  b'C',  b'V',
    b'B',  b'N',  b'M',  b'<',  b'>',  b'?',  NO,    b'*',  // 0x30
    NO,    b' ',  NO,    NO,    NO,    NO,    NO,    NO,
    NO,    NO,    NO,    NO,    NO,    NO,    NO,    b'7',  // 0x40
    b'8',  b'9',  b'-',  b'4',  b'5',  b'6',  b'+',  b'1',
    b'2',  b'3',  b'0',  b'.',  NO,    NO,    NO,    NO,    // 0x50
], &NAV_AND_KEYPAD);

#[rustfmt::skip]
static CTLMAP: [u8; 256] = table(NO, &[
    NO,      NO,      NO,      NO,      NO,      NO,      NO,      NO,
    NO,      NO,      NO,      NO,      NO,      NO,      NO,      NO,
    c(b'Q'), c(b'W'), c(b'E'), c(b'R'), c(b'T'), c(b'Y'), c(b'U'), c(b'I'),
    c(b'O'), c(b'P'), NO,      NO,      b'\r',   NO,      c(b'A'), c(b'S'),
    c(b'D'), c(b'F'), c(b'G'), c(b'H'), c(b'J'), c(b'K'), c(b'L'), NO,
    NO,      NO,      NO,      c(b'\\'), c(b'Z'), c(b'X'), c(b'C'), c(b'V'),
    c(b'B'), c(b'N'), c(b'M'), NO,      NO,      c(b'/'), NO,      NO,
], &CTL_NAV);

/// Character maps indexed by the (CTL | SHIFT) bits: Ctrl wins over Shift.
static CHARCODE: [&[u8; 256]; 4] = [&NORMALMAP, &SHIFTMAP, &CTLMAP, &CTLMAP];

/// The keyboard's modifier state. Held across a whole `kbd_intr` drain so that reading the
/// controller and decoding its bytes happen in order even if two CPUs poll at once.
static KBD: Mutex<Shift, rank::Kbd> = Mutex::new(Shift::empty());

/// Decodes one byte from the keyboard controller (JOS's `kbd_proc_data`): `None` when there is
/// no data, `Some(0)` for a byte that completes no character (prefix, release, modifier),
/// otherwise the character.
fn kbd_proc_data(shift: &mut Shift) -> Option<u8> {
    let stat = port_in(KBSTATP);
    if stat & KBS_DIB == 0 {
        return None;
    }
    // Ignore data from the mouse.
    if stat & KBS_TERR != 0 {
        return None;
    }

    let mut data = port_in(KBDATAP);

    if data == 0xE0 {
        // E0 escape: the next byte is an extended key.
        shift.insert(Shift::E0ESC);
        return Some(0);
    } else if data & 0x80 != 0 {
        // Key released. Extended releases keep the high bit, matching their table entries.
        if !shift.contains(Shift::E0ESC) {
            data &= 0x7F;
        }
        shift.remove(SHIFTCODE[usize::from(data)] | Shift::E0ESC);
        return Some(0);
    } else if shift.contains(Shift::E0ESC) {
        // The previous byte was an E0 escape: extended keys live at code | 0x80.
        data |= 0x80;
        shift.remove(Shift::E0ESC);
    }

    shift.insert(SHIFTCODE[usize::from(data)]);
    shift.toggle(TOGGLECODE[usize::from(data)]);

    let map = CHARCODE[usize::from((*shift & (Shift::CTL | Shift::SHIFT)).bits())];
    let mut ch = map[usize::from(data)];
    if shift.contains(Shift::CAPSLOCK) {
        if ch.is_ascii_lowercase() {
            ch = ch.to_ascii_uppercase();
        } else if ch.is_ascii_uppercase() {
            ch = ch.to_ascii_lowercase();
        }
    }

    // Ctrl-Alt-Del: reboot.
    if shift.contains(Shift::CTL | Shift::ALT) && ch == KEY_DEL {
        crate::cprintf!("Rebooting!\n");
        port_out(SYSCTRL_PORT_A, 0x3);
    }

    Some(ch)
}

/// Moves whatever the keyboard controller holds into the input ring. The IRQ 1 handler calls
/// this.
pub fn kbd_intr() {
    let mut shift = KBD.lock();
    cons_intr(|| kbd_proc_data(&mut shift));
}

fn kbd_init() {
    // Drain the controller's buffer: QEMU raises no new keyboard interrupt while a byte is
    // still pending.
    kbd_intr();
    crate::picirq::irq_setmask_8259a(crate::picirq::irq_mask_8259a() & !(1 << IRQ_KBD));
}

// ---------------------------------------------------------------------------------------------
// Device-independent console code

const CONSBUFSIZE: usize = 512;

/// Characters received from the keyboard and serial port, not yet read. When full, new input
/// overwrites the oldest unread (JOS does not check).
struct InputRing {
    buf: [u8; CONSBUFSIZE],
    rpos: usize,
    wpos: usize,
}

static INPUT: Mutex<InputRing, rank::Input> = Mutex::new(InputRing {
    buf: [0; CONSBUFSIZE],
    rpos: 0,
    wpos: 0,
});

/// Drains a device: calls `proc` until it reports no data, stashing each nonzero character
/// in the input ring.
fn cons_intr(mut proc: impl FnMut() -> Option<u8>) {
    while let Some(ch) = proc() {
        if ch == 0 {
            continue;
        }
        let mut input = INPUT.lock();
        let w = input.wpos;
        input.buf[w] = ch;
        input.wpos = (w + 1) % CONSBUFSIZE;
    }
}

/// The next input character, or `None` if none is waiting. Polls the devices first, so this
/// works with interrupts disabled (the kernel monitor runs that way).
pub fn cons_getc() -> Option<u8> {
    serial_intr();
    kbd_intr();

    let mut input = INPUT.lock();
    if input.rpos == input.wpos {
        return None;
    }
    let r = input.rpos;
    input.rpos = (r + 1) % CONSBUFSIZE;
    Some(input.buf[r])
}

/// Outputs one cell value (a character, optionally with a CGA attribute in the high byte).
fn cons_putc(c: u16) {
    Output::new().putc(c);
}

/// The console devices held for a run of characters: the screen's lock is taken once and the
/// screen's cursor moved once, when the run ends (a print of a line used to take the lock and
/// write the cursor's four CRTC registers for every character). printf's prints are runs.
pub struct Output<'a> {
    cga: MutexGuard<'a, Option<Cga>, rank::Cga>,
}

impl Output<'_> {
    pub fn new() -> Self {
        Output { cga: CGA.lock() }
    }

    /// Print raw bytes (a user's `sys_cputs` buffer: not necessarily UTF-8).
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|&b| self.putc(u16::from(b)));
    }

    // Private, so that it stays internal to this module's code (LLVM then passes its arguments
    // in registers: it is called once per character printed).
    fn putc(&mut self, c: u16) {
        let [ch, _attr] = c.to_le_bytes();
        serial_putc(ch);
        lpt_putc(ch);
        if ch == b'\t' {
            // JOS expands a tab into five spaces through the whole console, so serial and the
            // parallel port see the tab followed by the spaces.
            for _ in 0..5 {
                self.putc(u16::from(b' '));
            }
        } else if let Some(cga) = self.cga.as_mut() {
            cga.put(c);
        }
    }
}

impl Drop for Output<'_> {
    fn drop(&mut self) {
        if let Some(cga) = self.cga.as_ref() {
            cga.move_cursor();
        }
    }
}

/// Initializes the console devices.
pub fn cons_init() {
    cga_init();
    kbd_init();
    serial_init();

    if !SERIAL_EXISTS.load(Ordering::Relaxed) {
        crate::cprintf!("Serial port does not exist!\n");
    }
}

// ---------------------------------------------------------------------------------------------
// The kernel's interface (JOS's `cputchar`, `getchar` and what `cprintf` builds on)

/// Writes one character to every console device.
pub fn cputchar(c: u8) {
    cons_putc(u16::from(c));
}

/// Waits for and returns the next input character.
pub fn getchar() -> u8 {
    loop {
        if let Some(c) = cons_getc() {
            return c;
        }
        core::hint::spin_loop();
    }
}

impl fmt::Write for Output<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        s.bytes().for_each(|b| self.putc(u16::from(b)));
        Ok(())
    }
}
