//! susputs (ours, no JOS counterpart): suspending an env while its long sys_cputs runs must
//! not cut the print short.
//!
//! sys_cputs prints a long string in chunks, releasing the big kernel lock while it prints
//! each (README "Long system calls"), so other CPUs can change the env's status meanwhile. A
//! suspension (`sys_env_set_status(child, ENV_NOT_RUNNABLE)`) is a scheduling decision: it
//! takes effect when the system call returns, like any other; only destruction may stop the
//! print. A kernel that stops at the next chunk when it finds the env suspended returns 0
//! with the rest of the string never printed.
//!
//! The child prints, with ONE sys_cputs, `ROUNDS` rounds of `LINES` numbered lines
//! (`susputs r07 l12 .....`, 64 bytes each) each closed by `susputs: round 07 end`, about
//! 100 KiB, then reports that the call returned and prints `susputs: child: the print
//! returned`. Meanwhile we (on another CPU) suspend and resume it over and over, with
//! suspended stretches of random length, until it reports, and always leave it runnable.
//! The grader requires every round's end line and every numbered line, whole; we require
//! that suspensions landed during the print (`MIN_SUSPENSIONS`), that the child finished
//! (so resuming let it continue) and exited, and print `susputs: N suspensions during the
//! print, the child finished: ok`.
#![no_std]
#![no_main]

use jos_lib::inc::env::{ENV_NOT_RUNNABLE, ENV_RUNNABLE};
use jos_lib::inc::mmu::PGSIZE;
use jos_lib::{
    Pte, exit, fork, println, sys_cputs, sys_env_destroy, sys_env_set_status, sys_getenvid,
    sys_page_alloc, sys_yield,
};
use jos_user::hostile::{Rng, Shared, wait_gone};

jos_lib::entry!(umain);

const ROUNDS: usize = 24;
/// Numbered lines per round, 64 bytes each with the newline.
const LINES: usize = 63;
const LINE: usize = 64;
const END: &[u8] = b"susputs: round 00 end\n";
const ROUND: usize = LINES * LINE + END.len();
const LEN: usize = ROUNDS * ROUND;
const BUF: u32 = 0x1000_0000;
const PAGES: u32 = (LEN as u32).div_ceil(PGSIZE);

const SHARED: u32 = 0x0e00_0000;
/// The child's progress: 1 just before its sys_cputs, 2 once it returned.
const STATE: usize = 0;

/// Suspensions that must land while the child is inside its sys_cputs for the run to count.
/// The print takes seconds, and tens of thousands land during it; a kernel that stopped the
/// print at the first suspension it found between chunks stopped after the first few
/// (sometimes the first).
const MIN_SUSPENSIONS: u32 = 8;
/// A safety valve: stop toggling after this many (then just wait for the print to end).
const MAX_TOGGLES: u32 = 100_000;
/// Yields to wait for the child to report and to go once it runs freely.
const PATIENCE: u32 = 1_000_000;

/// Busy-wait `n` rounds, without `pause`: under QEMU's single TCG thread a `pause` ends this
/// vCPU's slice, and the printing vCPU (port I/O, no pause) keeps the thread for a whole
/// slice (about 0.1 s): we would get a couple of dozen status changes in per print. Without
/// it our slice is full of them, and the child's CPU finds us at a random point of the
/// toggling whenever QEMU switches.
fn busy(n: u32) {
    for i in 0..n {
        core::hint::black_box(i);
    }
}

fn digits(n: usize) -> [u8; 2] {
    [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]
}

/// Fill the buffer: ROUNDS rounds of LINES numbered lines and an end line.
fn fill(buf: &mut [u8]) {
    let mut at = 0;
    for r in 0..ROUNDS {
        for l in 0..LINES {
            let line = &mut buf[at..at + LINE];
            line.fill(b'.');
            line[..9].copy_from_slice(b"susputs r");
            line[9..11].copy_from_slice(&digits(r));
            line[11..13].copy_from_slice(b" l");
            line[13..15].copy_from_slice(&digits(l));
            line[15] = b' ';
            line[LINE - 1] = b'\n';
            at += LINE;
        }
        let end = &mut buf[at..at + END.len()];
        end.copy_from_slice(END);
        end[15..17].copy_from_slice(&digits(r));
        at += END.len();
    }
    assert_eq!(at, LEN);
}

fn child(sh: Shared, buf: &[u8]) -> ! {
    sh.set(STATE, 1);
    sys_cputs(buf);
    sh.set(STATE, 2);
    println!("susputs: child: the print returned");
    exit();
}

fn umain() {
    for i in 0..PAGES {
        // SAFETY: the BUF region is used by nothing else.
        if let Err(e) = unsafe { sys_page_alloc(0, BUF + i * PGSIZE, Pte::P | Pte::U | Pte::W) } {
            panic!("sys_page_alloc: {}", e);
        }
    }
    // SAFETY: the pages just mapped, contiguous and writable, referred to by nothing else.
    let buf = unsafe { core::slice::from_raw_parts_mut(BUF as usize as *mut u8, LEN) };
    fill(buf);
    let sh = Shared::new(SHARED);
    let kid = match fork() {
        Ok(0) => child(sh, buf),
        Ok(id) => id,
        Err(e) => panic!("fork: {}", e),
    };
    let mut failures = 0;
    let mut patience = PATIENCE;
    while sh.get(STATE) == 0 && patience > 0 {
        sys_yield();
        patience -= 1;
    }

    // Suspend and resume until the child reports that its sys_cputs returned.
    let mut rng = Rng(0x5005_9075 ^ sys_getenvid() as u32);
    let (mut during, mut toggles) = (0u32, 0u32);
    while sh.get(STATE) == 1 && toggles < MAX_TOGGLES {
        let inside = sh.get(STATE) == 1;
        if let Err(e) = sys_env_set_status(kid, ENV_NOT_RUNNABLE) {
            // The child may have finished its print and exited since we looked (with a host
            // thread per vCPU it runs truly alongside us): that is the expected end.
            if sh.get(STATE) != 2 {
                println!("susputs: FAIL: suspending the child: {}", e);
                failures += 1;
            }
            break;
        }
        if inside {
            during += 1;
        }
        // Suspended for a stretch of random length, from back to back to a long while.
        busy(match rng.below(8) {
            0 => 0,
            1..=5 => rng.below(256),
            _ => 1024 + rng.below(65536),
        });
        if let Err(e) = sys_env_set_status(kid, ENV_RUNNABLE) {
            // (As above: a suspended child cannot finish, so this fails only if it did.)
            if sh.get(STATE) != 2 {
                println!("susputs: FAIL: resuming the child: {}", e);
                failures += 1;
            }
            break;
        }
        toggles += 1;
        busy(rng.below(1024));
    }
    // Runnable for good now: it must finish the print and exit.
    let _ = sys_env_set_status(kid, ENV_RUNNABLE);
    let mut patience = PATIENCE;
    while sh.get(STATE) != 2 && patience > 0 {
        sys_yield();
        patience -= 1;
    }
    if sh.get(STATE) != 2 {
        println!(
            "susputs: FAIL: the child never returned from its sys_cputs (state {}) after {} \
             suspensions",
            sh.get(STATE),
            toggles
        );
        let _ = sys_env_destroy(kid);
        failures += 1;
    }
    if !wait_gone(kid, PATIENCE) {
        println!("susputs: FAIL: the child never exited");
        failures += 1;
    }
    if during < MIN_SUSPENSIONS {
        println!(
            "susputs: FAIL: only {} suspensions landed during the print (at least {} needed \
             for the run to mean anything)",
            during, MIN_SUSPENSIONS
        );
        failures += 1;
    }
    if failures == 0 {
        println!(
            "susputs: {} suspensions during the print, the child finished: ok",
            during
        );
    } else {
        println!("susputs: {} failure(s)", failures);
    }
}
