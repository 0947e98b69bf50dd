//! The JOS user library (JOS's lib/): what every user program links with.
//!
//! | module      | JOS file(s)                  | what it offers                          |
//! |-------------|------------------------------|-----------------------------------------|
//! | [`entry`]   | lib/entry.S, lib/libmain.c   | `_start`, [`entry!`], the binary's name |
//! | [`env`]     | entry.S's symbols, inc/lib.h | `envs`, `thisenv`, `uvpt`, `uvpd`       |
//! | [`syscall`] | lib/syscall.c, inc/lib.h     | the 13 system calls                     |
//! | [`printf`]  | lib/printf.c, printfmt.c     | [`print!`], [`println!`]                |
//! | [`console`] | lib/console.c                | `getchar`, `cputs`                      |
//! | [`panic`]   | lib/panic.c                  | the panic handler                       |
//! | [`exit`]    | lib/exit.c                   | `exit`                                  |
//! | [`pgfault`] | lib/pgfault.c, pfentry.S     | `set_pgfault_handler`, the upcall       |
//! | [`exception`] | (not in JOS)               | `set_exception_handler`, other traps    |
//! | [`fork`]    | lib/fork.c                   | copy-on-write `fork`, `sfork`           |
//! | [`ipc`]     | lib/ipc.c                    | `ipc_send`, `ipc_recv`, `ipc_find_env`  |
//! | `string`    | lib/string.c                 | `memcpy`, `memmove`, `memset` (`rep`)   |
//!
//! A program is a `no_std`, `no_main` binary that names its main function with
//! `jos_lib::entry!(umain);`.
#![no_std]

pub mod console;
pub mod entry;
pub mod env;
pub mod exception;
pub mod exit;
pub mod fork;
pub mod ipc;
pub mod panic;
pub mod pgfault;
pub mod printf;
mod string;
pub mod syscall;

pub use console::{cputs, getchar};
pub use entry::binaryname;
pub use env::{
    PageTableView, UEnv, envs, page_info, set_thisenv, thisenv, uvpd, uvpd_table, uvpt, uvpt_table,
    uvpt_table_of,
};
pub use exception::{exception_upcall, set_exception_handler};
pub use exit::exit;
pub use fork::{fork, sfork};
pub use ipc::{IpcMsg, ipc_find_env, ipc_recv, ipc_recv_page, ipc_send, ipc_send_recv};
pub use pgfault::{pgfault_upcall, set_pgfault_handler};
pub use syscall::*;

/// The ABI crate, re-exported so programs need only one dependency.
pub use jos_inc as inc;
pub use jos_inc::error::{ErrNum, Error, Result};
pub use jos_inc::mmu::Pte;
pub use jos_inc::trap::{UExcframe, UTrapframe};
