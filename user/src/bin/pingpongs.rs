//! pingpongs (JOS's user/pingpongs.c): pingpong over `sfork` (a JOS lab 4 challenge): the
//! counter is a global both environments share, the messages carry nothing, and each side's
//! `thisenv` must still name itself.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU32, Ordering};

use jos_lib::{Pte, ipc_recv, ipc_send, println, sfork, sys_getenvid, thisenv};

jos_lib::entry!(umain);

/// The counter both environments share after sfork.
static VAL: AtomicU32 = AtomicU32::new(0);

fn umain() {
    let who = match sfork() {
        Ok(id) => id,
        Err(e) => panic!("sfork: {}", e),
    };
    if who != 0 {
        println!("i am {:08x}; thisenv is {:p}", sys_getenvid(), thisenv());
        // Get the ball rolling.
        println!("send 0 from {:x} to {:x}", sys_getenvid(), who);
        ipc_send(who, 0, None, Pte::empty());
    }

    loop {
        let msg = match ipc_recv() {
            Ok(m) => m,
            Err(e) => panic!("ipc_recv: {}", e),
        };
        let val = VAL.load(Ordering::Relaxed);
        println!(
            "{:x} got {} from {:x} (thisenv is {:p} {:x})",
            sys_getenvid(),
            val,
            msg.from,
            thisenv(),
            thisenv().env_id()
        );
        if val == 10 {
            return;
        }
        VAL.store(val + 1, Ordering::Relaxed);
        ipc_send(msg.from, 0, None, Pte::empty());
        if val + 1 == 10 {
            return;
        }
    }
}
