//! pingpong (JOS's user/pingpong.c): parent and child pass a counter back and forth by IPC,
//! each printing `<me> got <n> from <sender>`, until it reaches 10.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use jos_lib::{Pte, fork, ipc_recv, ipc_send, println, sys_getenvid};

jos_lib::entry!(umain);

fn umain() {
    let who = match fork() {
        Ok(id) => id,
        Err(e) => panic!("fork: {}", e),
    };
    if who != 0 {
        // Get the ball rolling.
        println!("send 0 from {:x} to {:x}", sys_getenvid(), who);
        ipc_send(who, 0, None, Pte::empty());
    }

    loop {
        let msg = match ipc_recv() {
            Ok(m) => m,
            Err(e) => panic!("ipc_recv: {}", e),
        };
        let i = msg.value;
        println!("{:x} got {} from {:x}", sys_getenvid(), i, msg.from);
        if i == 10 {
            return;
        }
        ipc_send(msg.from, i + 1, None, Pte::empty());
        if i + 1 == 10 {
            return;
        }
    }
}
