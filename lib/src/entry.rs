//! Program entry (JOS's lib/entry.S and lib/libmain.c).
//!
//! The kernel starts a new environment at `_start` with ESP = USTACKTOP and no arguments on
//! the stack; `_start` then keeps the top word of the stack for the env's own `thisenv` (see
//! `crate::env::thisenv`: a plain global would be shared after `sfork`), pushes argc = 0 and
//! argv = 0 (as JOS does when ESP is still at USTACKTOP) and calls `libmain`, which each
//! program defines through [`entry!`]: it records the program's name, sets `thisenv`, runs
//! the program's `umain` and exits.

use core::arch::global_asm;
use core::sync::atomic::{AtomicPtr, Ordering};

use jos_inc::memlayout::{UENVS, UPAGES, USTACKTOP, UVPD, UVPT};

global_asm!(
    // Its own section, placed first by user.ld so the entry point is at 0x800020. Every
    // global_asm! block states its section: the blocks are concatenated.
    ".section .text.entry, \"ax\"",
    ".globl _start",
    "_start:",
    // Were we started with arguments on the stack? (Lab 4's kernel never passes any.)
    "    cmpl ${ustacktop}, %esp",
    "    jne args_exist",
    // No: keep the top word for thisenv (crate::env::THISENV_SLOT), then push argc = 0 and
    // argv = 0, so libmain sees the frame it expects.
    "    subl $4, %esp",
    "    pushl $0",
    "    pushl $0",
    "args_exist:",
    "    call libmain",
    // libmain never returns; should it, spin rather than run off into whatever follows.
    "2:  jmp 2b",
    "",
    // JOS's entry.S symbols for the read-only kernel data, for gdb and readers of the .sym
    // listing; Rust code uses the accessors in `crate::env`.
    ".globl envs",
    ".set envs, {uenvs}",
    ".globl pages",
    ".set pages, {upages}",
    ".globl uvpt",
    ".set uvpt, {uvpt}",
    ".globl uvpd",
    ".set uvpd, {uvpd}",
    ".text",
    ustacktop = const USTACKTOP,
    uenvs = const UENVS,
    upages = const UPAGES,
    uvpt = const UVPT,
    uvpd = const UVPD,
    options(att_syntax),
);

/// Used until libmain records the real name (JOS's default).
static UNKNOWN: &str = "<unknown>";

/// The program's name, for panic messages: JOS's `binaryname`.
static BINARYNAME: AtomicPtr<&'static str> = AtomicPtr::new((&raw const UNKNOWN).cast_mut());

/// The name of the running program (its binary's name, e.g. `hello`).
pub fn binaryname() -> &'static str {
    // SAFETY: BINARYNAME only ever holds the address of a `static` `&'static str` (UNKNOWN,
    // or the one `entry!` defines).
    unsafe { *BINARYNAME.load(Ordering::Relaxed) }
}

/// JOS's libmain, called through the `libmain` symbol that [`entry!`] defines: record the
/// binary's name, set `thisenv`, run `umain`, exit.
pub fn libmain(binaryname: &'static &'static str, umain: fn()) -> ! {
    BINARYNAME.store(
        core::ptr::from_ref(binaryname).cast_mut(),
        Ordering::Relaxed,
    );
    crate::env::set_thisenv();
    umain();
    crate::exit::exit()
}

/// Name a program's main function: `jos_lib::entry!(umain);` with `fn umain()`.
///
/// Defines the `libmain` symbol `_start` calls, which passes the binary's name (Cargo's
/// `CARGO_BIN_NAME`, so `binaryname()` is `hello` in hello) and `umain` to
/// [`libmain`](crate::entry::libmain).
#[macro_export]
macro_rules! entry {
    ($umain:path) => {
        /// Called by `_start` (lib/entry.S) with JOS's `(argc, argv)`; lab 4 passes none.
        #[unsafe(no_mangle)]
        pub extern "C" fn libmain(_argc: i32, _argv: *const *const u8) -> ! {
            static BINARYNAME: &str = env!("CARGO_BIN_NAME");
            $crate::entry::libmain(&BINARYNAME, $umain)
        }
    };
}
