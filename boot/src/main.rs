//! The boot loader: loads the kernel ELF image from the first IDE disk, starting at sector 1,
//! to its physical addresses, and jumps to its entry point (JOS's boot/main.c).
//!
//! It must fit in the 510 bytes of the boot sector, so it avoids anything that would pull in
//! code from `core` (slices, bounds checks, panics): every ELF field is a volatile read at a
//! fixed address.
#![no_std]
#![no_main]

use core::arch::{asm, global_asm};
use core::ptr::read_volatile;

use jos_inc::elf::{ELF_MAGIC, ELF_PROG_LOAD};

global_asm!(include_str!("boot.S"), options(att_syntax));

const SECTSIZE: u32 = 512;
/// Scratch space for the ELF header and program headers.
const ELFHDR: u32 = 0x10000;

// Port I/O and the IDE registers by hand, not through the x86 crate (or bit_field for the
// LBA fields): dependencies are compiled at the workspace's opt-level, not this crate's "z",
// so their functions would be out-of-line calls that do not fit in the sector's 510 bytes.
// (From inc only constants, which cost nothing.)
fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: reading an IDE status port has no memory effects.
    unsafe {
        asm!("inb %dx, %al", in("dx") port, out("al") v, options(att_syntax, nomem, nostack))
    };
    v
}

fn outb(port: u16, v: u8) {
    // SAFETY: programming the IDE controller's task-file registers.
    unsafe {
        asm!("outb %al, %dx", in("dx") port, in("al") v, options(att_syntax, nomem, nostack))
    };
}

fn waitdisk() {
    // Wait for the disk to be ready (BSY clear, DRDY set).
    while inb(0x1F7) & 0xC0 != 0x40 {}
}

/// Read sector `offset` into `dst` (512 bytes).
fn readsect(dst: u32, offset: u32) {
    waitdisk();
    outb(0x1F2, 1); // count = 1
    outb(0x1F3, offset as u8);
    outb(0x1F4, (offset >> 8) as u8);
    outb(0x1F5, (offset >> 16) as u8);
    outb(0x1F6, ((offset >> 24) as u8) | 0xE0);
    outb(0x1F7, 0x20); // cmd 0x20 - read sectors
    waitdisk();
    // SAFETY: `dst` is a 512-byte region of low memory the loader owns (the ELF scratch
    // area or a kernel segment's physical destination).
    unsafe {
        asm!("cld; rep insl", in("dx") 0x1F0u16, inout("edi") dst => _, inout("ecx") SECTSIZE / 4 => _,
             options(att_syntax, nostack));
    }
}

/// Read `count` bytes at `offset` from the kernel into physical address `pa`. Might copy
/// more than asked: whole sectors are read.
fn readseg(pa: u32, count: u32, offset: u32) {
    let end = pa + count;
    // Round down to a sector boundary.
    let mut pa = pa - offset % SECTSIZE;
    // Translate from bytes to sectors; the kernel starts at sector 1.
    let mut sect = offset / SECTSIZE + 1;
    while pa < end {
        readsect(pa, sect);
        pa += SECTSIZE;
        sect += 1;
    }
}

fn rd(addr: u32) -> u32 {
    // SAFETY: `addr` lies in the ELF header page just read to ELFHDR.
    unsafe { read_volatile(addr as *const u32) }
}

#[unsafe(no_mangle)]
extern "C" fn bootmain() {
    // Read the first page off disk: the ELF header and program headers.
    readseg(ELFHDR, SECTSIZE * 8, 0);
    if rd(ELFHDR) != ELF_MAGIC {
        return;
    }
    let phoff = rd(ELFHDR + 28);
    let phnum = rd(ELFHDR + 44) & 0xFFFF;
    let mut ph = ELFHDR + phoff;
    let eph = ph + phnum * 32;
    while ph < eph {
        // p_type, p_offset, p_va, p_pa, p_filesz, p_memsz: load p_memsz bytes at p_pa (the
        // image is padded, so reading past the file part is harmless; the kernel zeroes bss).
        if rd(ph) == ELF_PROG_LOAD {
            readseg(rd(ph + 12), rd(ph + 20), rd(ph + 4));
        }
        ph += 32;
    }
    // Call the entry point from the ELF header. Does not return.
    let entry = rd(ELFHDR + 24);
    // SAFETY: the kernel's entry point, just loaded.
    unsafe { asm!("jmp *{}", in(reg) entry, options(att_syntax, noreturn)) };
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
