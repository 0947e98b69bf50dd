//! The env-table side of IPC (JOS keeps it in `struct Env` and kern/syscall.c): blocking a
//! receiver, delivering a message, the queue of senders blocked in `sys_ipc_send` on a
//! receiver, and the hand-off hint that runs a woken receiver next.

use jos_inc::env::EnvStatus;
use jos_inc::error::Result;
use jos_inc::trap::Trapframe;
use kern_logic::envid::{EnvId, EnvIdx};
use kern_logic::lifecycle::{self, EnvState, Event, Life, Shortcut};
use kern_logic::links::Link;

use crate::cpu::{self, CpuId};
use crate::fpu;
use crate::pmap;
use crate::spinlock::Kernel;

use super::*;

impl EnvTable {
    /// Run `i` next on CPU `cpu` when its current env blocks (if `i` can run then).
    pub fn set_handoff(&mut self, cpu: CpuId, i: EnvIdx) {
        self.handoff[cpu.index()] = Link::to(i);
    }

    /// Drop CPU `cpu`'s hand-off hint (a blocking call that did not hand off: the scheduler
    /// chooses, as after `take_handoff`).
    #[inline]
    pub fn set_handoff_none(&mut self, cpu: CpuId) {
        self.handoff[cpu.index()] = Link::NONE;
    }

    /// Take the IPC hand-off hint of CPU `cpu`: an env that is runnable now because the
    /// current env just sent it a message.
    #[inline(always)]
    pub fn take_handoff(&mut self, cpu: CpuId) -> Option<EnvIdx> {
        let h = core::mem::replace(&mut self.handoff[cpu.index()], Link::NONE).get()?;
        self.may_hand_off(h).then_some(h)
    }

    /// Whether env `h` may take this CPU at once from an env that blocks waiting for it: it
    /// is runnable, and never past a higher priority that is waiting (no inversion by
    /// hand-off).
    #[inline(always)]
    pub fn may_hand_off(&self, h: EnvIdx) -> bool {
        self.state(h).runnable()
            && self
                .runq
                .top_level()
                .is_some_and(|top| usize::from(self.kern[h].prio) >= top)
    }
}

// CHALLENGE: BEGIN sys_ipc_send-queue
// STUB: // (the queues of senders blocked on a receiver: the blocking send's)
/// Env `i`, running on `cpu`, blocks in sys_ipc_send until receiver `r` takes the message.
#[inline(always)]
pub fn block_send(t: &mut EnvTable, i: EnvIdx, r: EnvIdx, msg: [u32; 3]) {
    t.must_short_running(i, Shortcut::send_wait, Event::SendWait);
    t.kern[i].msg = msg;
    t.links.queue_sender(r, i);
}

/// The next sender blocked on receiver `r`, and its message (value, srcva, perm).
pub fn take_sender(t: &mut EnvTable, r: EnvIdx) -> Option<(EnvIdx, [u32; 3])> {
    let s = t.links.pop_sender(r)?;
    Some((s, t.kern[s].msg))
}

/// A blocked sender's send is over: its sys_ipc_send returns `result`. A sender in
/// `sys_ipc_send_recv` (its number still in the EAX its trap saved) whose message was taken
/// goes on to wait for its reply instead (SendDoneRecv), at the dstva it gave. (Inline: the
/// ping-pong's receive takes a waiting sender's message on every other hop.)
#[inline(always)]
pub fn finish_send(t: &mut EnvTable, s: EnvIdx, result: Result<()>) {
    // The sender is off every CPU (blocked), so its registers are in env_tf.
    let regs = &mut t.env(s).env_tf.tf_regs;
    if result.is_ok() && regs.reg_eax == jos_inc::syscall::SYS_IPC_SEND_RECV {
        t.must_ipc(s, Event::SendDoneRecv);
        return;
    }
    regs.reg_eax = jos_inc::error::to_abi(result.map(|()| 0)) as u32;
    t.must_short(s, Shortcut::send_done());
}

/// Env `i`, running on `cpu`, blocks in sys_ipc_send_recv until receiver `r` takes its message
/// (then it waits for its own, at `dstva`: see finish_send).
pub fn block_send_recv(t: &mut EnvTable, i: EnvIdx, r: EnvIdx, msg: [u32; 3], dstva: u32) {
    block_send(t, i, r, msg);
    t.env(i).env_ipc_dstva = dstva;
}
// CHALLENGE: END sys_ipc_send-queue

/// Env `i` blocks in sys_ipc_recv, to have a page mapped at `dstva` if below UTOP. (Inline,
/// as `deliver`.)
#[inline(always)]
pub fn block_recv(t: &mut EnvTable, i: EnvIdx, dstva: u32) {
    t.must_short_running(i, Shortcut::recv, Event::Recv);
    t.env(i).env_ipc_dstva = dstva;
}

/// Deliver a message to env `i`, blocked in sys_ipc_recv, from the env running on `cpu`: its
/// receive returns 0, and it is the env to hand the CPU to when the sender blocks. (Inline:
/// its callers have the receiver's record at hand, and the fast path is a dozen stores.)
#[inline(always)]
pub fn deliver(t: &mut EnvTable, cpu: CpuId, i: EnvIdx, from: EnvId, value: u32, perm: i32) {
    set_message(t, i, from, value, perm);
    // The receiver is off every CPU (receivers are), so its registers are in env_tf.
    message_regs(&mut t.env(i).env_tf.tf_regs, from, value, perm);
    t.must_short(i, Shortcut::deliver());
    t.handoff[cpu.index()] = Link::to(i);
}

/// The message fields of env `i`'s `Env` (what `ipc_recv` reads after the call).
pub fn set_message(t: &mut EnvTable, i: EnvIdx, from: EnvId, value: u32, perm: i32) {
    let e = t.env(i);
    e.env_ipc_from = from.abi();
    e.env_ipc_value = value;
    e.env_ipc_perm = perm;
}

/// The registers of a receiver, blocked in a receive, as its system call returns with a
/// message: EAX = 0; and if the call was `SYS_IPC_SEND_RECV` (its number is still in the EAX
/// its trap saved), the message itself, which that call returns in registers (Liedtke's
/// "message in registers"): EDX = value, ECX = sender, EBX = permissions. Any other receive
/// keeps every register but EAX, as JOS's ABI says; its message is in `envs[]` (as it is
/// for every receiver).
#[inline]
fn message_regs(regs: &mut jos_inc::trap::PushRegs, from: EnvId, value: u32, perm: i32) {
    // CHALLENGE: BEGIN sys_ipc_send_recv-regs
    // STUB: let _ = (from, value, perm);
    if regs.reg_eax == jos_inc::syscall::SYS_IPC_SEND_RECV {
        regs.reg_edx = value;
        regs.reg_ecx = from.abi() as u32;
        regs.reg_ebx = perm as u32;
    }
    // CHALLENGE: END sys_ipc_send_recv-regs
    regs.reg_eax = 0;
}

// ---- the IPC fast path (not in JOS) ------------------------------------------------------
//
// Liedtke, "Improving IPC by Kernel Design": when a message wakes a receiver and the sender
// then waits, switch straight from the one to the other, no scheduler pass, and touch only
// what the switch needs. The lifecycle steps are the ones `deliver`, `block_recv` and
// `env_run` take (Deliver, Recv, Deschedule, Dispatch), decided by the same state machine;
// what is special is the bookkeeping: for the shape handled here the steps' effect on the run
// set and the active count is known (see `handoff`), so it is applied directly instead of
// being found by comparing every state before and after (`apply`, about 120 instructions a
// step). Any other shape takes the general path.

impl EnvTable {
    /// Env `cur`, running on `cpu`, lets go of the CPU for env `to`, which takes it. If
    /// `fused`, `cur` is still running and blocks to receive now (Recv) and `to`, blocked
    /// receiving, gets its message now (Deliver: `sys_ipc_send_recv`); else `cur` has blocked
    /// already (in a receive or a send) and `to` is runnable (the hand-off after a send).
    ///
    /// Then Deschedule for `cur` and Dispatch for `to`, with registers, address space and
    /// FPU state switched as `switch_to` does (`frame`, this CPU's live frame, then holds
    /// `to`'s registers). Returns false, having changed nothing, unless
    /// the steps take `cur` to a live state that is not runnable (so not freed: not dying,
    /// not an orphan suspending itself) and `to` from runnable (after Deliver, if fused) to
    /// running, and `to`'s priority is at least the highest runnable one (as `take_handoff`).
    /// For that shape, `cur` leaves the active count and the run set had neither env before
    /// nor has after, except that, when not fused, `to` was runnable: it leaves the run set,
    /// and the active count gains no one (`to` was active already), where fused it gains `to`.
    #[inline(always)]
    fn handoff(
        &mut self,
        frame: &mut Trapframe,
        cpu: CpuId,
        cur: EnvIdx,
        to: EnvIdx,
        fused: bool,
    ) -> bool {
        let (c0, t0) = (self.kern[cur].state, self.kern[to].state);
        // The common cases through lifecycle shortcuts (a mask and compare each); the shape
        // holds by their cases: `cur` from running (active) to blocked off the CPU (live,
        // not runnable), `to` runnable (after Deliver, if fused) to running.
        let (sc_cur, sc_to) = if fused {
            (
                Shortcut::recv_deschedule(cpu),
                Shortcut::deliver_dispatch(cpu),
            )
        } else if c0.recving() {
            (
                Shortcut::deschedule_blocked(cpu, true),
                Shortcut::dispatch(cpu),
            )
        } else {
            (
                Shortcut::deschedule_blocked(cpu, false),
                Shortcut::dispatch(cpu),
            )
        };
        let (c2, t2, short) = match (sc_cur.take(c0), sc_to.take(t0)) {
            (Some(c2), Some(t2)) => (c2, t2, true),
            _ => match Self::handoff_steps(c0, t0, cpu, fused) {
                Some((c2, t2)) => (c2, t2, false),
                None => return false,
            },
        };
        // No inversion by hand-off (as take_handoff): `to` runs now only if nothing runnable
        // has a higher priority. (Not fused, `to` came from take_handoff, which checked.)
        if fused
            && self
                .runq
                .top_level()
                .is_some_and(|top| usize::from(self.kern[to].prio) < top)
        {
            return false;
        }
        // What the shortcuts' states publish (`Shortcut::to`: the tests in kern_logic hold
        // them to these), without the table lookups.
        let (c_status, t_status) = if short {
            (EnvStatus::NotRunnable, EnvStatus::Running)
        } else {
            (c2.status(), t2.status())
        };
        self.kern[cur].state = c2;
        self.kern[to].state = t2;
        if !fused {
            self.runq_remove(to);
            self.nactive -= 1;
        }
        let e = self.env(cur);
        e.env_status = c_status.into();
        e.env_ipc_recving = c2.recving();
        let out = &raw mut e.env_tf;
        self.handoff[cpu.index()] = Link::NONE;
        cpu::cpu(cpu).set_env(Some(to));
        let e = self.env(to);
        e.env_status = t_status.into();
        e.env_ipc_recving = false;
        e.env_cpunum = cpu.index() as i32;
        let inn = &raw const e.env_tf;
        let save_to = &raw mut *self.fpu_area(cur);
        let restore_from = &raw const *self.fpu_area(to);
        // SAFETY: `frame` is this CPU's live frame, holding cur's registers (it ran here until
        // now); `out` and `inn` are cur's and to's saved frames (two envs: distinct), as are
        // their save areas; the FPU holds cur's state, and to's area holds its own (saved when
        // it last left a CPU, or the template).
        unsafe { fpu::switch_frames(save_to, out, frame, inn, restore_from) };
        pmap::load_pgdir(self.pgdir(to));
        true
    }

    /// `handoff`'s steps by `lifecycle::step`, for the states no shortcut covers: `cur`'s
    /// and `to`'s new states if the steps take them to the shape `handoff` needs.
    fn handoff_steps(
        c0: EnvState,
        t0: EnvState,
        cpu: CpuId,
        fused: bool,
    ) -> Option<(EnvState, EnvState)> {
        let (c1, t1) = if fused {
            (
                lifecycle::step(c0, Event::Recv).ok()?,
                lifecycle::step(t0, Event::Deliver).ok()?,
            )
        } else {
            (c0, t0)
        };
        let c2 = lifecycle::step(c1, Event::Deschedule).ok()?;
        let t2 = lifecycle::step(t1, Event::Dispatch { cpu }).ok()?;
        (c2.life() == Life::Live && !c2.runnable() && t1.runnable() && c0.active())
            .then_some((c2, t2))
    }

    /// Whether any env is runnable (in the run set, at any priority).
    #[inline]
    pub fn any_runnable(&self) -> bool {
        !self.runq.is_empty()
    }

    // CHALLENGE: BEGIN sys_ipc_send-queued
    // STUB: // (whether senders wait on an env: the blocking send's)
    /// Whether senders are queued on env `i` (blocked in sys_ipc_send until it receives).
    #[inline]
    pub fn has_senders(&self, i: EnvIdx) -> bool {
        self.links.has_senders(i)
    }
    // CHALLENGE: END sys_ipc_send-queued
}

/// The current env of `k`'s CPU has blocked (in a receive or a send) after waking env `to`,
/// which `EnvTable::take_handoff` just gave (so it may run before any other): run `to` now,
/// through the fast path if it applies (see `EnvTable::handoff`), else as env_run does.
#[inline(always)]
pub fn run_blocked_to(mut k: Kernel, to: EnvIdx) -> ! {
    let cpu = k.cpu();
    if let Some(cur) = cpu::cpu(cpu).env() {
        let (t, frame) = table_frame(&mut k);
        if t.handoff(frame, cpu, cur, to, false) {
            // `to` is this CPU's env now: no switch left for env_run to test for.
            env_resume(k, to)
        }
    }
    // (After a fast hand-off `to` is this CPU's env, and env_run only returns to it.)
    env_run(k, to)
}

// CHALLENGE: BEGIN sys_ipc_send_recv-switch
// STUB: // (the combined send and receive's switch)
/// sys_ipc_send_recv's second half, the fast path proper: env `cur`, running on `k`'s CPU,
/// has sent a message (from `from`, `value`, page permissions `perm`) to env `to`, blocked
/// receiving, and now blocks receiving at `dstva`; `to` takes the CPU at once if it can
/// (`EnvTable::handoff`: one switch, no scheduler pass), its message in registers if it asked
/// for that. Otherwise the same as `deliver`, `block_recv` and a hand-off through the
/// scheduler's rules.
pub fn send_recv_switch(
    mut k: Kernel,
    cur: EnvIdx,
    to: EnvIdx,
    (from, value, perm): (EnvId, u32, i32),
    dstva: u32,
) -> ! {
    let cpu = k.cpu();
    let (t, frame) = table_frame(&mut k);
    set_message(t, to, from, value, perm);
    if t.handoff(frame, cpu, cur, to, true) {
        t.env(cur).env_ipc_dstva = dstva;
        // The live frame holds `to`'s registers now (handoff copied them in).
        message_regs(&mut frame.tf_regs, from, value, perm);
        // `to` is this CPU's env now (as in run_blocked_to).
        env_resume(k, to)
    }
    message_regs(&mut t.env(to).env_tf.tf_regs, from, value, perm);
    t.must_ipc(to, Event::Deliver);
    t.handoff[cpu.index()] = Link::to(to);
    block_recv(t, cur, dstva);
    match t.take_handoff(cpu) {
        Some(h) => run_blocked_to(k, h),
        None => crate::sched::sched_yield(k),
    }
}
// CHALLENGE: END sys_ipc_send_recv-switch
