//! Kernel entry (JOS's kern/entry.S and kern/entrypgdir.c): `_start`/`entry`, the boot stack
//! (`bootstack`, `bootstacktop`) and `entry_pgdir`/`entry_pgtable`.
//!
//! The boot loader jumps to `_start` (the physical address of `entry`) with paging off. We
//! load a minimal page directory that maps the first 4 MiB of physical memory both at 0 and at
//! KERNBASE, turn on paging, jump up to the KERNBASE mapping, set up the boot stack and call
//! `i386_init`. The page tables live in asm data because a Rust static cannot hold "address of
//! a symbol minus KERNBASE".

use core::arch::global_asm;
use jos_inc::memlayout::{KERNBASE, KSTKSIZE};
use jos_inc::mmu::Pte;
use x86::controlregs::Cr0;

/// The CR0 bits the entry code turns on (and the AP trampoline's, kern/mpentry.rs): protected
/// mode, paging, and write protection in ring 0 (the kernel's read-only pages stay read-only).
pub const CR0_ENTRY: usize =
    Cr0::CR0_PROTECTED_MODE.bits() | Cr0::CR0_ENABLE_PAGING.bits() | Cr0::CR0_WRITE_PROTECT.bits();

global_asm!(
    r#"
    .section .text.entry, "ax"
    .set MULTIBOOT_HEADER_MAGIC, 0x1BADB002
    .set MULTIBOOT_HEADER_FLAGS, 0
    .set CHECKSUM, -(MULTIBOOT_HEADER_MAGIC + MULTIBOOT_HEADER_FLAGS)

    # The Multiboot header.
    .p2align 2
    .long MULTIBOOT_HEADER_MAGIC
    .long MULTIBOOT_HEADER_FLAGS
    .long CHECKSUM

    # '_start' specifies the ELF entry point. Since we haven't set up virtual memory when the
    # boot loader enters this code, we need the boot loader to jump to the *physical* address
    # of the entry point.
    .globl _start
    .set _start, entry - {KERNBASE}

    .globl entry
entry:
    # The instruction count at entry, for `make bench` (kern/bench.rs). Paging is off:
    # store through the physical address.
    rdtsc
    movl %eax, ({entry_tsc} - {KERNBASE})
    movl %edx, ({entry_tsc} - {KERNBASE} + 4)

    movw $0x1234, 0x472              # warm boot

    # Load the physical address of entry_pgdir into cr3.
    movl $(entry_pgdir - {KERNBASE}), %eax
    movl %eax, %cr3
    # Turn on paging (and keep the kernel's read-only pages read-only: CR0_WP).
    movl %cr0, %eax
    orl ${CR0_ENTRY}, %eax
    movl %eax, %cr0

    # Now paging is enabled, but we're still running at a low EIP. Jump up above KERNBASE
    # before entering Rust code.
    mov $relocated, %eax
    jmp *%eax
relocated:
    # Clear the frame pointer register so that backtraces terminate here.
    movl $0x0, %ebp
    movl $bootstacktop, %esp
    call i386_init
spin:
    jmp spin

    .data
    # The boot stack is in .data, not .bss: i386_init zeroes the bss while running on it.
    .p2align 12
    .globl bootstack
bootstack:
    .space {KSTKSIZE}
    .globl bootstacktop
bootstacktop:

    # The entry page directory maps VA [0, 4MB) and [KERNBASE, KERNBASE+4MB) to PA [0, 4MB),
    # both through entry_pgtable (PTE_P|PTE_W).
    .p2align 12
    .globl entry_pgdir
entry_pgdir:
    .long entry_pgtable - {KERNBASE} + {PTE_PW}
    .fill ({KERNBASE} >> 22) - 1, 4, 0
    .long entry_pgtable - {KERNBASE} + {PTE_PW}
    .fill 1024 - ({KERNBASE} >> 22) - 1, 4, 0
    .p2align 12
entry_pgtable:
    .set i, 0
    .rept 1024
    .long (i << 12) | {PTE_PW}
    .set i, i + 1
    .endr
    .text
"#,
    KERNBASE = const KERNBASE,
    KSTKSIZE = const KSTKSIZE,
    entry_tsc = sym crate::bench::ENTRY_TSC,
    CR0_ENTRY = const CR0_ENTRY,
    PTE_PW = const Pte::P.union(Pte::W).bits(),
    options(att_syntax)
);
