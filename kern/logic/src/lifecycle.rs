//! The environment lifecycle as an explicit state machine.
//!
//! JOS keeps one field, `env_status`, and every path writes it directly. On SMP that is unsafe:
//! `sys_env_set_status` could overwrite RUNNING for an env executing on another CPU (so a
//! second CPU ran it at the same time, or a destroy freed it under the first CPU's feet), a
//! second destroy of a DYING env freed it at once, and waking a receiver with `set_status`
//! returned garbage from its `sys_ipc_recv` while leaving it marked receiving.
//!
//! Here the state an env is in is a record of independent facts, and [`step`] is the one place
//! that changes it:
//! - `life`: free, live, or dying (destroyed while a CPU runs it; freed when that CPU lets go),
//! - `cpu`: which CPU is executing it, kept apart from the status, so "running" is never a
//!   value a system call can write,
//! - `suspended`: held off the CPU by `sys_env_set_status(NOT_RUNNABLE)` (or created so by
//!   `sys_exofork`); orthogonal to blocking, so it never cancels a receive,
//! - `recving`: blocked in `sys_ipc_recv` until a message is delivered,
//! - `sending`: blocked in `sys_ipc_send` until its receiver takes the message (not in JOS,
//!   whose senders poll; one of its lab 4 challenges),
//! - `orphan`: its parent is gone (or it never had one), so nobody may change its status.
//!
//! JOS's `env_status` is derived from these ([`EnvState::status`]), as is membership of the
//! scheduler's run set ([`EnvState::runnable`]). An env that can provably never run again
//! (an orphan that is suspended and off every CPU: only its parent could resume it) is
//! reclaimed: the step moves it to `Free` and the kernel frees it.
//!
//! Every (state, event) pair is either a transition or a refusal; `tests` enumerates them all.

use bit_field::BitField;
use jos_inc::env::EnvStatus;

use crate::cpuid::CpuId;

/// Whether the slot holds an environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Life {
    Free,
    Live,
    /// Destroyed while a CPU runs it: freed when that CPU next enters the kernel.
    Dying,
}

/// The kernel's view of one environment, packed in one 16-bit word: the scheduler tests it
/// on every trap and switch, so "may it go on running" is one mask and compare, not a field
/// per fact.
///
/// | bits | field |
/// |------|-------|
/// | 0-1  | life: 0 free, 1 live, 2 dying |
/// | 2    | suspended |
/// | 3    | recving |
/// | 4    | sending |
/// | 5    | orphan |
/// | 8-15 | the CPU running it, plus one (0: none) |
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnvState(u16);

const LIFE: core::ops::Range<usize> = 0..2;
const SUSPENDED: usize = 2;
const RECVING: usize = 3;
const SENDING: usize = 4;
const ORPHAN: usize = 5;
const CPU: core::ops::Range<usize> = 8..16;

/// The bits of a field.
const fn field(bits: core::ops::Range<usize>) -> u16 {
    (((1u32 << (bits.end - bits.start)) - 1) << bits.start) as u16
}
const fn bit(i: usize) -> u16 {
    1 << i
}
/// The bits that decide whether an env may keep its CPU: live, not suspended, not blocked.
const CONT_MASK: u16 = field(LIFE) | bit(SUSPENDED) | bit(RECVING) | bit(SENDING);
/// The bits that decide whether an env may be given a CPU: those, and off every CPU.
const RUN_MASK: u16 = CONT_MASK | field(CPU);
const LIVE: u16 = Life::Live as u16;
const _: () = assert!(RUN_MASK == 0xFF1F && CONT_MASK == 0x1F);

impl EnvState {
    /// A free slot.
    pub const FREE: EnvState = EnvState(0);

    #[inline]
    pub fn new(
        life: Life,
        cpu: Option<CpuId>,
        suspended: bool,
        recving: bool,
        sending: bool,
        orphan: bool,
    ) -> EnvState {
        let mut s = EnvState(0);
        s.set_life(life);
        s.set_cpu(cpu);
        s.0.set_bit(SUSPENDED, suspended);
        s.0.set_bit(RECVING, recving);
        s.0.set_bit(SENDING, sending);
        s.0.set_bit(ORPHAN, orphan);
        s
    }

    #[inline]
    pub fn life(&self) -> Life {
        match self.0.get_bits(LIFE) {
            0 => Life::Free,
            1 => Life::Live,
            _ => Life::Dying,
        }
    }
    #[inline]
    fn set_life(&mut self, l: Life) {
        self.0.set_bits(LIFE, l as u16);
    }

    /// The CPU executing the env (in user mode, or in the kernel on its behalf).
    #[inline]
    pub fn cpu(&self) -> Option<CpuId> {
        // (The field holds a CPU number below NCPU, plus one, or 0.)
        (self.0.get_bits(CPU) as usize)
            .checked_sub(1)
            .map(CpuId::wrapping)
    }
    #[inline]
    fn set_cpu(&mut self, cpu: Option<CpuId>) {
        self.0
            .set_bits(CPU, cpu.map_or(0, |c| c.index() as u16 + 1));
    }

    #[inline]
    pub fn suspended(&self) -> bool {
        self.0.get_bit(SUSPENDED)
    }
    #[inline]
    pub fn recving(&self) -> bool {
        self.0.get_bit(RECVING)
    }
    #[inline]
    pub fn sending(&self) -> bool {
        self.0.get_bit(SENDING)
    }
    #[inline]
    pub fn orphan(&self) -> bool {
        self.0.get_bit(ORPHAN)
    }

    /// Destroyed while running: to be freed when its CPU lets go.
    #[inline]
    pub fn dying(&self) -> bool {
        self.0.get_bits(LIFE) == Life::Dying as u16
    }

    /// Blocked in a receive or a send.
    #[inline]
    pub fn blocked(&self) -> bool {
        self.recving() || self.sending()
    }

    /// In the run set: live, wanting the CPU, and on none.
    #[inline]
    pub fn runnable(&self) -> bool {
        self.0 & RUN_MASK == LIVE
    }

    /// May keep its CPU after a trap (live, not suspended, not blocked).
    #[inline]
    pub fn continues(&self) -> bool {
        self.0 & CONT_MASK == LIVE
    }

    /// JOS's `env_status`, as user space reads it in `envs[]`: free, dying, running (on a
    /// CPU), runnable (live and neither suspended nor blocked), else not runnable.
    ///
    /// A table lookup on the bits that decide it, since every lifecycle event publishes it
    /// (four per IPC hop): the match this replaces ([`EnvState::status_by_rules`], which the
    /// tests hold it to for every state) cost a few dozen instructions.
    #[inline]
    pub fn status(&self) -> EnvStatus {
        STATUS[self.status_key()]
    }

    /// The index into `STATUS` and `ACTIVE`: life (bits 0-1), "suspended or blocked" (bit 2),
    /// on a CPU (bit 3).
    #[inline]
    fn status_key(&self) -> usize {
        let held = (self.0 & 0x1C != 0) as usize;
        let on_cpu = (self.0 >> 8 != 0) as usize;
        (self.0 & 3) as usize | held << 2 | on_cpu << 3
    }

    /// [`EnvState::status`] by its rules, for the tests.
    #[cfg(test)]
    fn status_by_rules(&self) -> EnvStatus {
        match self.life() {
            Life::Free => EnvStatus::Free,
            Life::Dying => EnvStatus::Dying,
            Life::Live if self.cpu().is_some() => EnvStatus::Running,
            Life::Live if self.continues() => EnvStatus::Runnable,
            Life::Live => EnvStatus::NotRunnable,
        }
    }

    /// Counted by the scheduler's "anything left to do?" test (JOS's sched_halt: RUNNABLE,
    /// RUNNING or DYING).
    #[inline]
    pub fn active(&self) -> bool {
        ACTIVE[self.status_key()]
    }
}

/// `status()` by `status_key()`: life 0 free, 1 live, 2 dying (3 is never stored); bit 2
/// suspended or blocked; bit 3 on a CPU.
const STATUS: [EnvStatus; 16] = {
    use EnvStatus::*;
    [
        // off every CPU: free, live (runnable), dying, -; then held: free, live, dying, -
        Free,
        Runnable,
        Dying,
        Dying,
        Free,
        NotRunnable,
        Dying,
        Dying,
        // on a CPU: the same, but a live env is running (held or not: a running env that
        // blocks or is suspended is still RUNNING until its CPU lets go)
        Free,
        Running,
        Dying,
        Dying,
        Free,
        Running,
        Dying,
        Dying,
    ]
};

/// `active()` by `status_key()`: RUNNABLE, RUNNING or DYING.
const ACTIVE: [bool; 16] = {
    let mut a = [false; 16];
    let mut k = 0;
    while k < 16 {
        a[k] = matches!(
            STATUS[k],
            EnvStatus::Runnable | EnvStatus::Running | EnvStatus::Dying
        );
        k += 1;
    }
    a
};

impl core::fmt::Debug for EnvState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EnvState")
            .field("life", &self.life())
            .field("cpu", &self.cpu())
            .field("suspended", &self.suspended())
            .field("recving", &self.recving())
            .field("sending", &self.sending())
            .field("orphan", &self.orphan())
            .finish()
    }
}

/// What happens to an environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// A free slot becomes an env: `suspended` for `sys_exofork`'s child, `orphan` for envs
    /// the kernel creates (they have no parent).
    Alloc { suspended: bool, orphan: bool },
    /// `sys_env_set_status` (RUNNABLE when `runnable`, else NOT_RUNNABLE), by the parent or
    /// the env itself.
    SetStatus { runnable: bool },
    /// Destruction (a system call, a fault, exit), issued on CPU `by`.
    Destroy { by: CpuId },
    /// CPU `cpu` starts running the env.
    Dispatch { cpu: CpuId },
    /// The CPU running the env lets go of it (runs another or halts).
    Deschedule,
    /// The env, running, blocks in `sys_ipc_recv`.
    Recv,
    /// A message was delivered to the env blocked in `sys_ipc_recv`.
    Deliver,
    /// The env, running, blocks in `sys_ipc_send` until its receiver takes the message.
    SendWait,
    /// The blocked sender's message was taken (or refused, or its receiver died).
    SendDone,
    /// The blocked sender's message was taken, and it waits to receive now
    /// (`sys_ipc_send_recv`, whose send had to wait: not in JOS).
    SendDoneRecv,
    /// The env's parent was freed.
    ParentGone,
}

/// Why an event is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The env is gone or going (JOS's -E_BAD_ENV).
    BadEnv,
    /// A message for an env that is not receiving (JOS's -E_IPC_NOT_RECV).
    NotRecv,
    /// The kernel asked for something its own invariants exclude: a kernel bug.
    Illegal,
}

/// Apply `event` to `s`. On success the new state; a new state of `Life::Free` from a live or
/// dying one means "free it now".
///
/// Always inlined: the kernel's IPC fast path takes four steps per message with events known
/// at compile time, which then fold to a few instructions each (a call was about 38).
#[inline(always)]
pub fn step(s: EnvState, event: Event) -> Result<EnvState, Refusal> {
    use Life::*;
    let mut n = s;
    match (s.life(), event) {
        (Free, Event::Alloc { suspended, orphan }) => {
            n = EnvState::new(Live, None, suspended, false, false, orphan);
        }
        (_, Event::Alloc { .. }) => return Err(Refusal::Illegal),

        (Live, Event::SetStatus { runnable }) => {
            n.0.set_bit(SUSPENDED, !runnable);
        }
        (Free | Dying, Event::SetStatus { .. }) => return Err(Refusal::BadEnv),

        (Free, Event::Destroy { .. }) => return Err(Refusal::BadEnv),
        // Idempotent: the CPU running it frees it.
        (Dying, Event::Destroy { .. }) => {}
        (Live, Event::Destroy { by }) => match s.cpu() {
            // Off every CPU, or running right here on the destroyer's behalf: free now.
            None => n = EnvState::FREE,
            Some(c) if c == by => n = EnvState::FREE,
            // Running elsewhere: that CPU frees it when it next enters the kernel.
            Some(_) => n.set_life(Dying),
        },

        (Live, Event::Dispatch { cpu }) if s.runnable() => n.set_cpu(Some(cpu)),
        (_, Event::Dispatch { .. }) => return Err(Refusal::Illegal),

        (Live | Dying, Event::Deschedule) if s.cpu().is_some() => {
            n.set_cpu(None);
            if s.life() == Dying || (s.orphan() && s.suspended()) {
                n = EnvState::FREE;
            }
        }
        (_, Event::Deschedule) => return Err(Refusal::Illegal),

        (Live, Event::Recv) if s.cpu().is_some() && !s.blocked() => {
            n.0.set_bit(RECVING, true);
        }
        (_, Event::Recv) => return Err(Refusal::Illegal),

        (Live, Event::SendWait) if s.cpu().is_some() && !s.blocked() => {
            n.0.set_bit(SENDING, true);
        }
        (_, Event::SendWait) => return Err(Refusal::Illegal),

        (Live, Event::SendDone) if s.sending() => {
            n.0.set_bit(SENDING, false);
        }
        (_, Event::SendDone) => return Err(Refusal::Illegal),

        // Blocked before and after: only what it waits for changes.
        (Live, Event::SendDoneRecv) if s.sending() => {
            n.0.set_bit(SENDING, false);
            n.0.set_bit(RECVING, true);
        }
        (_, Event::SendDoneRecv) => return Err(Refusal::Illegal),

        (Live, Event::Deliver) if s.recving() => {
            n.0.set_bit(RECVING, false);
        }
        (Live, Event::Deliver) => return Err(Refusal::NotRecv),
        (Free | Dying, Event::Deliver) => return Err(Refusal::BadEnv),

        (Free, Event::ParentGone) => return Err(Refusal::Illegal),
        (Live | Dying, Event::ParentGone) => {
            n.0.set_bit(ORPHAN, true);
            if s.life() == Live && s.suspended() && s.cpu().is_none() {
                n = EnvState::FREE;
            }
        }
    }
    Ok(n)
}

/// The IPC fast path's steps as a mask and compare (not in JOS). `step` decides by a match on
/// the state's fields, a few dozen instructions however the event is known; one IPC hop
/// takes four steps. A shortcut covers one common case: for every state `s` with
/// `s & mask == when`, taking `events` in order is `s` with the bits of `flip` toggled, and
/// `s` and that result publish exactly what `from` and `to` do (run-set membership, the
/// active count, JOS's `env_status` and `env_ipc_recving`), so a caller can publish `from` ->
/// `to`, two constants, and the bookkeeping folds away. The tests check this for every
/// 16-bit state and every CPU. Any other state takes `step`.
#[derive(Clone, Copy, Debug)]
pub struct Shortcut {
    /// The events, in order (the second may be absent).
    pub events: [Option<Event>; 2],
    mask: u16,
    when: u16,
    flip: u16,
    /// A state of the case, and what the events make of it: what the kernel publishes.
    pub from: EnvState,
    pub to: EnvState,
}

/// The CPU field's value for `cpu` (running on it).
#[inline(always)]
const fn on_cpu(cpu: CpuId) -> u16 {
    ((cpu.index() + 1) as u16) << CPU.start
}

/// `v` with CPU 0 in the CPU field if any CPU is there.
#[inline(always)]
const fn canonical(v: u16) -> u16 {
    if v & field(CPU) != 0 {
        (v & !field(CPU)) | on_cpu(CpuId::FIRST)
    } else {
        v
    }
}

impl Shortcut {
    /// The new state, if `s` is in the shortcut's case.
    #[inline(always)]
    pub fn take(&self, s: EnvState) -> Option<EnvState> {
        (s.0 & self.mask == self.when).then_some(EnvState(s.0 ^ self.flip))
    }

    /// A shortcut whose case is the live states with exactly the bits `held` (of suspended,
    /// recving, sending) and the CPU field `cpu` (any orphan bit); the events toggle `flip`.
    /// `from` and `to` are the case's non-orphan state and its result, with the CPU field of
    /// CPU 0 where one is set (what is published depends only on whether one is).
    #[inline(always)]
    const fn new(events: [Option<Event>; 2], held: u16, cpu: u16, flip: u16) -> Shortcut {
        let when = LIVE | held | cpu;
        Shortcut {
            events,
            mask: RUN_MASK,
            when,
            flip,
            from: EnvState(canonical(when)),
            to: EnvState(canonical(when ^ flip)),
        }
    }

    /// Deliver to an env blocked receiving, off every CPU and not suspended: it becomes
    /// runnable.
    #[inline(always)]
    pub const fn deliver() -> Shortcut {
        Self::new([Some(Event::Deliver), None], bit(RECVING), 0, bit(RECVING))
    }

    /// The env running on `cpu`, not held, blocks receiving (still on `cpu`).
    #[inline(always)]
    pub const fn recv(cpu: CpuId) -> Shortcut {
        Self::new([Some(Event::Recv), None], 0, on_cpu(cpu), bit(RECVING))
    }

    /// The env on `cpu`, blocked receiving (`recving`) or sending, lets go of the CPU.
    #[inline(always)]
    pub const fn deschedule_blocked(cpu: CpuId, recving: bool) -> Shortcut {
        let held = if recving { bit(RECVING) } else { bit(SENDING) };
        Self::new(
            [Some(Event::Deschedule), None],
            held,
            on_cpu(cpu),
            on_cpu(cpu),
        )
    }

    /// The env running on `cpu`, not held, blocks receiving and lets go of the CPU
    /// (`sys_ipc_send_recv`'s Recv then Deschedule).
    #[inline(always)]
    pub const fn recv_deschedule(cpu: CpuId) -> Shortcut {
        Self::new(
            [Some(Event::Recv), Some(Event::Deschedule)],
            0,
            on_cpu(cpu),
            bit(RECVING) | on_cpu(cpu),
        )
    }

    /// The env running on `cpu`, not held, blocks sending (still on `cpu`).
    #[inline(always)]
    pub const fn send_wait(cpu: CpuId) -> Shortcut {
        Self::new([Some(Event::SendWait), None], 0, on_cpu(cpu), bit(SENDING))
    }

    /// A blocked sender, off every CPU and not suspended, has had its message taken: it
    /// becomes runnable.
    #[inline(always)]
    pub const fn send_done() -> Shortcut {
        Self::new([Some(Event::SendDone), None], bit(SENDING), 0, bit(SENDING))
    }

    /// A runnable env starts running on `cpu`.
    #[inline(always)]
    pub const fn dispatch(cpu: CpuId) -> Shortcut {
        Self::new([Some(Event::Dispatch { cpu }), None], 0, 0, on_cpu(cpu))
    }

    /// An env blocked receiving, off every CPU and not suspended, gets its message and
    /// starts running on `cpu` (Deliver then Dispatch).
    #[inline(always)]
    pub const fn deliver_dispatch(cpu: CpuId) -> Shortcut {
        Self::new(
            [Some(Event::Deliver), Some(Event::Dispatch { cpu })],
            bit(RECVING),
            0,
            bit(RECVING) | on_cpu(cpu),
        )
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    const THIS: CpuId = CpuId::FIRST;
    const OTHER: CpuId = CpuId::wrapping(1);

    fn all_states() -> Vec<EnvState> {
        let mut v = Vec::new();
        for life in [Life::Free, Life::Live, Life::Dying] {
            for cpu in [None, Some(THIS), Some(OTHER)] {
                for suspended in [false, true] {
                    for (recving, sending) in [(false, false), (true, false), (false, true)] {
                        for orphan in [false, true] {
                            v.push(EnvState::new(
                                life, cpu, suspended, recving, sending, orphan,
                            ));
                        }
                    }
                }
            }
        }
        v
    }

    fn all_events() -> Vec<Event> {
        let mut v = Vec::new();
        for suspended in [false, true] {
            for orphan in [false, true] {
                v.push(Event::Alloc { suspended, orphan });
            }
        }
        v.push(Event::SetStatus { runnable: true });
        v.push(Event::SetStatus { runnable: false });
        v.push(Event::Destroy { by: THIS });
        v.push(Event::Dispatch { cpu: THIS });
        v.extend([
            Event::Deschedule,
            Event::Recv,
            Event::Deliver,
            Event::SendWait,
            Event::SendDone,
            Event::SendDoneRecv,
            Event::ParentGone,
        ]);
        v
    }

    /// The states the kernel can actually be in: a free slot is all-clear; only a running env
    /// can be dying; an env blocks in one call at a time.
    fn reachable(s: &EnvState) -> bool {
        !(s.recving() && s.sending())
            && match s.life() {
                Life::Free => *s == EnvState::FREE,
                Life::Dying => s.cpu().is_some(),
                Life::Live => true,
            }
    }

    /// What each (state, event) pair must do, written independently of `step`'s match.
    fn expected(s: EnvState, e: Event) -> Result<EnvState, Refusal> {
        let free = Ok(EnvState::FREE);
        // The expected state from s's fields, as a tuple edited by `f`.
        type Fields = (Life, Option<CpuId>, bool, bool, bool, bool);
        let with = |f: &dyn Fn(&mut Fields)| {
            let mut x: Fields = (
                s.life(),
                s.cpu(),
                s.suspended(),
                s.recving(),
                s.sending(),
                s.orphan(),
            );
            f(&mut x);
            Ok(EnvState::new(x.0, x.1, x.2, x.3, x.4, x.5))
        };
        match e {
            Event::Alloc { suspended, orphan } => {
                if s.life() != Life::Free {
                    Err(Refusal::Illegal)
                } else {
                    Ok(EnvState::new(
                        Life::Live,
                        None,
                        suspended,
                        false,
                        false,
                        orphan,
                    ))
                }
            }
            Event::SetStatus { runnable } => {
                if s.life() != Life::Live {
                    Err(Refusal::BadEnv)
                } else {
                    with(&|n| n.2 = !runnable)
                }
            }
            Event::Destroy { by } => match (s.life(), s.cpu()) {
                (Life::Free, _) => Err(Refusal::BadEnv),
                (Life::Dying, _) => Ok(s),
                (Life::Live, None) => free,
                (Life::Live, Some(c)) if c == by => free,
                (Life::Live, Some(_)) => with(&|n| n.0 = Life::Dying),
            },
            Event::Dispatch { cpu } => {
                let ok = s.life() == Life::Live
                    && s.cpu().is_none()
                    && !s.suspended()
                    && !s.recving()
                    && !s.sending();
                if ok {
                    with(&|n| n.1 = Some(cpu))
                } else {
                    Err(Refusal::Illegal)
                }
            }
            Event::Deschedule => {
                if s.life() == Life::Free || s.cpu().is_none() {
                    Err(Refusal::Illegal)
                } else if s.life() == Life::Dying || (s.orphan() && s.suspended()) {
                    free
                } else {
                    with(&|n| n.1 = None)
                }
            }
            Event::Recv | Event::SendWait => {
                if s.life() == Life::Live && s.cpu().is_some() && !s.recving() && !s.sending() {
                    if e == Event::Recv {
                        with(&|n| n.3 = true)
                    } else {
                        with(&|n| n.4 = true)
                    }
                } else {
                    Err(Refusal::Illegal)
                }
            }
            Event::SendDone => {
                if s.life() == Life::Live && s.sending() {
                    with(&|n| n.4 = false)
                } else {
                    Err(Refusal::Illegal)
                }
            }
            Event::SendDoneRecv => {
                if s.life() == Life::Live && s.sending() {
                    with(&|n| {
                        n.4 = false;
                        n.3 = true;
                    })
                } else {
                    Err(Refusal::Illegal)
                }
            }
            Event::Deliver => match s.life() {
                Life::Free | Life::Dying => Err(Refusal::BadEnv),
                Life::Live if s.recving() => with(&|n| n.3 = false),
                Life::Live => Err(Refusal::NotRecv),
            },
            Event::ParentGone => match s.life() {
                Life::Free => Err(Refusal::Illegal),
                Life::Live if s.suspended() && s.cpu().is_none() => free,
                _ => with(&|n| n.5 = true),
            },
        }
    }

    #[test]
    fn every_state_event_pair() {
        let (mut transitions, mut refusals) = (0, 0);
        for s in all_states() {
            for e in all_events() {
                let got = step(s, e);
                assert_eq!(got, expected(s, e), "state {s:?}, event {e:?}");
                match got {
                    Ok(_) => transitions += 1,
                    Err(_) => refusals += 1,
                }
            }
        }
        // 108 states x 15 events, every one decided.
        assert_eq!(transitions + refusals, 108 * 15);
    }

    #[test]
    fn packing_round_trips() {
        for life in [Life::Free, Life::Live, Life::Dying] {
            for cpu in [None, Some(0), Some(7)].map(|c| c.map(CpuId::wrapping)) {
                for bits in 0..16u8 {
                    let f = |b: u8| bits & (1 << b) != 0;
                    let s = EnvState::new(life, cpu, f(0), f(1), f(2), f(3));
                    assert_eq!(
                        (
                            s.life(),
                            s.cpu(),
                            s.suspended(),
                            s.recving(),
                            s.sending(),
                            s.orphan()
                        ),
                        (life, cpu, f(0), f(1), f(2), f(3))
                    );
                    // The one-mask tests agree with the fields.
                    let blocked = f(1) || f(2);
                    let cont = life == Life::Live && !f(0) && !blocked;
                    assert_eq!(s.continues(), cont);
                    assert_eq!(s.runnable(), cont && cpu.is_none());
                }
            }
        }
    }

    #[test]
    fn reachable_states_stay_reachable() {
        // From every reachable state, every event the kernel can issue (a refusal leaves the
        // state as it was) leads to a reachable state.
        for s in all_states().into_iter().filter(reachable) {
            for e in all_events() {
                if let Ok(n) = step(s, e) {
                    assert!(reachable(&n), "{s:?} --{e:?}--> unreachable {n:?}");
                }
            }
        }
    }

    #[test]
    fn running_is_never_written_by_a_syscall() {
        // Whatever set_status a parent issues, an env running on another CPU keeps running
        // there and does not enter the run set (so no second CPU can dispatch it).
        for s in all_states()
            .into_iter()
            .filter(|s| s.life() == Life::Live && s.cpu() == Some(OTHER))
        {
            for runnable in [true, false] {
                let n = step(s, Event::SetStatus { runnable }).unwrap();
                assert_eq!(n.cpu(), Some(OTHER));
                assert_eq!(n.status(), EnvStatus::Running);
                assert!(!n.runnable());
                assert_eq!(
                    step(n, Event::Dispatch { cpu: THIS }),
                    Err(Refusal::Illegal)
                );
            }
        }
    }

    #[test]
    fn destroy_of_a_running_env_is_deferred_and_idempotent() {
        let mut s = step(
            EnvState::FREE,
            Event::Alloc {
                suspended: false,
                orphan: false,
            },
        )
        .unwrap();
        s = step(s, Event::Dispatch { cpu: OTHER }).unwrap();
        s = step(s, Event::Destroy { by: THIS }).unwrap();
        assert_eq!((s.life(), s.status()), (Life::Dying, EnvStatus::Dying));
        // The second destroy changes nothing: in JOS it freed the env at once.
        assert_eq!(step(s, Event::Destroy { by: THIS }), Ok(s));
        // Nobody may touch a dying env.
        assert_eq!(
            step(s, Event::SetStatus { runnable: true }),
            Err(Refusal::BadEnv)
        );
        assert_eq!(step(s, Event::Deliver), Err(Refusal::BadEnv));
        // Its CPU lets go: now it is freed.
        assert_eq!(step(s, Event::Deschedule), Ok(EnvState::FREE));
    }

    #[test]
    fn suspension_does_not_cancel_a_receive() {
        let mut s = step(
            EnvState::FREE,
            Event::Alloc {
                suspended: false,
                orphan: false,
            },
        )
        .unwrap();
        s = step(s, Event::Dispatch { cpu: THIS }).unwrap();
        s = step(s, Event::Recv).unwrap();
        s = step(s, Event::Deschedule).unwrap();
        assert_eq!(s.status(), EnvStatus::NotRunnable);
        // "Waking" it with set_status leaves it blocked in the receive.
        s = step(s, Event::SetStatus { runnable: true }).unwrap();
        assert!(s.recving() && !s.runnable());
        // Suspended while receiving: a message is delivered, but it stays off the CPU.
        s = step(s, Event::SetStatus { runnable: false }).unwrap();
        s = step(s, Event::Deliver).unwrap();
        assert!(!s.recving() && !s.runnable());
        assert_eq!(step(s, Event::Deliver), Err(Refusal::NotRecv));
        s = step(s, Event::SetStatus { runnable: true }).unwrap();
        assert!(s.runnable());
    }

    #[test]
    fn a_blocked_sender_waits_off_the_cpu() {
        let mut s = step(
            EnvState::FREE,
            Event::Alloc {
                suspended: false,
                orphan: false,
            },
        )
        .unwrap();
        s = step(s, Event::Dispatch { cpu: THIS }).unwrap();
        s = step(s, Event::SendWait).unwrap();
        assert!(!s.continues());
        assert_eq!(step(s, Event::Recv), Err(Refusal::Illegal));
        s = step(s, Event::Deschedule).unwrap();
        assert_eq!(s.status(), EnvStatus::NotRunnable);
        assert!(!s.runnable());
        s = step(s, Event::SendDone).unwrap();
        assert!(s.runnable());
        assert_eq!(step(s, Event::SendDone), Err(Refusal::Illegal));
    }

    #[test]
    fn a_send_that_waited_can_turn_into_a_receive() {
        // sys_ipc_send_recv whose receiver was not waiting: blocked as a sender, then (its
        // message taken) blocked as a receiver, never runnable in between.
        let mut s = EnvState::new(Life::Live, Some(THIS), false, false, false, false);
        s = step(s, Event::SendWait).unwrap();
        s = step(s, Event::Deschedule).unwrap();
        s = step(s, Event::SendDoneRecv).unwrap();
        assert!(s.recving() && !s.sending() && !s.runnable());
        assert_eq!(s.status(), EnvStatus::NotRunnable);
        assert_eq!(step(s, Event::SendDoneRecv), Err(Refusal::Illegal));
        s = step(s, Event::Deliver).unwrap();
        assert!(s.runnable());
    }

    #[test]
    fn orphans_that_can_never_run_are_reclaimed() {
        // exofork's child, never started, parent dies.
        let child = step(
            EnvState::FREE,
            Event::Alloc {
                suspended: true,
                orphan: false,
            },
        )
        .unwrap();
        assert_eq!(step(child, Event::ParentGone), Ok(EnvState::FREE));
        // A runnable or receiving orphan may still run (anyone may send to a receiver).
        let r = EnvState::new(Life::Live, None, false, true, false, false);
        let n = step(r, Event::ParentGone).unwrap();
        assert!(n.orphan() && n.life() == Life::Live);
        // An orphan that suspends itself is freed when its CPU lets go.
        let mut o = step(
            EnvState::FREE,
            Event::Alloc {
                suspended: false,
                orphan: true,
            },
        )
        .unwrap();
        o = step(o, Event::Dispatch { cpu: THIS }).unwrap();
        o = step(o, Event::SetStatus { runnable: false }).unwrap();
        assert_eq!(step(o, Event::Deschedule), Ok(EnvState::FREE));
    }

    #[test]
    fn status_table_follows_the_rules() {
        for s in all_states() {
            assert_eq!(s.status(), s.status_by_rules(), "{:?}", s);
            assert_eq!(
                s.active(),
                matches!(
                    s.status_by_rules(),
                    EnvStatus::Runnable | EnvStatus::Running | EnvStatus::Dying
                ),
                "{:?}",
                s
            );
        }
    }

    #[test]
    fn jos_statuses() {
        let mut s = EnvState::FREE;
        assert_eq!(s.status(), EnvStatus::Free);
        s = step(
            s,
            Event::Alloc {
                suspended: true,
                orphan: false,
            },
        )
        .unwrap();
        assert_eq!(s.status(), EnvStatus::NotRunnable);
        s = step(s, Event::SetStatus { runnable: true }).unwrap();
        assert_eq!(s.status(), EnvStatus::Runnable);
        assert!(s.runnable() && s.active());
        s = step(s, Event::Dispatch { cpu: THIS }).unwrap();
        assert_eq!(s.status(), EnvStatus::Running);
        assert!(!s.runnable() && s.active() && s.continues());
    }

    /// What the kernel's hand-off publishes without looking up (kern/env/ipc.rs `handoff`):
    /// the env that lets go is NOT_RUNNABLE, the one that takes the CPU RUNNING.
    #[test]
    fn handoff_shortcut_statuses() {
        for c in 0..crate::cpuid::NCPU {
            let cpu = CpuId::new(c).unwrap();
            for sc in [
                Shortcut::deschedule_blocked(cpu, true),
                Shortcut::deschedule_blocked(cpu, false),
                Shortcut::recv_deschedule(cpu),
            ] {
                assert_eq!(sc.to.status(), EnvStatus::NotRunnable);
            }
            for sc in [Shortcut::dispatch(cpu), Shortcut::deliver_dispatch(cpu)] {
                assert_eq!(sc.to.status(), EnvStatus::Running);
            }
        }
    }

    /// Every shortcut, for every 16-bit state in its case and every CPU, is what `step` does,
    /// and publishes what its `from` and `to` say; and its case is not empty.
    #[test]
    fn shortcuts_are_steps() {
        let published = |s: EnvState| (s.runnable(), s.active(), s.status(), s.recving());
        for c in 0..crate::cpuid::NCPU {
            let cpu = CpuId::new(c).unwrap();
            for sc in [
                Shortcut::deliver(),
                Shortcut::recv(cpu),
                Shortcut::deschedule_blocked(cpu, true),
                Shortcut::deschedule_blocked(cpu, false),
                Shortcut::recv_deschedule(cpu),
                Shortcut::dispatch(cpu),
                Shortcut::deliver_dispatch(cpu),
                Shortcut::send_wait(cpu),
                Shortcut::send_done(),
            ] {
                let mut taken = 0;
                for v in 0..=u16::MAX {
                    let s = EnvState(v);
                    let Some(n) = sc.take(s) else { continue };
                    taken += 1;
                    let mut want = Ok(s);
                    for e in sc.events.into_iter().flatten() {
                        want = want.and_then(|x| step(x, e));
                    }
                    assert_eq!(want, Ok(n), "{sc:?} on {s:?}");
                    assert_eq!(published(s), published(sc.from), "{sc:?} from {s:?}");
                    assert_eq!(published(n), published(sc.to), "{sc:?} to {n:?}");
                }
                // Both orphan bits, and bits 6 and 7 (which no state uses): 2^3 states.
                assert_eq!(taken, 8, "{sc:?}");
                if c == 0 {
                    assert_eq!(sc.take(sc.from), Some(sc.to), "{sc:?}");
                }
            }
        }
    }
}
