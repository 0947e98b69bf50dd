//! The scheduler (JOS's kern/sched.c: `sched_yield`, `sched_halt`): round-robin over envs[],
//! and halting idle CPUs.
//!
//! JOS's order (the first RUNNABLE env after the one this CPU ran last, circularly), found in
//! the env table's run set instead of by scanning all NENV slots: a yield costs the same with
//! one env as with a thousand. Not in JOS: priorities (a lab 4 challenge), one run set per
//! level, highest first, every eighth timer tick of a CPU given to a lower level in rotation,
//! each level with its own round-robin position. The policy, and the bound on how long a
//! runnable env waits at any level, are `kern_logic::sched` (host-tested).

use core::sync::atomic::{AtomicU32, Ordering};

use jos_inc::memlayout::kstacktop;
use kern_logic::envid::EnvIdx;
use kern_logic::sched::{AGING_PERIOD, Current};

use crate::cpu::{self, CPU_HALTED, CpuId, NCPU};
use crate::env::EnvTable;
use crate::spinlock::Kernel;
use crate::{cprintf, env, monitor, pmap};

/// Choose a user environment to run and run it: the first RUNNABLE env after the one this
/// CPU last ran, else the current env if it may go on running here, else halt this CPU.
#[inline(never)]
pub fn sched_yield(k: Kernel) -> ! {
    schedule(k, false)
}

/// sched_yield for a timer interrupt: the same choice, except that every eighth tick is an
/// aging turn for the levels below the top (see `kern_logic::sched`: no priority starves).
#[inline(never)]
pub fn sched_tick(k: Kernel) -> ! {
    schedule(k, true)
}

#[inline(always)]
fn schedule(mut k: Kernel, timer: bool) -> ! {
    let cpu = k.cpu();
    let cur = cpu::cpu(cpu).env();
    let t = env::table(&mut k);
    match pick(t, cpu, cur, timer) {
        Some(i) => env::env_run(k, i),
        None => match cur {
            Some(c) if t.state(c).continues() => env::env_run(k, c),
            _ => sched_halt(k),
        },
    }
}

// CHALLENGE: BEGIN priorities-ticks
// STUB: // (each CPU's timer ticks, counting to the aging turns of priorities)
/// Per CPU: its timer ticks, counting to the aging turns. Only that CPU touches its own
/// counter (with the big lock held), so relaxed loads and stores suffice.
static TICKS: [AtomicU32; NCPU] = [const { AtomicU32::new(0) }; NCPU];
// CHALLENGE: END priorities-ticks

/// The env CPU `cpu` should run next, given that `cur` (its env, if any) may or may not go
/// on; None to keep `cur` (or nothing to run). The policy is `kern_logic::sched`: JOS's round
/// robin within the highest priority that wants a CPU, every `AGING_PERIOD`th timer tick of a
/// CPU (`timer`) an aging turn for a lower level, each level with its own round-robin position.
#[inline(always)]
fn pick(t: &mut EnvTable, cpu: CpuId, cur: Option<EnvIdx>, timer: bool) -> Option<EnvIdx> {
    // CHALLENGE: BEGIN priorities-aging-turn
    // STUB: let (_, aging) = (timer, false);
    let mut aging = false;
    if timer {
        let ticks = &TICKS[cpu.index()];
        let n = ticks.load(Ordering::Relaxed).wrapping_add(1);
        ticks.store(n, Ordering::Relaxed);
        aging = n.is_multiple_of(AGING_PERIOD);
    }
    // CHALLENGE: END priorities-aging-turn
    let cur = cur.map(|c| Current {
        slot: c,
        prio: t.prio(c) as usize,
        continues: t.state(c).continues(),
    });
    t.choose(cur, aging)
}

/// Return to the env this CPU runs if it may go on running (the end of every trap from user
/// mode), else schedule. Inlined everywhere: it is the tail of every system call.
#[inline(always)]
pub fn resume(mut k: Kernel) -> ! {
    match cpu::cpu(k.cpu()).env() {
        Some(c) if env::table(&mut k).state(c).continues() => env::env_run(k, c),
        _ => sched_yield(k),
    }
}

/// Halt this CPU when there is nothing to do. Wait until the timer interrupt wakes it up.
/// This function never returns.
pub fn sched_halt(mut k: Kernel) -> ! {
    // This CPU's env (blocked, suspended or dying) leaves it first: a dying one is freed now.
    env::deschedule_current(&mut k);

    // For debugging and testing purposes, if there are no runnable environments in the
    // system, then drop into the kernel monitor.
    if !env::table(&mut k).any_active() {
        cprintf!("No runnable environments in the system!\n");
        loop {
            monitor::monitor(None);
        }
    }

    pmap::load_pgdir(pmap::kern_pgdir());

    // Mark that this CPU is in the HALT state, so that when timer interrupts come in, we
    // know we should re-acquire the big kernel lock.
    let cpu = k.cpu();
    cpu::cpu(cpu).set_status(CPU_HALTED);

    // Release the big kernel lock as if we were "leaving" the kernel.
    k.unlock();

    let top = kstacktop(cpu.index() as u32);
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
