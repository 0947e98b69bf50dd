//! Trap numbers and the trap-time register records (JOS's inc/trap.h).

// Processor-defined exceptions.
pub const T_DIVIDE: u32 = 0;
pub const T_DEBUG: u32 = 1;
pub const T_NMI: u32 = 2;
pub const T_BRKPT: u32 = 3;
pub const T_OFLOW: u32 = 4;
pub const T_BOUND: u32 = 5;
pub const T_ILLOP: u32 = 6;
pub const T_DEVICE: u32 = 7;
pub const T_DBLFLT: u32 = 8;
pub const T_TSS: u32 = 10;
pub const T_SEGNP: u32 = 11;
pub const T_STACK: u32 = 12;
pub const T_GPFLT: u32 = 13;
pub const T_PGFLT: u32 = 14;
pub const T_FPERR: u32 = 16;
pub const T_ALIGN: u32 = 17;
pub const T_MCHK: u32 = 18;
pub const T_SIMDERR: u32 = 19;

/// System call vector (arbitrarily chosen, but with care not to overlap processor defined
/// exceptions or interrupt vectors).
pub const T_SYSCALL: u32 = 48;
/// Catchall.
pub const T_DEFAULT: u32 = 500;

/// Hardware IRQ numbers, received as `IRQ_OFFSET + IRQ_x`.
pub const IRQ_OFFSET: u32 = 32;
pub const IRQ_TIMER: u32 = 0;
pub const IRQ_KBD: u32 = 1;
pub const IRQ_SERIAL: u32 = 4;
pub const IRQ_SPURIOUS: u32 = 7;
pub const IRQ_IDE: u32 = 14;
pub const IRQ_ERROR: u32 = 19;

/// Registers as pushed by `pusha`. (JOS declares the records below packed; every field is
/// naturally aligned, so `repr(C)` gives the same layout, asserted below, without unaligned
/// references.)
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushRegs {
    pub reg_edi: u32,
    pub reg_esi: u32,
    pub reg_ebp: u32,
    /// Useless (the esp pusha saw).
    pub reg_oesp: u32,
    pub reg_ebx: u32,
    pub reg_edx: u32,
    pub reg_ecx: u32,
    pub reg_eax: u32,
}

/// The trap frame the trap entry code builds on the kernel stack, and the saved user state
/// in `Env::env_tf`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trapframe {
    pub tf_regs: PushRegs,
    pub tf_es: u16,
    pub tf_padding1: u16,
    pub tf_ds: u16,
    pub tf_padding2: u16,
    pub tf_trapno: u32,
    // Below here defined by x86 hardware.
    pub tf_err: u32,
    pub tf_eip: u32,
    pub tf_cs: u16,
    pub tf_padding3: u16,
    pub tf_eflags: u32,
    // Below here only when crossing rings, such as from user to kernel.
    pub tf_esp: u32,
    pub tf_ss: u16,
    pub tf_padding4: u16,
}

/// The frame the kernel pushes on the user exception stack for a user page-fault handler.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UTrapframe {
    // Information about the fault.
    pub utf_fault_va: u32,
    pub utf_err: u32,
    // Trap-time return state.
    pub utf_regs: PushRegs,
    pub utf_eip: u32,
    pub utf_eflags: u32,
    // The trap-time stack to return to.
    pub utf_esp: u32,
}

/// The frame the kernel pushes on the user exception stack for a user exception handler (not
/// in JOS: a lab 4 challenge): UTrapframe's layout, with the trap number where a page fault's
/// frame has the faulting address. The handler may change the registers, EIP (to skip or
/// retry the instruction) and EFLAGS (e.g. clear TF or AC) before it returns.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UExcframe {
    pub uxf_trapno: u32,
    pub uxf_err: u32,
    pub uxf_regs: PushRegs,
    pub uxf_eip: u32,
    pub uxf_eflags: u32,
    pub uxf_esp: u32,
}

/// The exceptions user code can raise that a user exception handler may take (everything but
/// page faults, which keep JOS's upcall, and what only the kernel or hardware failures cause).
pub const USER_EXCEPTIONS: [u32; 12] = [
    T_DIVIDE, T_DEBUG, T_BRKPT, T_OFLOW, T_BOUND, T_ILLOP, T_SEGNP, T_STACK, T_GPFLT, T_FPERR,
    T_ALIGN, T_SIMDERR,
];

/// Kernel test `test_exc_inject` only (kern/ktest.rs; never armed in a normal boot): a user
/// `int3` with this in EAX ("XCPT") stands for exception EDX with error code ECX.
pub const KTEST_INJECT_MAGIC: u32 = 0x5843_5054;

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<UExcframe>() == size_of::<UTrapframe>());
    assert!(offset_of!(UExcframe, uxf_err) == offset_of!(UTrapframe, utf_err));
    assert!(offset_of!(UExcframe, uxf_regs) == offset_of!(UTrapframe, utf_regs));
    assert!(offset_of!(UExcframe, uxf_eip) == offset_of!(UTrapframe, utf_eip));
    assert!(offset_of!(UExcframe, uxf_eflags) == offset_of!(UTrapframe, utf_eflags));
    assert!(offset_of!(UExcframe, uxf_esp) == offset_of!(UTrapframe, utf_esp));
    assert!(size_of::<PushRegs>() == 32);
    assert!(offset_of!(PushRegs, reg_oesp) == 12);
    assert!(offset_of!(PushRegs, reg_eax) == 28);
    assert!(size_of::<Trapframe>() == 68);
    assert!(offset_of!(Trapframe, tf_es) == 32);
    assert!(offset_of!(Trapframe, tf_ds) == 36);
    assert!(offset_of!(Trapframe, tf_trapno) == 40);
    assert!(offset_of!(Trapframe, tf_err) == 44);
    assert!(offset_of!(Trapframe, tf_eip) == 48);
    assert!(offset_of!(Trapframe, tf_cs) == 52);
    assert!(offset_of!(Trapframe, tf_eflags) == 56);
    assert!(offset_of!(Trapframe, tf_esp) == 60);
    assert!(offset_of!(Trapframe, tf_ss) == 64);
    assert!(size_of::<UTrapframe>() == 52);
    assert!(offset_of!(UTrapframe, utf_regs) == 8);
    assert!(offset_of!(UTrapframe, utf_eip) == 40);
    assert!(offset_of!(UTrapframe, utf_eflags) == 44);
    assert!(offset_of!(UTrapframe, utf_esp) == 48);
};
