//! The AP trampoline (JOS's kern/mpentry.S: `mpentry_start`..`mpentry_end`, its GDT, and
//! `mpentry_kstack`), copied to MPENTRY_PADDR (0x7000) by boot_aps.
//!
//! An AP starts in real mode at CS:IP = 0x0700:0000 (the STARTUP IPI's vector). The code is
//! linked at a high address but runs at 0x7000, so every absolute address inside it goes
//! through MPBOOTPHYS: `sym - mpentry_start + MPENTRY_PADDR`. It loads a flat GDT, enters
//! protected mode, turns on paging with entry_pgdir, switches to the stack boot_aps chose
//! (`mpentry_kstack`) and calls `mp_main`.

use core::arch::global_asm;
use core::sync::atomic::AtomicU32;

use jos_inc::memlayout::{KERNBASE, MPENTRY_PADDR};
use x86::controlregs::Cr0;

/// The kernel stack top boot_aps hands to the AP being started.
#[unsafe(no_mangle)]
pub static mpentry_kstack: AtomicU32 = AtomicU32::new(0);

global_asm!(
    r#"
    .text
    .set PROT_MODE_CSEG, 0x8
    .set PROT_MODE_DSEG, 0x10
    .code16
    .globl mpentry_start
mpentry_start:
    cli
    xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss

    lgdt (mpentry_gdtdesc - mpentry_start + {MPENTRY_PADDR})
    movl %cr0, %eax
    orl ${CR0_PE}, %eax
    movl %eax, %cr0

    ljmpl $(PROT_MODE_CSEG), $(mpentry_start32 - mpentry_start + {MPENTRY_PADDR})

    .code32
mpentry_start32:
    movw $(PROT_MODE_DSEG), %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw $0, %ax
    movw %ax, %fs
    movw %ax, %gs

    # Set up initial page table. We cannot use kern_pgdir yet because we are still running
    # at a low EIP.
    movl $(entry_pgdir - {KERNBASE}), %eax
    movl %eax, %cr3
    # Turn on paging.
    movl %cr0, %eax
    orl ${CR0_ENTRY}, %eax
    movl %eax, %cr0

    # Switch to the per-cpu stack allocated in boot_aps().
    movl mpentry_kstack, %esp
    movl $0x0, %ebp                # nuke frame pointer

    # Call mp_main(). (Exercise for the reader: why the indirect call?)
    movl $mp_main, %eax
    call *%eax

    # If mp_main returns (it shouldn't), loop.
mpentry_spin:
    jmp mpentry_spin

    # Bootstrap GDT
    .p2align 2
mpentry_gdt:
    .word 0, 0, 0, 0                # null seg
    .word 0xffff, 0x0000            # code seg
    .byte 0x00, 0x9a, 0xcf, 0x00
    .word 0xffff, 0x0000            # data seg
    .byte 0x00, 0x92, 0xcf, 0x00
mpentry_gdtdesc:
    .word 0x17                      # sizeof(gdt) - 1
    .long mpentry_gdt - mpentry_start + {MPENTRY_PADDR}

    .globl mpentry_end
mpentry_end:
    nop
    .text
"#,
    KERNBASE = const KERNBASE,
    MPENTRY_PADDR = const MPENTRY_PADDR,
    CR0_PE = const Cr0::CR0_PROTECTED_MODE.bits(),
    CR0_ENTRY = const crate::entry::CR0_ENTRY,
    options(att_syntax)
);

unsafe extern "C" {
    static mpentry_start: u8;
    static mpentry_end: u8;
}

/// The trampoline's code, to copy to MPENTRY_PADDR.
pub fn code() -> &'static [u8] {
    // SAFETY: both symbols delimit the assembled trampoline in the kernel's text.
    unsafe {
        let start = &raw const mpentry_start;
        let len = (&raw const mpentry_end as usize) - (start as usize);
        core::slice::from_raw_parts(start, len)
    }
}
