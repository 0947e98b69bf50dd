//! faultregs (JOS's user/faultregs.c): checks that a page fault handled in user space leaves
//! every register as it was. Known values go into all registers and EFLAGS, a store to UTEMP
//! faults, the handler compares the trap-time state in the UTrapframe with them and maps
//! UTEMP, and after the store completes the registers are compared again. Prints a table
//! per check and `Registers in UTrapframe OK` / `Registers after page-fault OK`.
#![no_std]
#![no_main]

use core::arch::asm;
use core::cell::UnsafeCell;
use core::mem::offset_of;
use core::ptr::read_volatile;

use jos_lib::inc::memlayout::UTEMP;
use jos_lib::inc::trap::PushRegs;
use jos_lib::{Pte, UTrapframe, println, set_pgfault_handler, sys_page_alloc};

jos_lib::entry!(umain);

/// EFLAGS' resume flag: set in the frame of a fault, not meaningful to compare.
const FL_RF: u32 = 0x0001_0000;

/// A register snapshot. The asm below addresses the fields by these offsets.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Regs {
    regs: PushRegs,
    eip: u32,
    eflags: u32,
    esp: u32,
}

const _: () = {
    assert!(offset_of!(Regs, eip) == 0x20);
    assert!(offset_of!(Regs, eflags) == 0x24);
    assert!(offset_of!(Regs, esp) == 0x28);
};

/// A snapshot the asm (and the handler) write and `umain` reads afterwards.
struct Snapshot(UnsafeCell<Regs>);
// SAFETY: single-threaded environment; the handler and the asm run strictly before the
// reads in umain.
unsafe impl Sync for Snapshot {}
impl Snapshot {
    const fn new() -> Self {
        Snapshot(UnsafeCell::new(Regs {
            regs: PushRegs {
                reg_edi: 0,
                reg_esi: 0,
                reg_ebp: 0,
                reg_oesp: 0,
                reg_ebx: 0,
                reg_edx: 0,
                reg_ecx: 0,
                reg_eax: 0,
            },
            eip: 0,
            eflags: 0,
            esp: 0,
        }))
    }
    fn get(&self) -> Regs {
        // SAFETY: valid static; volatile because asm wrote it through a symbol reference.
        unsafe { read_volatile(self.0.get()) }
    }
    fn set(&self, r: Regs) {
        // SAFETY: valid static, no reference to its contents is live.
        unsafe { self.0.get().write_volatile(r) }
    }
}

static BEFORE: Snapshot = Snapshot::new();
static DURING: Snapshot = Snapshot::new();
static AFTER: Snapshot = Snapshot::new();

/// Print the comparison table of `a` and `b`, then the verdict line for `testname`.
fn check_regs(a: &Regs, an: &str, b: &Regs, bn: &str, testname: &str) {
    let rows: [(&str, u32, u32); 10] = [
        ("edi", a.regs.reg_edi, b.regs.reg_edi),
        ("esi", a.regs.reg_esi, b.regs.reg_esi),
        ("ebp", a.regs.reg_ebp, b.regs.reg_ebp),
        ("ebx", a.regs.reg_ebx, b.regs.reg_ebx),
        ("edx", a.regs.reg_edx, b.regs.reg_edx),
        ("ecx", a.regs.reg_ecx, b.regs.reg_ecx),
        ("eax", a.regs.reg_eax, b.regs.reg_eax),
        ("eip", a.eip, b.eip),
        ("eflags", a.eflags, b.eflags),
        ("esp", a.esp, b.esp),
    ];
    println!("{:<6} {:<8} {:<8}", "", an, bn);
    let mut mismatch = false;
    for (name, x, y) in rows {
        let verdict = if x == y { "OK" } else { "MISMATCH" };
        mismatch |= x != y;
        println!("{:<6} {:08x} {:08x} {}", name, x, y, verdict);
    }
    println!(
        "Registers {} {}",
        testname,
        if mismatch { "MISMATCH" } else { "OK" }
    );
}

fn pgfault(utf: &mut UTrapframe) {
    let va = utf.utf_fault_va;
    if va != UTEMP {
        let eip = utf.utf_eip;
        panic!(
            "pgfault expected at UTEMP, got 0x{:08x} (eip {:08x})",
            va, eip
        );
    }

    // Check registers in UTrapframe.
    let during = Regs {
        regs: utf.utf_regs,
        eip: utf.utf_eip,
        eflags: utf.utf_eflags & !FL_RF,
        esp: utf.utf_esp,
    };
    DURING.set(during);
    check_regs(&BEFORE.get(), "before", &during, "during", "in UTrapframe");

    // Map UTEMP so the write succeeds.
    // SAFETY: UTEMP is not used by any Rust object.
    if let Err(e) = unsafe { sys_page_alloc(0, UTEMP, Pte::P | Pte::U | Pte::W) } {
        panic!("sys_page_alloc: {}", e);
    }
}

fn umain() {
    set_pgfault_handler(pgfault);

    // SAFETY: the block writes only the BEFORE and AFTER statics and UTEMP (mapped by the
    // handler), and leaves every register as it found it: the general registers and ESP
    // are reloaded from BEFORE, which holds their values at entry; only EFLAGS changes
    // (not preserved: no `preserves_flags`).
    unsafe {
        asm!(
            // Light up EFLAGS (OF, SF, ZF, AF, PF) to catch more errors.
            "pushl %eax",
            "pushfl",
            "popl %eax",
            "orl $0x8d4, %eax",
            "pushl %eax",
            "popfl",
            // Save the "before" registers. From here to the fault only `mov`, `lea` and
            // `pop` run, none of which touches EFLAGS.
            "movl %eax, {b}+0x24",    // eflags
            "leal 3f, %eax",
            "movl %eax, {b}+0x20",    // eip
            "popl %eax",
            "movl %edi, {b}+0x00",
            "movl %esi, {b}+0x04",
            "movl %ebp, {b}+0x08",
            "movl %ebx, {b}+0x10",
            "movl %edx, {b}+0x14",
            "movl %ecx, {b}+0x18",
            "movl %eax, {b}+0x1c",
            "movl %esp, {b}+0x28",
            // Fault at UTEMP.
            "3: movl $42, {utemp}",
            // Save the "after" registers (except EIP and EFLAGS).
            "movl %edi, {a}+0x00",
            "movl %esi, {a}+0x04",
            "movl %ebp, {a}+0x08",
            "movl %ebx, {a}+0x10",
            "movl %edx, {a}+0x14",
            "movl %ecx, {a}+0x18",
            "movl %eax, {a}+0x1c",
            "movl %esp, {a}+0x28",
            // Restore the registers (except EIP and EFLAGS) from "before", so the program
            // goes on even if EIP was the only thing the upcall restored.
            "movl {b}+0x00, %edi",
            "movl {b}+0x04, %esi",
            "movl {b}+0x08, %ebp",
            "movl {b}+0x10, %ebx",
            "movl {b}+0x14, %edx",
            "movl {b}+0x18, %ecx",
            "movl {b}+0x1c, %eax",
            "movl {b}+0x28, %esp",
            // Save the "after" EFLAGS, now that the stack is back. Nothing since the
            // fault has changed the flags.
            "pushl %eax",
            "pushfl",
            "popl %eax",
            "movl %eax, {a}+0x24",
            "popl %eax",
            b = sym BEFORE,
            a = sym AFTER,
            utemp = const UTEMP,
            options(att_syntax),
        );
    }

    // Check UTEMP to roughly determine that EIP was restored correctly (of course, we
    // probably wouldn't get this far if it weren't).
    // SAFETY: the handler mapped UTEMP (or we would not be here).
    if unsafe { read_volatile(UTEMP as *const i32) } != 42 {
        println!("EIP after page-fault MISMATCH");
    }
    let before = BEFORE.get();
    let mut after = AFTER.get();
    after.eip = before.eip;

    check_regs(&before, "before", &after, "after", "after page-fault");
}
