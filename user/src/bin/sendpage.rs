//! sendpage (JOS's user/sendpage.c): parent and child exchange a page by IPC, each writing
//! a message into it before sending it on, and check what they receive.
#![no_std]
#![no_main]

use jos_lib::{Pte, fork, ipc_recv_page, ipc_send, println, sys_page_alloc, thisenv};

jos_lib::entry!(umain);

const TEMP_ADDR: u32 = 0xa00000;
const TEMP_ADDR_CHILD: u32 = 0xb00000;

const STR1: &[u8] = b"hello child environment! how are you?";
const STR2: &[u8] = b"hello parent environment! I'm good.";

/// The NUL-terminated text in the page at `va` (at most one page).
///
/// # Safety
/// A page must be mapped at `va`, and nothing may change it while the slice lives.
unsafe fn page_str(va: u32) -> &'static [u8] {
    // SAFETY: by the caller.
    let page = unsafe { core::slice::from_raw_parts(va as *const u8, 4096) };
    let n = page.iter().position(|&b| b == 0).unwrap_or(page.len());
    &page[..n]
}

/// Copy `msg` and a terminating NUL into the page at `va`.
///
/// # Safety
/// A writable page must be mapped at `va`, with no Rust reference into it.
unsafe fn put_msg(va: u32, msg: &[u8]) {
    // SAFETY: by the caller; msg is far shorter than a page.
    unsafe {
        core::ptr::copy_nonoverlapping(msg.as_ptr(), va as *mut u8, msg.len());
        (va as *mut u8).add(msg.len()).write(0);
    }
}

fn show(s: &[u8]) -> &str {
    core::str::from_utf8(s).unwrap_or("<not utf-8>")
}

fn umain() {
    let perm = Pte::P | Pte::W | Pte::U;
    let who = match fork() {
        Ok(id) => id,
        Err(e) => panic!("fork: {}", e),
    };
    if who == 0 {
        // Child.
        // SAFETY: TEMP_ADDR_CHILD is unused by any Rust object.
        let msg = match unsafe { ipc_recv_page(TEMP_ADDR_CHILD) } {
            Ok(m) => m,
            Err(e) => panic!("ipc_recv: {}", e),
        };
        // SAFETY: the page arrived (perm says so, checked by the comparison being
        // meaningful) and only we use it until we send it back.
        let got = unsafe { page_str(TEMP_ADDR_CHILD) };
        println!("{:x} got message: {}", msg.from, show(got));
        if got.starts_with(STR1) {
            println!("child received correct message");
        }
        // SAFETY: `got` is not used after this point.
        unsafe { put_msg(TEMP_ADDR_CHILD, STR2) };
        ipc_send(msg.from, 0, Some(TEMP_ADDR_CHILD), perm);
        return;
    }

    // Parent.
    // SAFETY: TEMP_ADDR is unused by any Rust object.
    unsafe {
        if let Err(e) = sys_page_alloc(thisenv().env_id(), TEMP_ADDR, perm) {
            panic!("sys_page_alloc: {}", e);
        }
        put_msg(TEMP_ADDR, STR1);
    }
    ipc_send(who, 0, Some(TEMP_ADDR), perm);

    // SAFETY: as above; the child's page replaces ours, which nothing refers to.
    let msg = match unsafe { ipc_recv_page(TEMP_ADDR) } {
        Ok(m) => m,
        Err(e) => panic!("ipc_recv: {}", e),
    };
    // SAFETY: the page is mapped and the child no longer writes it.
    let got = unsafe { page_str(TEMP_ADDR) };
    println!("{:x} got message: {}", msg.from, show(got));
    if got.starts_with(STR2) {
        println!("parent received correct message");
    }
}
