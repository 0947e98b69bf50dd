//! ssepage (ours): the kernel zeroes and copies pages with 16-byte SSE moves (kern/fpu.rs
//! `zero_page`, `copy_page`), borrowing XMM registers that hold the calling env's values.
//! Checks that a recycled page full of ones comes back from `sys_page_alloc` all zero, that
//! `sys_page_copy` copies every byte, and that XMM0..XMM7 hold the env's values after both
//! calls.
#![no_std]
#![no_main]

use core::arch::asm;
use core::ptr::{read_volatile, write_volatile};

use jos_lib::inc::mmu::{PGSIZE, pgnum};
use jos_lib::inc::syscall::{SYS_PAGE_ALLOC, SYS_PAGE_COPY};
use jos_lib::inc::trap::T_SYSCALL;
use jos_lib::{Pte, println, sys_page_alloc, sys_page_unmap, uvpt};

jos_lib::entry!(umain);

const A: u32 = 0x1000_0000;
const B: u32 = A + PGSIZE;
/// PTE_P | PTE_W | PTE_U.
const RW: u32 = Pte::P.bits() | Pte::W.bits() | Pte::U.bits();
const WORDS: usize = (PGSIZE / 4) as usize;

fn frame(va: u32) -> u32 {
    uvpt(pgnum(va)) & !0xFFF
}

fn word(va: u32, i: usize) -> u32 {
    // SAFETY: callers pass a mapped page of this program and i < WORDS.
    unsafe { read_volatile((va as *const u32).add(i)) }
}

fn fill(va: u32, f: impl Fn(usize) -> u32) {
    for i in 0..WORDS {
        // SAFETY: as in `word`; the page is writable.
        unsafe { write_volatile((va as *mut u32).add(i), f(i)) }
    }
}

/// Load XMM0..XMM7 from `v`, allocate a page at A (zeroed by the kernel), copy it to B, and
/// return the two syscall results and what the XMM registers hold afterwards.
fn calls_keep_xmm(v: &[[u32; 4]; 8]) -> (i32, i32, [[u32; 4]; 8]) {
    let mut out = [[0u32; 4]; 8];
    let r1: i32;
    let r2: i32;
    // SAFETY: reads `v`, writes `out`; A and B are used by nothing else. The XMM registers
    // are not allocatable on this soft-float target and no compiled code uses them (see
    // user/src/fpu.rs). The traps clobber only EAX; every other register used is declared,
    // and the two words pushed are popped before the block ends.
    unsafe {
        asm!(
            "movups 0(%eax), %xmm0",
            "movups 16(%eax), %xmm1",
            "movups 32(%eax), %xmm2",
            "movups 48(%eax), %xmm3",
            "movups 64(%eax), %xmm4",
            "movups 80(%eax), %xmm5",
            "movups 96(%eax), %xmm6",
            "movups 112(%eax), %xmm7",
            "pushl %edx",
            "movl ${alloc}, %eax",
            "xorl %edx, %edx",
            "movl ${a}, %ecx",
            "movl ${rw}, %ebx",
            "int ${t}",
            "pushl %eax",
            "movl ${copy}, %eax",
            "xorl %edx, %edx",
            "movl ${a}, %ecx",
            "movl ${b}, %ebx",
            "movl ${rw}, %edi",
            "int ${t}",
            "popl %ebx",
            "popl %ecx",
            "movups %xmm0, 0(%ecx)",
            "movups %xmm1, 16(%ecx)",
            "movups %xmm2, 32(%ecx)",
            "movups %xmm3, 48(%ecx)",
            "movups %xmm4, 64(%ecx)",
            "movups %xmm5, 80(%ecx)",
            "movups %xmm6, 96(%ecx)",
            "movups %xmm7, 112(%ecx)",
            alloc = const SYS_PAGE_ALLOC,
            copy = const SYS_PAGE_COPY,
            t = const T_SYSCALL,
            a = const A,
            b = const B,
            rw = const RW,
            inout("eax") v.as_ptr() => r2,
            inout("edx") out.as_mut_ptr() => _,
            out("ebx") r1,
            out("ecx") _,
            out("edi") _,
            options(att_syntax),
        );
    }
    (r1, r2, out)
}

fn umain() {
    let rw = Pte::P | Pte::U | Pte::W;
    // A page freed full of ones comes back zeroed (the free list is LIFO: the same frame).
    let mut recycled = 0;
    for round in 0..8 {
        // SAFETY: A is used by nothing else in this program (so for every call below).
        unsafe { sys_page_alloc(0, A, rw) }.expect("alloc A");
        let f = frame(A);
        if let Some(i) = (0..WORDS).find(|&i| word(A, i) != 0) {
            panic!(
                "round {}: fresh page word {} is {:#x}",
                round,
                i,
                word(A, i)
            );
        }
        fill(A, |_| !0);
        // SAFETY: as above.
        unsafe { sys_page_unmap(0, A) }.expect("unmap A");
        // SAFETY: as above.
        unsafe { sys_page_alloc(0, A, rw) }.expect("alloc A again");
        if frame(A) == f {
            recycled += 1;
        }
        if let Some(i) = (0..WORDS).find(|&i| word(A, i) != 0) {
            panic!(
                "round {}: recycled page word {} is {:#x}",
                round,
                i,
                word(A, i)
            );
        }
        fill(A, |i| (i as u32).wrapping_mul(0x9e37_79b9) ^ round);
        // SAFETY: as above.
        unsafe { sys_page_unmap(0, A) }.expect("unmap A");
    }
    assert!(
        recycled > 0,
        "no freed page was handed back: the check saw no dirty page"
    );

    // Registers survive the kernel's use of them, and the copy is exact.
    let mut v = [[0u32; 4]; 8];
    for (i, r) in v.iter_mut().enumerate() {
        for (j, w) in r.iter_mut().enumerate() {
            *w = 0x0102_0304u32.wrapping_mul((4 * i + j + 1) as u32) ^ 0xA5A5_0000;
        }
    }
    let (r1, r2, got) = calls_keep_xmm(&v);
    assert_eq!((r1, r2), (0, 0), "sys_page_alloc / sys_page_copy failed");
    for i in 0..8 {
        assert_eq!(got[i], v[i], "xmm{} changed across the page syscalls", i);
    }
    assert!(frame(A) != frame(B), "the copy shares A's frame");
    fill(A, |i| (i as u32) ^ 0x5A5A_F00F);
    // SAFETY: B is used by nothing else; the copy replaces it.
    unsafe { jos_lib::sys_page_copy(0, A, B, rw) }.expect("copy A to B");
    if let Some(i) = (0..WORDS).find(|&i| word(B, i) != (i as u32) ^ 0x5A5A_F00F) {
        panic!("copy: word {} is {:#x}", i, word(B, i));
    }
    println!("ssepage: all checks passed");
}
