//! forktree (JOS's user/forktree.c): a binary tree of environments three levels deep, each
//! named by its path from the root ('', '0', '1', '00', ...) and printing `<id>: I am '<name>'`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use jos_lib::{exit, fork, println, sys_getenvid};

jos_lib::entry!(umain);

const DEPTH: usize = 3;

/// A node's name: up to DEPTH branch characters.
#[derive(Clone, Copy)]
struct Name {
    buf: [u8; DEPTH],
    len: usize,
}

impl Name {
    fn as_str(&self) -> &str {
        // Only ever holds '0' and '1'.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

fn forkchild(cur: Name, branch: u8) {
    if cur.len >= DEPTH {
        return;
    }
    let mut nxt = cur;
    nxt.buf[cur.len] = branch;
    nxt.len += 1;
    match fork() {
        Ok(0) => {
            forktree(nxt);
            exit();
        }
        Ok(_) => {}
        Err(e) => panic!("fork: {}", e),
    }
}

fn forktree(cur: Name) {
    println!("{:04x}: I am '{}'", sys_getenvid(), cur.as_str());
    forkchild(cur, b'0');
    forkchild(cur, b'1');
}

fn umain() {
    forktree(Name {
        buf: [0; DEPTH],
        len: 0,
    });
}
