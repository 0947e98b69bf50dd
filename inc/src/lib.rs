//! The ABI shared by the kernel and user space: JOS's `inc/` directory.
//!
//! Every constant, number and record layout that crosses the user/kernel boundary (or that a
//! grader, a lab handout or a gdb session depends on) is defined here, once, and its layout is
//! asserted at compile time. Nothing here knows about the kernel or the user library.
#![no_std]
#![forbid(unsafe_code)]

pub mod elf;
pub mod env;
pub mod error;
pub mod memlayout;
pub mod mmu;
pub mod syscall;
pub mod trap;
