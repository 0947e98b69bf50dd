//! bigputs (ours, no JOS counterpart): a long system call must not stall the other CPUs.
//!
//! JOS holds the big kernel lock for the whole of every system call, so one sys_cputs of a
//! large buffer keeps every other CPU from entering the kernel (to yield, to take a timer
//! interrupt, to do anything) until the last byte is out. Run with CPUS=2: we (A) fork B,
//! which loops on sys_yield; on its CPU each yield is a new run of B (`env_runs` in envs[]).
//! A prints 256 KiB of valid memory (lines of dots) with ONE sys_cputs and counts B's runs
//! during it. For scale it then spins in user mode for a sixteenth of the time the print
//! took (by the time-stamp counter) and counts B's runs again. Prints
//! `bigputs: other env ran N times during the print (M during a user-mode spin 1/16 as
//! long; T TSC ticks)` and `bigputs: ok` if N > MIN_RUNS, else `bigputs: STALLED`.
#![no_std]
#![no_main]

use jos_lib::inc::env::envx;
use jos_lib::inc::mmu::PGSIZE;
use jos_lib::{Pte, envs, fork, println, sys_cputs, sys_env_destroy, sys_page_alloc, sys_yield};
use jos_user::hostile::{Shared, wait_change};

jos_lib::entry!(umain);

const BUF: u32 = 0x1000_0000;
const PAGES: u32 = 64;
const LEN: usize = (PAGES * PGSIZE) as usize;
const SHARED: u32 = 0x0e00_0000;
/// B's runs during the print that count as "not stalled". Measured at CPUS=2: with the big
/// lock held for the whole print (5 s with one TCG thread, 13 s with a thread per vCPU) B ran
/// 2 to 4 times, only at the edges. With a kernel changed to release the big lock while it
/// prints (an experiment), B ran 1,452 times with one TCG thread (which hands the second
/// vCPU only the slices QEMU's round robin gives it while the first does port I/O) and
/// 118,900 times with a thread per vCPU. 100 sits well clear of both.
const MIN_RUNS: u32 = 100;
/// The comparison spin lasts this fraction of the print (it only shows the scale).
const SPIN_FRACTION: u64 = 16;

fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: reads the time-stamp counter (allowed in user mode: CR4.TSD is clear).
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    u64::from(hi) << 32 | u64::from(lo)
}

fn umain() {
    for i in 0..PAGES {
        // SAFETY: the BUF region is used by nothing else.
        if let Err(e) = unsafe { sys_page_alloc(0, BUF + i * PGSIZE, Pte::P | Pte::U | Pte::W) } {
            panic!("sys_page_alloc: {}", e);
        }
    }
    // SAFETY: the 64 pages just mapped, contiguous and writable, referred to by nothing else.
    let buf = unsafe { core::slice::from_raw_parts_mut(BUF as usize as *mut u8, LEN) };
    for (i, b) in buf.iter_mut().enumerate() {
        *b = if i % 64 == 63 { b'\n' } else { b'.' };
    }

    let sh = Shared::new(SHARED);
    let b = match fork() {
        Ok(0) => loop {
            sys_yield();
            sh.add(0, 1);
        },
        Ok(id) => id,
        Err(e) => panic!("fork: {}", e),
    };
    if !wait_change(sh, 0, sh.get(0), 200_000) {
        println!("bigputs: FAIL: B never ran");
    }
    let eb = &envs()[envx(b)];

    let (r0, t0) = (eb.env_runs(), rdtsc());
    sys_cputs(buf);
    let (r1, t1) = (eb.env_runs(), rdtsc());
    let during = r1.wrapping_sub(r0);

    let r2 = eb.env_runs();
    let t2 = rdtsc();
    while rdtsc() - t2 < (t1 - t0) / SPIN_FRACTION {
        core::hint::spin_loop();
    }
    let spin = eb.env_runs().wrapping_sub(r2);

    if let Err(e) = sys_env_destroy(b) {
        println!("bigputs: FAIL: destroying B: {}", e);
    }
    println!(
        "bigputs: other env ran {} times during the print ({} during a user-mode spin 1/{} \
         as long; {} TSC ticks)",
        during,
        spin,
        SPIN_FRACTION,
        t1 - t0
    );
    if during > MIN_RUNS {
        println!("bigputs: ok");
    } else {
        println!("bigputs: STALLED");
    }
}
