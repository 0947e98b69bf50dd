//! faultalloc (JOS's user/faultalloc.c): a page-fault handler that allocates the missing page
//! and writes a message into it, so reading a string from unmapped memory prints
//! `this string was faulted in at <va>`. The second string starts two bytes before a page
//! boundary, so the handler itself faults on the next page: handlers must nest.
#![no_std]
#![no_main]

use core::fmt::{self, Write};

use jos_lib::inc::mmu::{PGSIZE, round_down};
use jos_lib::{Pte, UTrapframe, print, println, set_pgfault_handler, sys_page_alloc};

jos_lib::entry!(umain);

/// `snprintf` into raw memory, byte by byte with volatile stores: a store may fault and
/// the nested handler writes the same bytes, so no Rust reference may cover them.
struct RawWriter {
    at: *mut u8,
    room: usize,
}

impl Write for RawWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            // Keep one byte for the terminating NUL, as snprintf does.
            if self.room <= 1 {
                break;
            }
            // SAFETY: the handler only writes where a fault has just mapped (or is about to
            // map) the page; see handler.
            unsafe {
                self.at.write_volatile(b);
                self.at = self.at.add(1);
            }
            self.room -= 1;
        }
        Ok(())
    }
}

fn handler(utf: &mut UTrapframe) {
    let addr = utf.utf_fault_va;
    println!("fault {:x}", addr);
    // SAFETY: the faulting page was unmapped; nothing in Rust refers to it.
    if let Err(e) = unsafe { sys_page_alloc(0, round_down(addr, PGSIZE), Pte::P | Pte::U | Pte::W) }
    {
        panic!("allocating at {:x} in page fault handler: {}", addr, e);
    }
    let mut w = RawWriter {
        at: addr as *mut u8,
        room: 100,
    };
    let _ = write!(w, "this string was faulted in at {:x}", addr);
    // SAFETY: at most 99 bytes were written, so this is within the 100 the writer covers;
    // those pages are mapped (by us or by the nested fault).
    unsafe { w.at.write_volatile(0) };
}

/// Displays the NUL-terminated string at an address, read byte by byte with volatile loads
/// (the first load faults, and the handler writes the string while we wait).
struct CStrAt(u32);

impl fmt::Display for CStrAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut p = self.0 as *const u8;
        loop {
            // SAFETY: every byte read is either mapped or mapped by the handler on the fault.
            let b = unsafe { p.read_volatile() };
            if b == 0 {
                return Ok(());
            }
            f.write_char(b as char)?;
            // SAFETY: stays within the string the handler wrote.
            p = unsafe { p.add(1) };
        }
    }
}

fn umain() {
    set_pgfault_handler(handler);
    print!("{}\n", CStrAt(0xdeadbeef));
    print!("{}\n", CStrAt(0xcafebffe));
}
