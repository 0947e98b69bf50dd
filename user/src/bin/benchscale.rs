//! benchscale (ours): how kernel work scales with CPUs, for `make bench`'s second table (see
//! README.md, "Benchmarks"). Run with a host thread per vCPU and no icount, so the guest's
//! `rdtsc` is the host's time-stamp counter: wall-clock time.
//!
//! Each workload runs in `WORKERS` independent envs at once, each doing `ops` operations
//! between two `rdtsc` reads; the time per operation is (last end - first start) / (WORKERS *
//! ops), the minimum of `REPS` runs. `make bench` runs this with 1, 2 and 4 CPUs and divides
//! by the 1-CPU figure. A user-only loop (no system call) is measured the same way in the same
//! run: it shows what the host gives the vCPUs (on a 2-core host shared with other work, not
//! 0.5 at 2 CPUs), the ratio the kernel's rows should be compared with.
//!
//! Lines: `bench-scale: <workload> <ticks> ticks/op` and `bench-scale: idle CPU picks up a
//! runnable env <min> <median> <max> ticks`, then `bench-scale: done`.
#![no_std]
#![no_main]
// Unsafe code only in the few places below that allow it by name.
#![deny(unsafe_code)]

use core::hint::black_box;
use core::ptr::{read_volatile, write_volatile};

use jos_lib::inc::env::{ENV_FREE, EnvId, envx};
use jos_lib::inc::mmu::PGSIZE;
use jos_lib::{
    Pte, envs, exit, fork, ipc_recv, ipc_send, println, sys_getenvid, sys_ipc_try_send,
    sys_page_alloc, sys_page_unmap, sys_yield,
};

jos_lib::entry!(umain);

/// Envs per workload (two IPC pairs).
const WORKERS: usize = 4;
const REPS: u32 = 3;
/// A page shared by the parent and its workers (PTE_SHARE survives fork): per worker, its
/// start and end time; and the idle-pickup test's time stamp.
const SHARED: u32 = 0x1000_0000;
/// Each worker's private page for the page_alloc/unmap workload.
const PRIVATE: u32 = 0x2000_0000;

#[allow(unsafe_code)]
fn rdtsc() -> u64 {
    // SAFETY: reads the time-stamp counter (allowed in ring 3: CR4.TSD is clear).
    unsafe { core::arch::x86::_rdtsc() }
}

/// Word `i` of the shared page (64-bit values take two).
#[allow(unsafe_code)]
fn shared_get(i: usize) -> u64 {
    // SAFETY: SHARED is mapped (umain maps it first) and holds only these words.
    unsafe { read_volatile((SHARED as *const u64).add(i)) }
}

#[allow(unsafe_code)]
fn shared_set(i: usize, v: u64) {
    // SAFETY: as for shared_get.
    unsafe { write_volatile((SHARED as *mut u64).add(i), v) }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    /// A user-only loop: no system call.
    Control,
    Null,
    AllocUnmap,
    Yield,
    /// Ping-pong hops (ipc_send/ipc_recv) within a pair: workers 2k and 2k + 1.
    Ipc,
}

/// One worker's loop of `ops` operations, between two time stamps kept in the shared page.
#[allow(unsafe_code)]
fn work(w: Work, me: usize, peer: EnvId, ops: u32) {
    let t0 = rdtsc();
    match w {
        Work::Control => {
            let mut x = 1u32;
            for i in 0..ops {
                x = black_box(x.wrapping_mul(3).wrapping_add(i));
            }
        }
        Work::Null => {
            for _ in 0..ops {
                black_box(sys_getenvid());
            }
        }
        Work::AllocUnmap => {
            let va = PRIVATE + me as u32 * PGSIZE;
            for _ in 0..ops {
                // SAFETY: our own page, used by nothing else.
                unsafe {
                    sys_page_alloc(0, va, Pte::P | Pte::U | Pte::W).expect("alloc");
                    sys_page_unmap(0, va).expect("unmap");
                }
            }
        }
        Work::Yield => {
            for _ in 0..ops {
                sys_yield();
            }
        }
        Work::Ipc => {
            // The even worker starts each round trip; the odd one echoes. Two hops per trip.
            let mut from = peer;
            for i in 0..ops / 2 {
                if me.is_multiple_of(2) {
                    ipc_send(peer, i, None, Pte::empty());
                    ipc_recv().expect("ipc_recv");
                } else {
                    let m = ipc_recv().expect("ipc_recv");
                    from = m.from;
                    ipc_send(from, m.value, None, Pte::empty());
                }
            }
            black_box(from);
        }
    }
    let t1 = rdtsc();
    shared_set(2 * me, t0);
    shared_set(2 * me + 1, t1);
}

/// Run `w` in WORKERS envs at once; the time per operation (TSC ticks), from the first
/// start to the last end.
fn run(w: Work, ops: u32) -> u64 {
    let parent = sys_getenvid();
    let mut ids: [EnvId; WORKERS] = [0; WORKERS];
    for me in 0..WORKERS {
        // The odd worker of an IPC pair knows its partner (forked just before it); the even
        // one learns it from the go message.
        let peer = if me % 2 == 1 { ids[me - 1] } else { 0 };
        match fork() {
            Ok(0) => {
                // Wait for the go, so that all start together.
                let go = ipc_recv().expect("worker: go");
                let peer = if w == Work::Ipc && me.is_multiple_of(2) {
                    go.value as EnvId
                } else {
                    peer
                };
                work(w, me, peer, ops);
                ipc_send(parent, me as u32, None, Pte::empty());
                exit();
            }
            Ok(id) => ids[me] = id,
            Err(e) => panic!("benchscale: fork: {}", e),
        }
    }
    // Everyone waits in ipc_recv: go (an even IPC worker gets its odd partner's id).
    for &id in &ids {
        while !envs()[envx(id)].env_ipc_recving() {
            sys_yield();
        }
    }
    for me in 0..WORKERS {
        let v = if me.is_multiple_of(2) && me + 1 < WORKERS {
            ids[me + 1] as u32
        } else {
            0
        };
        ipc_send(ids[me], v, None, Pte::empty());
    }
    for _ in 0..WORKERS {
        ipc_recv().expect("done");
    }
    for id in ids {
        while envs()[envx(id)].env_status() != ENV_FREE {
            sys_yield();
        }
    }
    let start = (0..WORKERS).map(|i| shared_get(2 * i)).min().unwrap_or(0);
    let end = (0..WORKERS)
        .map(|i| shared_get(2 * i + 1))
        .max()
        .unwrap_or(0);
    end.saturating_sub(start) / (WORKERS as u64 * u64::from(ops))
}

fn best(w: Work, ops: u32) -> u64 {
    (0..REPS).map(|_| run(w, ops)).min().unwrap_or(0)
}

/// How long after an env is made runnable (by a send from a CPU that goes on running) it runs:
/// on an idle CPU, which notices only at its next timer interrupt (JOS's idle CPUs halt until
/// then), or on this one when the timer preempts the sender. The sender spins (no system call)
/// until the receiver has written the time it started running.
fn idle_pickup() -> [u64; 3] {
    const N: usize = 9;
    const SLOT: usize = 100;
    let mut lat = [0u64; N];
    for l in lat.iter_mut() {
        shared_set(SLOT, 0);
        let child = match fork() {
            Ok(0) => {
                ipc_recv().expect("pickup: recv");
                shared_set(SLOT, rdtsc());
                exit();
            }
            Ok(id) => id,
            Err(e) => panic!("benchscale: fork: {}", e),
        };
        while !envs()[envx(child)].env_ipc_recving() {
            sys_yield();
        }
        let t0 = rdtsc();
        sys_ipc_try_send(child, 1, 0xffff_ffff, Pte::empty()).expect("pickup: send");
        let mut t1 = shared_get(SLOT);
        while t1 == 0 {
            core::hint::spin_loop();
            t1 = shared_get(SLOT);
        }
        *l = t1.saturating_sub(t0);
        while envs()[envx(child)].env_status() != ENV_FREE {
            sys_yield();
        }
    }
    lat.sort_unstable();
    [lat[0], lat[N / 2], lat[N - 1]]
}

#[allow(unsafe_code)]
fn umain() {
    // SAFETY: SHARED and PRIVATE are used by this program alone.
    unsafe {
        sys_page_alloc(0, SHARED, Pte::P | Pte::U | Pte::W | Pte::SHARE).expect("shared page")
    };
    for (name, w, ops) in [
        ("user-only loop (control)", Work::Control, 4_000_000),
        ("null syscall (sys_getenvid)", Work::Null, 20_000),
        ("sys_page_alloc + sys_page_unmap", Work::AllocUnmap, 4_000),
        ("sys_yield", Work::Yield, 10_000),
        ("one-way IPC, two pairs (per hop)", Work::Ipc, 6_000),
    ] {
        println!("bench-scale: {} {} ticks/op", name, best(w, ops));
    }
    let [min, med, max] = idle_pickup();
    println!(
        "bench-scale: idle CPU picks up a runnable env {} {} {} ticks",
        min, med, max
    );
    println!("bench-scale: done");
}
