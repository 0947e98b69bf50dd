//! spin (JOS's user/spin.c): the child spins forever without yielding; only timer
//! preemption lets the parent run again and destroy it.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use jos_lib::{fork, println, sys_env_destroy, sys_yield};

jos_lib::entry!(umain);

fn umain() {
    println!("I am the parent.  Forking the child...");
    let env = match fork() {
        Ok(0) => {
            println!("I am the child.  Spinning...");
            #[allow(clippy::empty_loop)]
            loop {}
        }
        Ok(id) => id,
        Err(e) => panic!("fork: {}", e),
    };

    println!("I am the parent.  Running the child...");
    for _ in 0..8 {
        sys_yield();
    }

    println!("I am the parent.  Killing the child...");
    if let Err(e) = sys_env_destroy(env) {
        panic!("sys_env_destroy: {}", e);
    }
}
