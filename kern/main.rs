//! The JOS kernel in Rust: `i386_init` (the boot CPU) and `mp_main` (the others), JOS's
//! kern/init.c, plus the kernel's print and panic machinery.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

mod bench;
mod console;
mod cpu;
mod entry;
mod env;
mod fwcfg;
mod kclock;
mod kdebug;
mod lapic;
mod monitor;
mod mpconfig;
mod mpentry;
mod picirq;
mod pmap;
mod sched;
mod spinlock;
mod syscall;
mod trap;

use core::sync::atomic::{AtomicBool, Ordering};

use jos_inc::memlayout::{KSTKSIZE, MPENTRY_PADDR};

/// The kernel's printf: formatted output to the console (CGA, serial, parallel port), one
/// lock hold per call so lines from different CPUs don't interleave.
#[macro_export]
macro_rules! cprintf {
    ($($arg:tt)*) => { $crate::console::print_fmt(format_args!($($arg)*)) };
}

/// JOS's `warn()`: `kernel warning at file:line: msg`.
#[macro_export]
macro_rules! kwarn {
    ($($arg:tt)*) => {
        $crate::cprintf!("kernel warning at {}:{}: {}\n", file!(), line!(), format_args!($($arg)*))
    };
}

// The embedded user programs: USER_PROGRAMS, a table of (name, ELF bytes), made by build.rs.
include!(concat!(env!("OUT_DIR"), "/user_programs.rs"));

/// JOS's ENV_CREATE: find the embedded program and create an env running it.
fn env_create_named(name: &str) -> bool {
    match USER_PROGRAMS.iter().find(|(n, _)| *n == name) {
        Some((n, bin)) => env::env_create(n, bin).is_ok(),
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

    // Lab 2 memory management initialization functions
    pmap::mem_init();

    // Lab 3 user environment initialization functions
    env::env_init();
    trap::trap_init();

    // Lab 4 multiprocessor initialization functions
    mpconfig::mp_init();
    lapic::lapic_init();

    // Lab 4 multitasking initialization functions
    picirq::pic_init();

    // Acquire the big kernel lock before waking up APs.
    spinlock::lock_kernel();

    // Starting non-boot CPUs
    boot_aps();

    // What to run: the program(s) named by `make run-<prog>` (several joined with '+'), a
    // kernel test, or the default.
    let mut buf = [0u8; 256];
    let test = fwcfg::read_file("opt/jos/test", &mut buf)
        .and_then(|b| core::str::from_utf8(b).ok())
        .map(|s| s.trim_matches(|c: char| c == '\0' || c.is_whitespace()))
        .filter(|s| !s.is_empty());
    monitor::record_baseline();
    match test {
        Some("test_monitor") => loop {
            monitor::monitor(None);
        },
        Some("test_backtrace") => {
            test_backtrace(5);
            loop {
                monitor::monitor(None);
            }
        }
        Some(list) => {
            for name in list.split('+') {
                env_create_named(name);
            }
        }
        None => {
            env_create_named(DEFAULT_PROGRAM);
        }
    }

    // Schedule and run the first user environment!
    sched::sched_yield();
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
            pmap::kaddr(MPENTRY_PADDR) as *mut u8,
            code.len(),
        );
    }

    // Boot each AP one at a time.
    for (i, c) in cpu::cpus().iter().enumerate() {
        if i == cpu::cpunum() {
            // We've started already.
            continue;
        }
        // Tell mpentry.S what stack to use.
        mpentry::mpentry_kstack.store(pmap::percpu_kstack_kva(i) + KSTKSIZE, Ordering::SeqCst);
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
    // Tell boot_aps() we're up.
    cpu::thiscpu().swap_status(cpu::CPU_STARTED);

    // Now that we have finished some basic setup, call sched_yield() to start running
    // processes on this CPU. But make sure that only one CPU can enter the scheduler at a
    // time!
    spinlock::lock_kernel();
    sched::sched_yield();
}

/// Set once the first panic starts: other CPUs entering trap() halt.
static PANICKING: AtomicBool = AtomicBool::new(false);

pub fn panicking() -> bool {
    PANICKING.load(Ordering::Relaxed)
}

/// A kernel panic: `kernel panic on CPU n at file:line: msg`, then the monitor, forever.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // SAFETY: disabling interrupts: this CPU stays in the monitor from now on.
    unsafe { x86::irq::disable() };
    if !PANICKING.swap(true, Ordering::SeqCst) {
        // SAFETY: this CPU may have panicked while printing; nobody else prints once
        // PANICKING is set (other CPUs halt in trap()).
        unsafe { console::force_unlock() };
        let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
        cprintf!(
            "kernel panic on CPU {} at {}:{}: {}\n",
            cpu::cpunum(),
            file,
            line,
            info.message()
        );
    }
    loop {
        monitor::monitor(None);
    }
}
