//! The two cascaded Intel 8259A programmable interrupt controllers: JOS's kern/picirq.c and
//! kern/picirq.h (`pic_init`, `irq_setmask_8259A`, `irq_mask_8259A`).
//!
//! The BIOS leaves the master PIC delivering IRQs 0-7 on vectors 8-15, which collide with CPU
//! exceptions; `pic_init` remaps IRQs 0-15 to vectors `IRQ_OFFSET`..`IRQ_OFFSET + 15` (32-47).
//! In JOS lab 4 the per-CPU LAPIC timer drives scheduling, and the PICs deliver only the
//! keyboard (IRQ 1) through the cascade line (IRQ 2), so the boot prints
//! `enabled interrupts: 1 2`.

use core::fmt;

use jos_inc::trap::IRQ_OFFSET;
use x86::io::outb;

use crate::spinlock::{Mutex, rank};

/// Number of IRQs the two PICs provide.
pub const MAX_IRQS: u32 = 16;

/// I/O address of the master 8259A (command port; the data/mask port is +1).
const IO_PIC1: u16 = 0x20;
/// I/O address of the slave 8259A.
const IO_PIC2: u16 = 0xA0;

/// The master's IRQ line the slave is connected to.
pub const IRQ_SLAVE: u32 = 2;

/// The vectors of the master's IRQ 0 and the slave's (IRQ 8): ICW2 takes a byte.
const MASTER_VECTOR_BASE: u8 = IRQ_OFFSET as u8;
const SLAVE_VECTOR_BASE: u8 = (IRQ_OFFSET + 8) as u8;
const _: () = assert!(IRQ_OFFSET + MAX_IRQS <= 256 && IRQ_OFFSET.is_multiple_of(8));

/// The IRQ mask (bit set = masked) and whether the PICs have been programmed yet.
struct PicState {
    mask: u16,
    didinit: bool,
}

/// Drivers may set the mask before `pic_init` (the console unmasks the keyboard first thing);
/// JOS then only records it and `pic_init` programs it. Initially only the cascade is enabled.
static PIC: Mutex<PicState, rank::Pic> = Mutex::new(PicState {
    mask: !(1 << IRQ_SLAVE),
    didinit: false,
});

/// Writes one byte to a PIC register.
fn pic_out(port: u16, value: u8) {
    // SAFETY: callers pass only the PICs' own ports (0x20/0x21/0xA0/0xA1); programming the PICs
    // changes which interrupt vectors fire, not any memory, and the IDT has gates for 32-47.
    unsafe { outb(port, value) }
}

/// Initializes the 8259A interrupt controllers.
pub fn pic_init() {
    let mut pic = PIC.lock();
    pic.didinit = true;

    // Mask all interrupts while reprogramming.
    pic_out(IO_PIC1 + 1, 0xFF);
    pic_out(IO_PIC2 + 1, 0xFF);

    // Set up the master (8259A-1).

    // ICW1: 0001g0hi
    //    g: 0 = edge triggering, 1 = level triggering
    //    h: 0 = cascaded PICs, 1 = master only
    //    i: 0 = no ICW4, 1 = ICW4 required
    pic_out(IO_PIC1, 0x11);

    // ICW2: vector offset.
    pic_out(IO_PIC1 + 1, MASTER_VECTOR_BASE);

    // ICW3: (master) bit mask of the IR lines connected to slave PICs.
    pic_out(IO_PIC1 + 1, 1 << IRQ_SLAVE);

    // ICW4: 000nbmap
    //    n: 1 = special fully nested mode
    //    b: 1 = buffered mode
    //    m: 0 = slave PIC, 1 = master PIC (ignored when b is 0, as the master/slave role can
    //       be hardwired)
    //    a: 1 = automatic EOI mode
    //    p: 0 = MCS-80/85 mode, 1 = intel x86 mode
    pic_out(IO_PIC1 + 1, 0x3);

    // Set up the slave (8259A-2).
    pic_out(IO_PIC2, 0x11); // ICW1
    pic_out(IO_PIC2 + 1, SLAVE_VECTOR_BASE); // ICW2
    pic_out(IO_PIC2 + 1, IRQ_SLAVE as u8); // ICW3: (slave) the master's IR line it is on
    // Automatic EOI mode does not tend to work on the slave (Linux: "to be investigated"), so
    // the slave uses normal EOI.
    pic_out(IO_PIC2 + 1, 0x01); // ICW4

    // OCW3: 0ef01prs
    //   ef: 0x = NOP, 10 = clear specific mask, 11 = set specific mask
    //    p: 0 = no polling, 1 = polling mode
    //   rs: 0x = NOP, 10 = read IRR, 11 = read ISR
    pic_out(IO_PIC1, 0x68); // clear specific mask
    pic_out(IO_PIC1, 0x0a); // read IRR by default

    pic_out(IO_PIC2, 0x68); // OCW3
    pic_out(IO_PIC2, 0x0a); // OCW3

    if pic.mask != 0xFFFF {
        let mask = pic.mask;
        set_mask_locked(&mut pic, mask);
    }
}

/// Sets the IRQ mask (bit i set = IRQ i masked). Before `pic_init` this only records it;
/// afterwards it programs both PICs and prints the enabled IRQs, as JOS does.
pub fn irq_setmask_8259a(mask: u16) {
    let mut pic = PIC.lock();
    set_mask_locked(&mut pic, mask);
}

/// The current IRQ mask.
pub fn irq_mask_8259a() -> u16 {
    PIC.lock().mask
}

fn set_mask_locked(pic: &mut PicState, mask: u16) {
    pic.mask = mask;
    if !pic.didinit {
        return;
    }
    let [lo, hi] = mask.to_le_bytes();
    pic_out(IO_PIC1 + 1, lo);
    pic_out(IO_PIC2 + 1, hi);
    // One print call, so the line cannot interleave with another CPU's output.
    crate::cprintf!("enabled interrupts:{}\n", EnabledIrqs(mask));
}

/// Formats as JOS does: ` %d` for each IRQ whose mask bit is clear.
struct EnabledIrqs(u16);

impl fmt::Display for EnabledIrqs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for irq in 0..MAX_IRQS {
            if self.0 & (1 << irq) == 0 {
                write!(f, " {irq}")?;
            }
        }
        Ok(())
    }
}
