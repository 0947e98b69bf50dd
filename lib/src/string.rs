//! `memcpy`, `memmove` and `memset` (JOS's lib/string.c, which JOS's kernel links too; ours
//! includes this file the same way, see kern/main.rs).
//!
//! compiler_builtins' versions (weak symbols, so these replace them) move one 32-bit word in
//! 4-6 instructions on i386; a page copy or zeroing is the hottest loop of COW faults, fork
//! and page allocation. `rep movsl` / `rep stosl` do it in about one (QEMU counts each
//! iteration of a `rep` string instruction as one instruction). i386 handles misaligned
//! words, so no alignment prologue is needed; the tail is done bytewise. The direction flag
//! is clear on entry (the ABI; the kernel clears it on every trap).

core::arch::global_asm!(
    ".section .text.string, \"ax\"",
    // void *memcpy(void *dst, const void *src, size_t n)
    ".globl memcpy",
    ".type memcpy, @function",
    "memcpy:",
    "    pushl %edi",
    "    pushl %esi",
    "    movl 12(%esp), %edi",
    "    movl 16(%esp), %esi",
    "    movl 20(%esp), %ecx",
    "    movl %edi, %eax",
    "    movl %ecx, %edx",
    "    shrl $2, %ecx",
    "    rep movsl",
    "    movl %edx, %ecx",
    "    andl $3, %ecx",
    "    rep movsb",
    "    popl %esi",
    "    popl %edi",
    "    ret",
    ".size memcpy, . - memcpy",
    // void *memmove(void *dst, const void *src, size_t n): forward unless dst lies inside
    // [src, src+n), then backward (with DF set for the copy only).
    ".globl memmove",
    ".type memmove, @function",
    "memmove:",
    "    pushl %edi",
    "    pushl %esi",
    "    movl 12(%esp), %edi",
    "    movl 16(%esp), %esi",
    "    movl 20(%esp), %ecx",
    "    movl %edi, %eax",
    "    subl %esi, %eax",
    "    cmpl %ecx, %eax",
    "    jb 1f",
    "    movl %ecx, %edx",
    "    shrl $2, %ecx",
    "    rep movsl",
    "    movl %edx, %ecx",
    "    andl $3, %ecx",
    "    rep movsb",
    "    jmp 2f",
    "1:  leal -1(%edi,%ecx), %edi",
    "    leal -1(%esi,%ecx), %esi",
    "    std",
    "    rep movsb",
    "    cld",
    "2:  movl 12(%esp), %eax",
    "    popl %esi",
    "    popl %edi",
    "    ret",
    ".size memmove, . - memmove",
    // void *memset(void *dst, int c, size_t n)
    ".globl memset",
    ".type memset, @function",
    "memset:",
    "    pushl %edi",
    "    movl 8(%esp), %edi",
    "    movzbl 12(%esp), %eax",
    "    movl 16(%esp), %ecx",
    "    imull $0x01010101, %eax, %eax",
    "    movl %ecx, %edx",
    "    shrl $2, %ecx",
    "    rep stosl",
    "    movl %edx, %ecx",
    "    andl $3, %ecx",
    "    rep stosb",
    "    movl 8(%esp), %eax",
    "    popl %edi",
    "    ret",
    ".size memset, . - memset",
    ".text",
    options(att_syntax)
);
