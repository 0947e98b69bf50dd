//! primes (JOS's user/primes.c): a concurrent prime sieve. Each environment receives its
//! prime p from its left neighbour, prints `CPU <n>: <p> ` (no newline: the kernel's
//! `[id] new env id` line for the fork that follows completes it), forks its right
//! neighbour, then forwards every number not divisible by p. Runs until environments run out.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use jos_lib::{Pte, fork, ipc_recv, ipc_send, print, thisenv};

jos_lib::entry!(umain);

fn recv() -> u32 {
    match ipc_recv() {
        Ok(m) => m.value,
        Err(e) => panic!("ipc_recv: {}", e),
    }
}

fn primeproc() -> ! {
    // Each child of a filter starts here again: the loop replaces JOS's `goto top`.
    loop {
        // Fetch a prime from our left neighbor.
        let p = recv();
        print!("CPU {}: {} ", thisenv().env_cpunum(), p);

        // Fork a right neighbor to continue the chain.
        let id = match fork() {
            Ok(0) => continue,
            Ok(id) => id,
            Err(e) => panic!("fork: {}", e),
        };

        // Filter out multiples of our prime.
        loop {
            let i = recv();
            if !i.is_multiple_of(p) {
                ipc_send(id, i, None, Pte::empty());
            }
        }
    }
}

fn umain() {
    // Fork the first prime process in the chain.
    let id = match fork() {
        Ok(0) => primeproc(),
        Ok(id) => id,
        Err(e) => panic!("fork: {}", e),
    };

    // Feed all the integers through.
    let mut i: u32 = 2;
    loop {
        ipc_send(id, i, None, Pte::empty());
        i += 1;
    }
}
