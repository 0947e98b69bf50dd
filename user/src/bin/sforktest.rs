//! sforktest (ours; the shape of JOS's challenge description): after `sfork`, a global the
//! parent changes is seen changed by the child, while a stack variable each side writes stays
//! its own, and each side's `thisenv` names itself.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;
use core::sync::atomic::{AtomicU32, Ordering};

use jos_lib::{println, sfork, sys_getenvid, sys_yield, thisenv};

jos_lib::entry!(umain);

/// Shared after sfork: the parent sets it to 2; the child reports by setting DONE.
static GLOBAL: AtomicU32 = AtomicU32::new(1);
static DONE: AtomicU32 = AtomicU32::new(0);

/// How many yields to wait for the other side before calling it a failure.
const PATIENCE: u32 = 10_000;

fn umain() {
    // A local both sides write after the sfork: on the (copy-on-write) stack.
    let mut local: u32 = black_box(5);
    let who = match sfork() {
        Ok(id) => id,
        Err(e) => panic!("sfork: {}", e),
    };
    assert_eq!(
        thisenv().env_id(),
        sys_getenvid(),
        "thisenv is not this env"
    );
    if who == 0 {
        // Child: wait for the parent's write to the shared global.
        let mut n = 0;
        while GLOBAL.load(Ordering::Acquire) != 2 {
            n += 1;
            assert!(
                n < PATIENCE,
                "the parent's write to the global never showed"
            );
            sys_yield();
        }
        println!(
            "sforktest: child sees the global as {}",
            GLOBAL.load(Ordering::Acquire)
        );
        // The parent wrote 6 to its own `local`; ours is still 5.
        let mine = black_box(local);
        assert_eq!(mine, 5, "the child saw the parent's stack write");
        local = black_box(7);
        println!(
            "sforktest: child's stack variable is its own: {}",
            black_box(local)
        );
        DONE.store(1, Ordering::Release);
    } else {
        local = black_box(6);
        GLOBAL.store(2, Ordering::Release);
        let mut n = 0;
        while DONE.load(Ordering::Acquire) == 0 {
            n += 1;
            assert!(n < PATIENCE, "the child never finished");
            sys_yield();
        }
        assert_eq!(
            black_box(local),
            6,
            "the parent saw the child's stack write"
        );
        println!(
            "sforktest: parent's stack variable is its own: {}",
            black_box(local)
        );
        println!(
            "sforktest: thisenv {:08x} in the parent, child {:08x}: ok",
            thisenv().env_id(),
            who
        );
    }
}
