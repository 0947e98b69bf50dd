//! hello (JOS's user/hello.c): the first user program.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use jos_lib::{println, thisenv};

jos_lib::entry!(umain);

fn umain() {
    println!("hello, world");
    println!("i am environment {:08x}", thisenv().env_id());
}
