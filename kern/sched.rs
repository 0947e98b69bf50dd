//! The scheduler (JOS's kern/sched.c): round-robin over envs[], and halting idle CPUs.

use jos_inc::env::{ENV_DYING, ENV_RUNNABLE, ENV_RUNNING, NENV};
use kern_logic::sched::{Choice, pick};

use crate::cpu::{self, CPU_HALTED};
use crate::{cprintf, env, monitor, pmap, spinlock};

/// Choose a user environment to run and run it: the first RUNNABLE env after the one this
/// CPU last ran, else the current env if still RUNNING here, else halt this CPU.
pub fn sched_yield() -> ! {
    let cur = cpu::curenv();
    let choice = env::with_envs(|t| {
        let envs = t.all();
        pick(NENV, cur, |i| envs[i].env_status)
    });
    match choice {
        Choice::Run(i) => env::env_run(i),
        Choice::Halt => sched_halt(),
    }
}

/// Halt this CPU when there is nothing to do. Wait until the timer interrupt wakes it up.
/// This function never returns.
pub fn sched_halt() -> ! {
    // For debugging and testing purposes, if there are no runnable environments in the
    // system, then drop into the kernel monitor.
    let any = env::with_envs(|t| {
        t.all()
            .iter()
            .any(|e| matches!(e.env_status, ENV_RUNNABLE | ENV_RUNNING | ENV_DYING))
    });
    if !any {
        cprintf!("No runnable environments in the system!\n");
        loop {
            monitor::monitor(None);
        }
    }

    // Mark that no environment is running on this CPU.
    cpu::set_curenv(None);
    pmap::load_pgdir(pmap::kern_pgdir());

    // Mark that this CPU is in the HALT state, so that when timer interrupts come in, we
    // know we should re-acquire the big kernel lock.
    cpu::thiscpu().set_status(CPU_HALTED);

    // Release the big kernel lock as if we were "leaving" the kernel.
    spinlock::unlock_kernel();

    let top = jos_inc::memlayout::kstacktop(cpu::cpunum() as u32);
    // Reset stack pointer, enable interrupts and then halt.
    // SAFETY: nothing on this CPU's kernel stack is live any more (this function never
    // returns); the next interrupt enters trap() on the TSS's esp0, the same stack top.
    unsafe {
        core::arch::asm!(
            "movl $0, %ebp",
            "movl {top}, %esp",
            "pushl $0",
            "pushl $0",
            "sti",
            "2:",
            "hlt",
            "jmp 2b",
            top = in(reg) top,
            options(att_syntax, noreturn)
        )
    }
}
