//! yield (JOS's user/yield.c): yields five times, reporting each return; run several
//! instances to watch round-robin scheduling.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use jos_lib::{println, sys_yield, thisenv};

jos_lib::entry!(umain);

fn umain() {
    let id = thisenv().env_id();
    println!("Hello, I am environment {:08x}.", id);
    for i in 0..5 {
        sys_yield();
        println!(
            "Back in environment {:08x}, iteration {}.",
            thisenv().env_id(),
            i
        );
    }
    println!("All done in environment {:08x}.", thisenv().env_id());
}
