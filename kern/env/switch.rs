//! Running envs (JOS's `env_run`, `env_pop_tf`): the context switch, the live trap frame an
//! env's registers stay in while it keeps its CPU, and the return to user mode.

use jos_inc::env::*;
use jos_inc::memlayout::*;
use jos_inc::mmu::*;
use jos_inc::trap::Trapframe;
use kern_logic::envid::EnvIdx;
use kern_logic::lifecycle::{Event, Life};
use kern_logic::links::Link;

use crate::cpu;
use crate::cpu::CpuId;
use crate::fpu;
use crate::pmap;
use crate::spinlock::Kernel;

use super::*;

/// Pop the Trapframe at `$tf` into the registers and `iret`, running the instructions
/// `$fix` in between (on the iret's own frame: eip at 0(%esp), cs, eflags, esp, ss).
macro_rules! pop_frame_and_iret {
    ($tf:expr, [$($fix:literal),*] $(, $name:ident = const $val:expr)*) => {
        core::arch::asm!(
            "movl {tf}, %esp",
            "popal",
            "popl %es",
            "popl %ds",
            "addl $0x8, %esp", // skip tf_trapno and tf_errcode
            $($fix,)*
            "iret",
            tf = in(reg) $tf,
            $($name = const $val,)*
            options(att_syntax, noreturn)
        )
    };
}

/// Restores the register values in the Trapframe with the 'iret' instruction. This exits the
/// kernel and starts executing some environment's code (or, for a frame trapped from the
/// kernel, resumes the kernel where it trapped).
///
/// # Safety
/// `tf` must be a complete trapframe on this CPU's kernel stack: a user-mode frame (user
/// segments with RPL 3, IF set) or one _alltraps built for a kernel-mode trap (no esp/ss).
pub unsafe fn env_pop_tf(tf: *const Trapframe) -> ! {
    // SAFETY: per the contract, popping the frame and iret-ing leaves this function for good.
    unsafe { pop_frame_and_iret!(tf, []) }
}

/// Return to user mode with the registers in CPU `cpu`'s live frame, which hold its env's
/// user-mode registers: `env_pop_tf` for user frames.
///
/// Whatever the frame holds, the `iret` resumes user code in ring 3 of the flat user segments,
/// with IOPL 0 and not in virtual-8086 mode: the CS and SS slots and those EFLAGS bits are
/// forced on the way out (three instructions; for every frame the CPU or the kernel built they
/// change nothing). A frame trapped from V86 mode is 16 bytes longer than a `Trapframe` and is
/// never taken for one (`trap::v86_trap`); this is the second line of defence against a
/// misread frame, whose CS slot would otherwise decide the privilege the env resumes with.
#[inline(always)]
pub fn enter_user(cpu: CpuId) -> ! {
    // SAFETY: the live frame is this CPU's, below its kernel stack top, and holds a complete
    // Trapframe of its env; nothing else refers to it now (the big lock is released and this
    // CPU is leaving the kernel).
    unsafe { enter_user_from(live_frame_ptr(cpu)) }
}

/// `enter_user` for a caller that holds the live frame's address already (the system call
/// entry's `tf`): no need to compute it again from the CPU number.
///
/// # Safety
/// `tf` is this CPU's live frame (`live_frame`), complete, with nothing else referring to
/// it: the big lock is released and the CPU is leaving the kernel.
#[inline(always)]
pub unsafe fn enter_user_from(tf: *mut Trapframe) -> ! {
    // SAFETY: per the contract; the iret goes to ring 3 (CS and SS forced), so this function
    // leaves the kernel for good.
    unsafe {
        pop_frame_and_iret!(
            tf,
            [
                "movl ${ucs}, 4(%esp)",
                "andl ${keep}, 8(%esp)",
                "movl ${uss}, 16(%esp)"
            ],
            ucs = const (GD_UT | 3) as u32,
            uss = const (GD_UD | 3) as u32,
            keep = const !(FL_VM | FL_IOPL_MASK)
        )
    }
}

/// Where CPU `cpu`'s live frame is: the top of its kernel stack (TSS esp0) less a
/// `Trapframe`, where `_alltraps` builds the frame on every trap from user mode and where
/// `env_run` pops it. An address only, for the code that moves or pops the frame as raw
/// memory outside the big lock (`enter_user`, the V86 trap); everything else reaches the
/// frame through [`live_frame`].
#[inline(always)]
pub fn live_frame_ptr(cpu: CpuId) -> *mut Trapframe {
    (kstacktop(cpu.index() as u32) - core::mem::size_of::<Trapframe>() as u32) as *mut Trapframe
}

/// The trap frame of the env running on `k`'s CPU, borrowed from the big lock's token: while
/// it is held, nothing else can use the token, so this is the only reference to the frame
/// (the trap path reads it as raw memory only before it takes the lock).
///
/// While an env is on a CPU its registers live here, not in `env_tf`: a trap that returns to
/// the same env (the common case: a system call) copies nothing. `env_tf` is written when the
/// CPU lets the env go (`deschedule`) and read when a CPU takes it (`dispatch`); nobody else
/// reads or writes an on-CPU env's registers (the lifecycle keeps DYING envs and receivers off
/// other CPUs).
#[inline(always)]
pub fn live_frame(k: &mut Kernel) -> &mut Trapframe {
    LiveFrame::of(k).get(k)
}

/// The env table and this CPU's live frame together (disjoint memory, both reached through
/// the token): for the code that moves registers between an env's record and the CPU.
#[inline(always)]
pub fn table_frame(k: &mut Kernel) -> (&mut EnvTable, &mut Trapframe) {
    LiveFrame::of(k).with_table(k)
}

/// A handle on this CPU's live frame: its address, which only the big lock's token turns
/// into a reference ([`LiveFrame::get`], borrowing the token as [`live_frame`] does). The
/// trap path makes one from the frame `_alltraps` passed it ([`LiveFrame::from_trap`]), so
/// the frame's address is the one already in a register, not computed again from the CPU
/// number: the same rule as `live_frame`, at no cost.
///
/// Not `Send` (a raw pointer): it stays on the CPU whose frame it is.
#[derive(Clone, Copy)]
pub struct LiveFrame(*mut Trapframe);

impl LiveFrame {
    /// The live frame of `k`'s CPU.
    #[inline(always)]
    pub fn of(k: &Kernel) -> LiveFrame {
        LiveFrame(live_frame_ptr(k.cpu()))
    }

    /// The frame `_alltraps` built for a trap from user mode (not from V86 mode).
    ///
    /// # Safety
    /// `tf` is that frame, so it is this CPU's live frame: the CPU switched to its TSS esp0,
    /// this CPU's kernel stack top, and `_alltraps` built the frame right below it.
    #[inline(always)]
    pub unsafe fn from_trap(tf: *mut Trapframe) -> LiveFrame {
        LiveFrame(tf)
    }

    /// The frame, for as long as the token is borrowed.
    #[inline(always)]
    pub fn get(self, _k: &mut Kernel) -> &mut Trapframe {
        // SAFETY: `self` is this CPU's live frame (`of` computed it for the token's CPU, which
        // `lock_kernel_as`'s contract makes this CPU; `from_trap`'s contract; and the handle
        // never leaves the CPU). It lies above everything on this CPU's kernel stack (the
        // stack starts below it, in the trap path and on boot), is written by the CPU only on
        // a trap from user mode (none can arrive here: the kernel runs with interrupts off),
        // and is any bit pattern's `Trapframe` (plain integers). It is reached only through
        // the token, whose exclusive borrow makes this the only reference to it.
        unsafe { &mut *self.0 }
    }

    /// The frame's address, for the return to user mode once the token is given up
    /// (`enter_user_from`).
    // HANDOUT: #[allow(dead_code)] // the system call entry's fast return's (challenge 4.8)
    #[inline(always)]
    pub fn as_ptr(self) -> *mut Trapframe {
        self.0
    }

    /// The env table and the frame together (disjoint memory, both the token's).
    #[inline(always)]
    pub fn with_table(self, k: &mut Kernel) -> (&mut EnvTable, &mut Trapframe) {
        let frame: *mut Trapframe = self.get(k);
        // SAFETY: as in `get`; the env table (a static) does not overlap the kernel stack,
        // so the two borrows of the token's state are disjoint and both end with it.
        (table(k), unsafe { &mut *frame })
    }
}

/// CPU `cpu` lets go of its env `i`: its registers and FPU state go back into its records, and
/// the lifecycle decides whether it is runnable, blocked, or to be freed now (DYING, or an
/// orphan that suspended itself).
pub(super) fn deschedule(t: &mut EnvTable, frame: &Trapframe, cpu: CpuId, i: EnvIdx) {
    if t.must(i, Event::Deschedule).life() == Life::Free {
        env_free(t, cpu, i);
        return;
    }
    // This CPU's live frame holds env i's registers (it ran here until now).
    t.env(i).env_tf = *frame;
    // The FPU holds env i's state.
    fpu::save(t.fpu_area(i));
    cpu::cpu(cpu).set_env(None);
}

/// Make the env running on `k`'s CPU let go of it (sched_halt).
pub fn deschedule_current(k: &mut Kernel) {
    let cpu = k.cpu();
    if let Some(i) = cpu::cpu(cpu).env() {
        let (t, frame) = table_frame(k);
        deschedule(t, frame, cpu, i);
    }
}

/// Context switch from curenv to env `i`, which must be RUNNABLE or be this CPU's current env.
/// This function does not return: it releases the big kernel lock and enters user mode.
/// Inlined: its common case (the env that trapped goes on) is a few instructions; the switch
/// itself is `switch_to`, out of line.
#[inline(always)]
pub fn env_run(mut k: Kernel, i: EnvIdx) -> ! {
    // LAB 3: BEGIN env_run
    // HINT: Switch to env i if it is not this CPU's env already (switch_to), count the run, release
    // HINT: the big lock, and pop its trap frame (this CPU's live frame) with env_pop_tf.
    let cpu = k.cpu();
    // Step 1: if this is a context switch, the current env leaves the CPU and env i takes it.
    // Resuming the env that trapped (every system call) skips all of it.
    if cpu::cpu(cpu).env() != Some(i) {
        let (t, frame) = table_frame(&mut k);
        switch_to(t, frame, cpu, i);
    }
    let e = table(&mut k).env(i);
    e.env_runs = e.env_runs.wrapping_add(1);
    k.unlock();
    pmap::leaving_for_user(cpu);
    enter_user(cpu)
    // LAB 3: END env_run
}

/// Return to env `i`, which trapped on `k`'s CPU and may go on running there (its state
/// `continues()`: it is still this CPU's env, since only a switch or a halt takes an env off
/// a CPU, and neither returns): `env_run` without the test for a switch (the end of a system
/// call).
#[inline(always)]
pub fn env_resume(mut k: Kernel, i: EnvIdx) -> ! {
    // CHALLENGE: BEGIN env_resume
    // STUB: env_run(k, i)
    let cpu = k.cpu();
    debug_assert!(cpu::cpu(cpu).env() == Some(i));
    let e = table(&mut k).env(i);
    e.env_runs = e.env_runs.wrapping_add(1);
    k.unlock();
    pmap::leaving_for_user(cpu);
    enter_user(cpu)
    // CHALLENGE: END env_resume
}

/// `env_resume` for the system call entry, which holds the live frame's address `tf` (the
/// frame the env trapped with, on this CPU): the return pops it without computing it again,
/// with `eax` (the call's result) stored into it. (Stored here, after the env's record is
/// written, so that the record's address computed for the call is still known: the frame
/// could alias it as far as the compiler knows.)
#[inline(always)]
pub fn env_resume_from(mut k: Kernel, i: EnvIdx, frame: LiveFrame, eax: u32) -> ! {
    // CHALLENGE: BEGIN env_resume_from
    // STUB: frame.get(&mut k).tf_regs.reg_eax = eax;
    // STUB: env_resume(k, i)
    let cpu = k.cpu();
    debug_assert!(cpu::cpu(cpu).env() == Some(i));
    debug_assert!(core::ptr::eq(frame.as_ptr(), live_frame_ptr(cpu)));
    let e = table(&mut k).env(i);
    e.env_runs = e.env_runs.wrapping_add(1);
    frame.get(&mut k).tf_regs.reg_eax = eax; // (after the record's write: see above)
    k.unlock();
    pmap::leaving_for_user(cpu);
    // SAFETY: `frame` is this CPU's live frame (the entry built it there), complete; the lock
    // is released and nothing else refers to the frame.
    unsafe { enter_user_from(frame.as_ptr()) }
    // CHALLENGE: END env_resume_from
}

/// CPU `cpu` switches from its env (if any) to env `i`: registers, address space, FPU state.
#[inline(never)]
fn switch_to(t: &mut EnvTable, frame: &mut Trapframe, cpu: CpuId, i: EnvIdx) {
    // LAB 3: BEGIN switch_to
    // HINT: The current env (if any) leaves the CPU (deschedule); env i takes it: the Dispatch
    // HINT: event, this CPU's env, its registers into the live frame, its page directory, its FPU.
    let this = cpu::cpu(cpu);
    if let Some(c) = this.env() {
        deschedule(t, frame, cpu, c);
    }
    // Step 2: env i takes the CPU: its registers, address space and FPU state.
    t.must(i, Event::Dispatch { cpu });
    t.handoff[cpu.index()] = Link::NONE;
    this.set_env(Some(i));
    let e = t.env(i);
    e.env_cpunum = cpu.index() as i32;
    // The live frame is this CPU's, no env's until now.
    *frame = e.env_tf;
    let pgdir = t.pgdir(i);
    pmap::load_pgdir(pgdir);
    // SAFETY: env i's area holds its state (saved at its last deschedule, or the clean
    // template, or its parent's copy).
    unsafe { fpu::restore(t.fpu_area(i)) };
    // The first user instruction comes through here (no env ran on this CPU before).
    crate::bench::before_user_return();
    // LAB 3: END switch_to
}

/// Address of env `i`'s saved trapframe (what JOS's trapframe dump prints).
pub fn env_tf_kva(i: EnvIdx) -> u32 {
    // Derived from the array's fixed address: no need to take the envs lock on every trap.
    (pmap::envs_kva() + (i.index() * core::mem::size_of::<Env>()) as u32).get()
}

/// Copy the live registers `frame` of env `i`, running on this CPU, into its `env_tf`
/// (before printing the trapframe JOS prints from there).
pub fn sync_tf(t: &mut EnvTable, frame: &Trapframe, i: EnvIdx) {
    t.env(i).env_tf = *frame;
}
