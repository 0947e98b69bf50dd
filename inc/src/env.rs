//! Environments (JOS's inc/env.h): `struct Env` as user space reads it through `envs[]` at
//! UENVS, env ids and statuses.

use crate::trap::Trapframe;

/// An environment id. Ids are positive; 0 means "the current environment".
pub type EnvId = i32;

pub const LOG2NENV: u32 = 10;
pub const NENV: usize = 1 << LOG2NENV;

/// The `envs[]` index of an env id.
pub const fn envx(envid: EnvId) -> usize {
    (envid as u32 as usize) & (NENV - 1)
}

/// `env_status` values.
pub const ENV_FREE: u32 = 0;
pub const ENV_DYING: u32 = 1;
pub const ENV_RUNNABLE: u32 = 2;
pub const ENV_RUNNING: u32 = 3;
pub const ENV_NOT_RUNNABLE: u32 = 4;

/// `env_status` as a type. The `Env` record keeps the `u32` (its layout is the ABI user space
/// reads at UENVS); values cross into this type with `TryFrom`, which refuses the numbers that
/// are no status (a `sys_env_set_status` argument, say).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum EnvStatus {
    Free = ENV_FREE,
    Dying = ENV_DYING,
    Runnable = ENV_RUNNABLE,
    Running = ENV_RUNNING,
    NotRunnable = ENV_NOT_RUNNABLE,
}

impl TryFrom<u32> for EnvStatus {
    /// The value that is no status.
    type Error = u32;
    fn try_from(v: u32) -> Result<EnvStatus, u32> {
        Ok(match v {
            ENV_FREE => EnvStatus::Free,
            ENV_DYING => EnvStatus::Dying,
            ENV_RUNNABLE => EnvStatus::Runnable,
            ENV_RUNNING => EnvStatus::Running,
            ENV_NOT_RUNNABLE => EnvStatus::NotRunnable,
            _ => return Err(v),
        })
    }
}

impl From<EnvStatus> for u32 {
    fn from(s: EnvStatus) -> u32 {
        s as u32
    }
}

/// Scheduling priorities (not in JOS; a lab 4 challenge): `0..NPRIO`, higher runs first. Every
/// env starts at its parent's priority, kernel-created ones at `ENV_PRIO_DEFAULT`, the highest:
/// an env may lower itself or its children, never raise anyone above itself.
pub const NPRIO: u32 = 4;
pub const ENV_PRIO_DEFAULT: u32 = NPRIO - 1;

/// `env_type` values.
pub const ENV_TYPE_USER: u32 = 0;

/// `struct Env`, with JOS's i386 layout (124 bytes). Pointer fields are kernel virtual
/// addresses kept as `u32` so the record is the same on the host (tests) and the target.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Env {
    /// Saved registers.
    pub env_tf: Trapframe,
    /// Next free Env (kernel address).
    pub env_link: u32,
    /// Unique environment identifier.
    pub env_id: EnvId,
    /// env_id of this env's parent.
    pub env_parent_id: EnvId,
    /// Indicates special system environments.
    pub env_type: u32,
    /// Status of the environment.
    pub env_status: u32,
    /// Number of times environment has run.
    pub env_runs: u32,
    /// The CPU that the env is running on (or last ran on).
    pub env_cpunum: i32,
    /// Kernel virtual address of page dir.
    pub env_pgdir: u32,
    /// Page fault upcall entry point.
    pub env_pgfault_upcall: u32,
    /// Env is blocked receiving.
    pub env_ipc_recving: bool,
    /// VA at which to map received page.
    pub env_ipc_dstva: u32,
    /// Data value sent to us.
    pub env_ipc_value: u32,
    /// envid of the sender.
    pub env_ipc_from: EnvId,
    /// Perm of page mapping received.
    pub env_ipc_perm: i32,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<Env>() == 124);
    assert!(offset_of!(Env, env_tf) == 0);
    assert!(offset_of!(Env, env_link) == 68);
    assert!(offset_of!(Env, env_id) == 72);
    assert!(offset_of!(Env, env_parent_id) == 76);
    assert!(offset_of!(Env, env_type) == 80);
    assert!(offset_of!(Env, env_status) == 84);
    assert!(offset_of!(Env, env_runs) == 88);
    assert!(offset_of!(Env, env_cpunum) == 92);
    assert!(offset_of!(Env, env_pgdir) == 96);
    assert!(offset_of!(Env, env_pgfault_upcall) == 100);
    assert!(offset_of!(Env, env_ipc_recving) == 104);
    assert!(offset_of!(Env, env_ipc_dstva) == 108);
    assert!(offset_of!(Env, env_ipc_value) == 112);
    assert!(offset_of!(Env, env_ipc_from) == 116);
    assert!(offset_of!(Env, env_ipc_perm) == 120);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_status_round_trips() {
        for v in 0..5u32 {
            assert_eq!(u32::from(EnvStatus::try_from(v).unwrap()), v);
        }
        assert_eq!(EnvStatus::try_from(5), Err(5));
        assert_eq!(EnvStatus::try_from(u32::MAX), Err(u32::MAX));
    }
}
