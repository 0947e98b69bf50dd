//! The env-table side of IPC (JOS keeps it in `struct Env` and kern/syscall.c): blocking a
//! receiver, delivering a message, the queue of senders blocked in `sys_ipc_send` on a
//! receiver, and the hand-off hint that runs a woken receiver next.

use jos_inc::env::*;
use jos_inc::error::Result;
use kern_logic::envid::EnvIdx;
use kern_logic::lifecycle::Event;
use kern_logic::links::Link;

use crate::cpu::CpuId;

use super::*;

impl EnvTable {
    /// Run `i` next on CPU `cpu` when its current env blocks (if `i` can run then).
    pub fn set_handoff(&mut self, cpu: CpuId, i: EnvIdx) {
        self.handoff[cpu.index()] = Link::to(i);
    }

    /// Take the IPC hand-off hint of CPU `cpu`: an env that is runnable now because the
    /// current env just sent it a message.
    pub fn take_handoff(&mut self, cpu: CpuId) -> Option<EnvIdx> {
        let h = core::mem::replace(&mut self.handoff[cpu.index()], Link::NONE).get()?;
        // Never past a higher priority that is waiting (no inversion by hand-off).
        let top = self.runq.top_level()?;
        (self.state(h).runnable() && usize::from(self.kern[h].prio) >= top).then_some(h)
    }
}

/// Env `i`, running on `cpu`, blocks in sys_ipc_send until receiver `r` takes the message.
pub fn block_send(t: &mut EnvTable, i: EnvIdx, r: EnvIdx, msg: [u32; 3]) {
    t.must(i, Event::SendWait);
    t.kern[i].msg = msg;
    t.links.queue_sender(r, i);
}

/// The next sender blocked on receiver `r`, and its message (value, srcva, perm).
pub fn take_sender(t: &mut EnvTable, r: EnvIdx) -> Option<(EnvIdx, [u32; 3])> {
    let s = t.links.pop_sender(r)?;
    Some((s, t.kern[s].msg))
}

/// A blocked sender's send is over: its sys_ipc_send returns `result`.
pub fn finish_send(t: &mut EnvTable, s: EnvIdx, result: Result<()>) {
    // The sender is off every CPU (blocked), so its registers are in env_tf.
    t.env(s).env_tf.tf_regs.reg_eax = jos_inc::error::to_abi(result.map(|()| 0)) as u32;
    t.must(s, Event::SendDone);
}

/// Env `i` blocks in sys_ipc_recv, to have a page mapped at `dstva` if below UTOP.
pub fn block_recv(t: &mut EnvTable, i: EnvIdx, dstva: u32) {
    t.must(i, Event::Recv);
    t.env(i).env_ipc_dstva = dstva;
}

/// Deliver a message to env `i`, blocked in sys_ipc_recv, from the env running on `cpu`: its
/// receive returns 0, and it is the env to hand the CPU to when the sender blocks.
pub fn deliver(t: &mut EnvTable, cpu: CpuId, i: EnvIdx, from: EnvId, value: u32, perm: i32) {
    set_message(t, i, from, value, perm);
    // The receiver is off every CPU (receivers are), so its registers are in env_tf.
    t.env(i).env_tf.tf_regs.reg_eax = 0;
    t.must(i, Event::Deliver);
    t.handoff[cpu.index()] = Link::to(i);
}

/// The message fields of env `i`'s `Env` (what `ipc_recv` reads after the call).
pub fn set_message(t: &mut EnvTable, i: EnvIdx, from: EnvId, value: u32, perm: i32) {
    let e = t.env(i);
    e.env_ipc_from = from;
    e.env_ipc_value = value;
    e.env_ipc_perm = perm;
}
