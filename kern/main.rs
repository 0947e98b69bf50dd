//! The JOS kernel in Rust: `i386_init` (the boot CPU), `boot_aps`, `mp_main` (the others) and
//! lab 1's `test_backtrace`: JOS's kern/init.c (its `_panic`/`_warn` are in panic.rs and
//! printf.rs).
#![no_std]
#![no_main]

mod bench;
mod console;
mod cpu;
mod entry;
mod env;
mod fpu;
mod fwcfg;
mod kclock;
mod kdebug;
mod ktest;
mod lapic;
mod monitor;
mod mpconfig;
mod mpentry;
mod panic;
mod picirq;
mod pmap;
mod printf;
mod sched;
mod spinlock;
// JOS's kernel links lib/string.c; so does this one (memcpy, memmove, memset).
#[path = "../lib/src/string.rs"]
mod string;
mod syscall;
mod trap;

use core::sync::atomic::Ordering;

use jos_inc::memlayout::{KSTKSIZE, MPENTRY_PADDR};
use jos_inc::mmu::round_up;
use jos_inc::trap::Trapframe;

use crate::spinlock::Kernel;

// The embedded user programs: USER_PROGRAMS, a table of (name, ELF bytes), made by build.rs.
include!(concat!(env!("OUT_DIR"), "/user_programs.rs"));

/// JOS's ENV_CREATE: find the embedded program and create an env running it.
fn env_create_named(k: &mut Kernel, name: &str) -> bool {
    match USER_PROGRAMS.iter().find(|(n, _)| *n == name) {
        Some((n, bin)) => env::env_create(k, n, bin).is_ok(),
        None => {
            cprintf!("ENV_CREATE: no user program named '{}'\n", name);
            false
        }
    }
}

/// The default first program when none was asked for (JOS's lab 4 kernel runs primes).
const DEFAULT_PROGRAM: &str = "primes";

#[unsafe(no_mangle)]
pub extern "C" fn i386_init() -> ! {
    unsafe extern "C" {
        static mut edata: u8;
        static __bss_end: u8;
    }
    // Before doing anything else, complete the ELF loading process: clear the uninitialized
    // global data (BSS) section of our program. This ensures that all static/global
    // variables start out zero.
    // SAFETY: [edata, end) is this kernel's bss, not yet used by anything (the boot stack
    // is in .data).
    unsafe {
        let start = &raw mut edata;
        let len = &raw const __bss_end as usize - start as usize;
        core::ptr::write_bytes(start, 0, len);
    }

    // Initialize the console. Can't call cprintf until after we do this!
    console::cons_init();

    cprintf!("6828 decimal is {:o} octal!\n", 6828);

    // What to run: the program(s) named by `make run-<prog>` (several joined with '+'), a
    // kernel test, or the default. Read now (fw_cfg is port I/O), because lab 1's backtrace
    // test runs here, before the rest of the kernel is set up, as in JOS's lab 1 kernel: a
    // course handout whose later labs are stubs (README "Course kit") still passes it.
    let mut buf = [0u8; 256];
    let test = fwcfg::read_file("opt/jos/test", &mut buf)
        .and_then(|b| core::str::from_utf8(b).ok())
        .map(|s| s.trim_matches(|c: char| c == '\0' || c.is_whitespace()))
        .filter(|s| !s.is_empty());
    if test == Some("test_backtrace") {
        test_backtrace(5);
    }

    // Each env's own FPU/SSE state (not in JOS). Before mem_init, whose bulk work (zeroing
    // the pages and envs arrays, mapping and checking 256 MiB at KERNBASE, marking every free
    // page) uses 16-byte SSE moves.
    fpu::init_percpu(true);

    // Lab 2 memory management initialization functions
    pmap::mem_init();

    // Lab 4 multiprocessor initialization functions (before the env table: the big kernel
    // lock that guards it knows its holder by CPU number, which needs the LAPIC).
    mpconfig::mp_init();
    lapic::lapic_init();

    // Acquire the big kernel lock before waking up APs (and before touching the env table,
    // which it guards).
    let mut k = spinlock::lock_kernel();

    // Lab 3 user environment initialization functions
    env::env_init(&mut k);
    trap::trap_init();

    // Lab 4 multitasking initialization functions
    picirq::pic_init();

    // Starting non-boot CPUs
    boot_aps();

    monitor::record_baseline();
    match test {
        Some("test_monitor" | "test_backtrace") => loop {
            monitor::monitor(None);
        },
        Some(list) => {
            for name in list.split('+') {
                if !ktest::arm(name) {
                    env_create_named(&mut k, name);
                }
            }
        }
        None => {
            env_create_named(&mut k, DEFAULT_PROGRAM);
        }
    }

    // Schedule and run the first user environment!
    sched::sched_yield(k);
}

/// Lab 1's backtrace exercise: a few nested frames, then the monitor's backtrace. The C ABI
/// keeps `x` on the stack where the backtrace shows it as the first argument; exporting the
/// symbol keeps LLVM from switching a local function to a register convention.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn test_backtrace(x: i32) {
    cprintf!("entering test_backtrace {}\n", x);
    if core::hint::black_box(x) > 0 {
        test_backtrace(x - 1);
    } else {
        monitor::mon_backtrace(&[], None);
    }
    cprintf!("leaving test_backtrace {}\n", x);
}

/// Start the non-boot processors (APs).
fn boot_aps() {
    // Write entry code to unused memory at MPENTRY_PADDR.
    let code = mpentry::code();
    // SAFETY: the page at MPENTRY_PADDR is kept off the free list for exactly this; it is
    // mapped at KERNBASE.
    unsafe {
        core::ptr::copy_nonoverlapping(
            code.as_ptr(),
            pmap::kaddr(pmap::PhysAddr::new(MPENTRY_PADDR)).as_ptr::<u8>(),
            code.len(),
        );
    }

    // Boot each AP one at a time.
    for (i, c) in cpu::cpus().iter().enumerate() {
        if i == cpu::cpunum().index() {
            // We've started already.
            continue;
        }
        // Tell mpentry.S what stack to use: this CPU's kernel stack, below the slot at its top
        // where env_run puts the first env's trap frame (env::live_frame; the kernel-image
        // address used here and kstacktop(i) map the same memory).
        let frame = round_up(core::mem::size_of::<Trapframe>() as u32, 16);
        mpentry::mpentry_kstack.store(
            (pmap::percpu_kstack_kva(i) + (KSTKSIZE - frame)).get(),
            Ordering::SeqCst,
        );
        // Start the CPU at mpentry_start.
        lapic::lapic_startap(i as u8, MPENTRY_PADDR);
        // Wait for the CPU to finish some basic setup in mp_main().
        while c.status() != cpu::CPU_STARTED {
            core::hint::spin_loop();
        }
    }
}

/// Setup code for APs.
#[unsafe(no_mangle)]
pub extern "C" fn mp_main() -> ! {
    // We are in high EIP now, safe to switch to kern_pgdir.
    pmap::load_pgdir(pmap::kern_pgdir());
    lapic::lapic_init();
    cprintf!("SMP: CPU {} starting\n", cpu::cpunum());

    env::env_init_percpu();
    trap::trap_init_percpu();
    fpu::init_percpu(false);
    // Tell boot_aps() we're up.
    cpu::thiscpu().swap_status(cpu::CPU_STARTED);

    // Now that we have finished some basic setup, call sched_yield() to start running
    // processes on this CPU. But make sure that only one CPU can enter the scheduler at a
    // time!
    // LAB 4: BEGIN mp_main-sched
    // HINT: Until you write this the AP spins here.
    // STUB: loop {
    // STUB:     core::hint::spin_loop();
    // STUB: }
    let k = spinlock::lock_kernel();
    sched::sched_yield(k);
    // LAB 4: END mp_main-sched
}
