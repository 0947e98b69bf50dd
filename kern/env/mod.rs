//! User environments (JOS's kern/env.c): the envs[] table (mapped read-only for users at
//! UENVS), env ids, per-env address spaces, loading embedded ELF programs, and creating,
//! freeing, destroying and running envs. Also the global descriptor table. JOS's `gdt`,
//! `env_init`, `env_init_percpu`, `envid2env`, `env_setup_vm`, `env_alloc`, `region_alloc`,
//! `load_icode`, `env_create`, `env_free`, `env_destroy`, `env_pop_tf`, `env_run`; and the
//! env-table side of kern/syscall.c's `sys_exofork`, `sys_env_set_status` and IPC.
//!
//! Unlike JOS, every change of an env's status goes through one state machine
//! (kern_logic::lifecycle, host-tested): "which CPU runs it" is kept apart from the status,
//! destroy is idempotent and deferred while the env runs anywhere, suspension never cancels a
//! receive, and envs that can provably never run again are reclaimed. The scheduler's runnable
//! envs are a bitmap kept in step with those states (O(1) choice, JOS's order).
//!
//! The rooms: `gdt` (the descriptor table), `table` (the envs[] table: alloc, free, destroy,
//! status), `load` (address spaces and ELF loading), `ipc` (blocked receivers and senders),
//! `switch` (running an env and returning to user mode). The scheduler's choice is
//! `crate::sched` and `kern_logic::sched`.

mod gdt;
mod ipc;
mod load;
mod switch;
mod table;

pub use gdt::*;
pub use ipc::*;
pub use load::*;
pub use switch::*;
pub use table::*;
