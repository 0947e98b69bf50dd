//! Entering virtual-8086 mode from user mode, shared by the V86 hostile tests (`v86trap`,
//! `v86ring0`): `jos_user::v86`.
//!
//! On real hardware an `iret` at CPL 3 ignores the VM flag of the EFLAGS image it pops. QEMU's
//! TCG (7.2) does not check the CPL: a user program that pops EFLAGS with VM set enters
//! virtual-8086 mode (loading IF and IOPL from the image too). The V86 code then runs at
//! linear address CS * 16 + IP (below 0x110000: pages a user env may map, as JOS lets it map
//! any page below UTOP), at CPL 3, until its first trap. A trap from V86 mode differs from a
//! trap from protected user mode: CS and SS are real-mode segment numbers (so CS's low two
//! bits, which a kernel reads as the privilege level, are whatever the program chose), and
//! the CPU pushes ES, DS, FS and GS after SS, 16 bytes more than the frame a kernel expects.
//! JOS's design has no use for V86 mode: a correct kernel treats any trap with EFLAGS.VM set
//! as a trap from user mode, prints the frame (`TRAP frame at ...`) and destroys the env.
//!
//! The attack, in a forked child: the parent writes the 16-bit code into a page at linear
//! address 0 (mapped PTE_SHARE before forking, so the parent sees what the V86 code writes
//! there); the child builds the iret frame (EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS) in a
//! fresh page, drops its page-fault upcall (a V86 trap must not depend on whether the kernel
//! delivers it) and executes `iret`. Every V86 code first stores `V86_RAN` through ES at
//! offset `MARK_OFF` (linear `es * 16 + MARK_OFF`), so the parent knows the code did run in
//! V86 mode: without that an `iret` that faulted (a CPU that refuses VM at CPL 3) would make
//! the test pass without testing anything.
//!
//! A kernel may instead refuse user pages below 0x110000 (this one does: `UMAPMIN`), so that
//! V86 code can never run: then the programs check the refusal, enter V86 mode all the same
//! (the first instruction fetch faults) and the grader counts the trap-frame prints whose
//! EFLAGS show VM, the evidence that V86 mode was entered and ended the env.

use jos_lib::inc::syscall::SYS_ENV_SET_PGFAULT_UPCALL;
use jos_lib::{Pte, sys_page_alloc};

/// EFLAGS.VM: virtual-8086 mode.
pub const FL_VM: u32 = 1 << 17;
/// EFLAGS.IF.
pub const FL_IF: u32 = 1 << 9;
/// EFLAGS bit 1, always set.
pub const FL_1: u32 = 1 << 1;

/// The low page, holding the V86 code (and what it writes): linear 0..4 KiB.
pub const LOW: u32 = 0;
/// Where (offset from the ES base) the V86 code stores `V86_RAN`.
pub const MARK_OFF: u32 = 0x100;
/// What it stores.
pub const V86_RAN: u16 = 0x8686;
/// Where the child builds its iret frame.
pub const FRAME_PAGE: u32 = 0x0060_0000;

/// 16-bit code pieces.
pub mod code {
    /// `mov word es:[0x0100], 0x8686`: the "V86 code ran" mark.
    pub const MARK: [u8; 7] = [0x26, 0xc7, 0x06, 0x00, 0x01, 0x86, 0x86];
    /// `hlt`: privileged, #GP at CPL 3.
    pub const HLT: [u8; 1] = [0xf4];
    /// `int $0x30` (JOS's system call): #GP in V86 mode with IOPL < 3.
    pub const INT30: [u8; 2] = [0xcd, 0x30];
    /// `mov ax, [0xfff0]`: a read at DS * 16 + 0xfff0 (unmapped for DS = 0xf000: #PF).
    pub const READ_FFF0: [u8; 3] = [0xa1, 0xf0, 0xff];
    /// `jmp far 0xf000:0x0000`: fetch at linear 0xf0000, unmapped: #PF, with CS = 0xf000.
    pub const JMP_F000: [u8; 5] = [0xea, 0x00, 0x00, 0x00, 0xf0];
    /// `jmp far 0xf003:0x0000`: the same with CS's low bits 3 (linear 0xf0030).
    pub const JMP_F003: [u8; 5] = [0xea, 0x00, 0x00, 0x03, 0xf0];
    /// `1: pause; jmp 1b`: wait, interruptible, for the timer (the `pause` makes QEMU's
    /// single TCG thread deliver pending interrupts, see prio.rs).
    pub const SPIN: [u8; 4] = [0xf3, 0x90, 0xeb, 0xfc];
}

/// The frame a CPL-3 `iret` pops to enter V86 mode, in the order it pops it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    pub eip: u32,
    pub cs: u32,
    pub eflags: u32,
    pub esp: u32,
    pub ss: u32,
    pub es: u32,
    pub ds: u32,
    pub fs: u32,
    pub gs: u32,
}

/// Map a fresh page at `va` below UMAPMIN (0x110000, the addresses V86 code can reach), if
/// the kernel lets us: false if it refuses with -E_INVAL, as a kernel that keeps V86 code from
/// ever running does (JOS maps anything below UTOP). Then no V86 instruction can run at all,
/// and the tests check that entering V86 mode still ends the env at once, its frame print
/// showing the VM flag (EFLAGS 0x0002xxxx) as the evidence that V86 mode was entered.
pub fn map_low(va: u32, share: bool) -> bool {
    let mut perm = Pte::P | Pte::U | Pte::W;
    if share {
        perm |= Pte::SHARE;
    }
    // SAFETY: as in `map`.
    match unsafe { sys_page_alloc(0, va, perm) } {
        Ok(()) => true,
        Err(jos_lib::Error::Inval) => false,
        Err(e) => panic!("sys_page_alloc({:08x}): {}", va, e),
    }
}

/// Map a fresh page at `va` in our address space (`share`: PTE_SHARE, so forked children
/// map the same page).
pub fn map(va: u32, share: bool) {
    let mut perm = Pte::P | Pte::U | Pte::W;
    if share {
        perm |= Pte::SHARE;
    }
    // SAFETY: the V86 programs use these low pages for nothing else, and no Rust object
    // lives there (a program's image starts at UTEXT, 8 MiB).
    if let Err(e) = unsafe { sys_page_alloc(0, va, perm) } {
        panic!("sys_page_alloc({:08x}): {}", va, e);
    }
}

/// Write `bytes` at linear address `at` (a page mapped by `map`).
pub fn poke(at: u32, bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        // SAFETY: `at..at + len` lies in a page this program mapped writable for this use.
        unsafe { core::ptr::write_volatile((at as usize + i) as *mut u8, b) };
    }
}

/// Read the 16-bit word at linear address `at` (a mapped page).
pub fn peek16(at: u32) -> u16 {
    // SAFETY: as in `poke`; the V86 code may have written it (hence volatile).
    unsafe { core::ptr::read_volatile(at as usize as *const u16) }
}

/// Enter V86 mode with `frame`: copied to FRAME_PAGE (a fresh page: nothing after this
/// point may write memory that is still copy-on-write, since the page-fault upcall is
/// dropped), then `sys_env_set_pgfault_upcall(0, 0)` and `iret`, in one asm block.
pub fn enter(frame: Frame) -> ! {
    map(FRAME_PAGE, false);
    let f = FRAME_PAGE as usize as *mut Frame;
    // SAFETY: FRAME_PAGE was just mapped writable, page-aligned, for this frame only.
    unsafe { core::ptr::write_volatile(f, frame) };
    // SAFETY: the system call drops our page-fault upcall (we fault no more in protected
    // mode: the next instruction leaves it); the iret pops the frame just written and never
    // comes back to this code.
    unsafe {
        core::arch::asm!(
            "int $0x30",
            "movl %edi, %esp",
            "iretl",
            in("eax") SYS_ENV_SET_PGFAULT_UPCALL,
            in("edx") 0,
            in("ecx") 0,
            in("edi") f,
            options(att_syntax, noreturn)
        )
    }
}
