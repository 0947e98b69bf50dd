//! idle (JOS's user/idle.c): an environment that only ever gives up the CPU.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use jos_lib::sys_yield;

jos_lib::entry!(umain);

fn umain() {
    // JOS sets binaryname = "idle" here; ours is already the binary's name.
    loop {
        sys_yield();
    }
}
