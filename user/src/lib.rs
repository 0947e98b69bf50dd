//! Code shared by user programs (each program is one file of src/bin/; the kernel embeds
//! every file there): programs `use jos_user::<module>`.
//!
//! | module         | used by                                                             |
//! |----------------|---------------------------------------------------------------------|
//! | [`hostile`]    | the hostile tests (refcount, setstatusrace, destroytwice, ...), fuzz |
//! | [`fpu`]        | fpusecret, fpuclean (x87/SSE state helpers)                          |
//! | [`exc`]        | the `exc*` user exception handler tests                              |
//! | [`fuzz`]       | fuzz, fuzzlong (the seeded system-call fuzzer)                       |
//! | [`benchsuite`] | bench, benchsmp (`make bench`)                                       |
//! | [`v86`]        | v86trap, v86ring0 (entering virtual-8086 mode through QEMU's iret)   |
#![no_std]

pub mod benchsuite;
pub mod exc;
pub mod fpu;
pub mod fuzz;
pub mod hostile;
pub mod v86;
