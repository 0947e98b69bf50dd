//! Inter-environment communication (JOS's lib/ipc.c).

use jos_inc::env::{ENV_FREE, EnvId};
use jos_inc::error::Result;
use jos_inc::memlayout::UTOP;
use jos_inc::mmu::Pte;

use crate::env::{envs, thisenv};
use crate::syscall::{sys_ipc_recv, sys_ipc_send, sys_ipc_send_recv};

/// A received message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpcMsg {
    /// The 32-bit value sent.
    pub value: u32,
    /// The sender's id.
    pub from: EnvId,
    /// Permissions of the page received, empty if no page was transferred.
    pub perm: Pte,
}

/// Receive at `dstva` (UTOP or above: no page) and read the message from `thisenv`.
///
/// # Safety
/// As for `sys_ipc_recv`.
#[inline(always)]
unsafe fn recv_at(dstva: u32) -> Result<IpcMsg> {
    // LAB 4: BEGIN ipc_recv
    // HINT: sys_ipc_recv(dstva), then the message from thisenv (value, from, perm).
    // STUB: let _ = dstva;
    // STUB: todo!("LAB 4: ipc_recv");
    // SAFETY: passed on to our caller.
    unsafe { sys_ipc_recv(dstva)? };
    let me = thisenv();
    Ok(IpcMsg {
        value: me.env_ipc_value(),
        from: me.env_ipc_from(),
        perm: Pte::from_bits_retain(me.env_ipc_perm() as u32),
    })
    // LAB 4: END ipc_recv
}

/// Wait for a message without accepting a page (JOS's `ipc_recv(from, 0, perm)`, which
/// passes UTOP for "no page": 0 is a valid address). (Inline, as the system call wrappers
/// are: a call and a returned record less per message.)
#[inline]
pub fn ipc_recv() -> Result<IpcMsg> {
    // SAFETY: with dstva = UTOP no page is mapped into our address space.
    unsafe { recv_at(UTOP) }
}

/// Wait for a message and accept a page at `pg` (page-aligned, below UTOP) if the sender
/// sends one; `msg.perm` is empty if it did not.
///
/// # Safety
/// The page at `pg` may be replaced by the sender's: no Rust reference may point into it.
pub unsafe fn ipc_recv_page(pg: u32) -> Result<IpcMsg> {
    // SAFETY: passed on to our caller.
    unsafe { recv_at(pg) }
}

/// Send `val` (and the page at `pg` with `perm`, if given) to `to`, waiting until the target
/// takes it. Any error is fatal (panic), as in JOS.
///
/// JOS's version polls: `sys_ipc_try_send`, then `sys_yield` and again while the target is not
/// receiving, a system call and a scheduler pass per retry. This one sleeps in the kernel
/// (`sys_ipc_send`) until the receiver is ready: no polling, and the receiver runs next.
/// (Inline, as `ipc_recv`.)
#[inline(always)]
pub fn ipc_send(to: EnvId, val: u32, pg: Option<u32>, perm: Pte) {
    // LAB 4: BEGIN ipc_send
    // HINT: Try sys_ipc_try_send (UTOP for no page) until the target takes it, yielding while
    // HINT: it is not receiving (-E_IPC_NOT_RECV); any other error is fatal (panic).
    // CHALLENGE: BEGIN ipc_send-blocking
    // STUB: loop {
    // STUB:     match crate::syscall::sys_ipc_try_send(to, val, pg.unwrap_or(UTOP), perm) {
    // STUB:         Ok(()) => return,
    // STUB:         Err(jos_inc::error::Error::IpcNotRecv) => crate::syscall::sys_yield(),
    // STUB:         Err(e) => panic!("ipc_send: {}", e),
    // STUB:     }
    // STUB: }
    if let Err(e) = sys_ipc_send(to, val, pg.unwrap_or(UTOP), perm) {
        panic!("ipc_send: {}", e);
    }
    // CHALLENGE: END ipc_send-blocking
    // LAB 4: END ipc_send
}

/// Send `val` (and the page at `pg` with `perm`, if given) to `to`, then wait for a message
/// without accepting a page: `ipc_send` then `ipc_recv` for a caller that expects a reply (a
/// client's request, a server's reply before its next request), in one system call
/// (`sys_ipc_send_recv`, Liedtke's combined send and receive): when `to` is waiting it runs
/// at once on this CPU, and the reply comes back in registers. Errors of the send are fatal
/// (panic), as in `ipc_send`.
pub fn ipc_send_recv(to: EnvId, val: u32, pg: Option<u32>, perm: Pte) -> Result<IpcMsg> {
    // SAFETY: with dstva = UTOP no page is mapped into our address space.
    match unsafe { sys_ipc_send_recv(to, val, pg.unwrap_or(UTOP), perm, UTOP) } {
        Ok((value, from, perm)) => Ok(IpcMsg { value, from, perm }),
        Err(e) => panic!("ipc_send: {}", e),
    }
}

/// The id of the first live environment of type `env_type`, if any. (JOS's version also
/// matches free slots, whose type is 0 = ENV_TYPE_USER.)
pub fn ipc_find_env(env_type: u32) -> Option<EnvId> {
    envs()
        .iter()
        .find(|e| e.env_type() == env_type && e.env_status() != ENV_FREE)
        .map(|e| e.env_id())
}
