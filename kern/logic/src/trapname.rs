//! Trap names for the trapframe dump (JOS's `trapname()` in kern/trap.c).

use jos_inc::trap::*;

/// JOS's `trapname()`: the name the trapframe dump prints for a trap number.
pub fn trapname(trapno: u32) -> &'static str {
    const EXCNAMES: [&str; 20] = [
        "Divide error",
        "Debug",
        "Non-Maskable Interrupt",
        "Breakpoint",
        "Overflow",
        "BOUND Range Exceeded",
        "Invalid Opcode",
        "Device Not Available",
        "Double Fault",
        "Coprocessor Segment Overrun",
        "Invalid TSS",
        "Segment Not Present",
        "Stack Fault",
        "General Protection",
        "Page Fault",
        "(unknown trap)",
        "x87 FPU Floating-Point Error",
        "Alignment Check",
        "Machine-Check",
        "SIMD Floating-Point Exception",
    ];
    match trapno {
        n if (n as usize) < EXCNAMES.len() => EXCNAMES[n as usize],
        T_SYSCALL => "System call",
        n if (IRQ_OFFSET..IRQ_OFFSET + 16).contains(&n) => "Hardware Interrupt",
        _ => "(unknown trap)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(trapname(T_DIVIDE), "Divide error");
        assert_eq!(trapname(T_PGFLT), "Page Fault");
        assert_eq!(trapname(15), "(unknown trap)");
        assert_eq!(trapname(T_SIMDERR), "SIMD Floating-Point Exception");
        assert_eq!(trapname(T_SYSCALL), "System call");
        assert_eq!(trapname(IRQ_OFFSET + IRQ_TIMER), "Hardware Interrupt");
        assert_eq!(trapname(IRQ_OFFSET + 15), "Hardware Interrupt");
        assert_eq!(trapname(IRQ_OFFSET + IRQ_ERROR), "(unknown trap)");
        assert_eq!(trapname(T_DEFAULT), "(unknown trap)");
    }
}
