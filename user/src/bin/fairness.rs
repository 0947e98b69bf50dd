//! fairness (JOS's user/fairness.c): meant for several instances. The one in envs[1]
//! receives forever (`<id> recv from <id>`); the others send to it forever. Run alone it
//! prints `1000 loop sending to 0` and keeps trying.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use jos_lib::{Pte, envs, ipc_recv, ipc_send, println, sys_getenvid, thisenv};

jos_lib::entry!(umain);

fn umain() {
    let id = sys_getenvid();
    if core::ptr::eq(thisenv(), &envs()[1]) {
        loop {
            match ipc_recv() {
                Ok(msg) => println!("{:x} recv from {:x}", id, msg.from),
                Err(e) => panic!("ipc_recv: {}", e),
            }
        }
    } else {
        println!("{:x} loop sending to {:x}", id, envs()[1].env_id());
        loop {
            ipc_send(envs()[1].env_id(), 0, None, Pte::empty());
        }
    }
}
