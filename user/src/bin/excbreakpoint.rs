//! excbreakpoint (ours): a user exception handler test, see user/src/exc.rs.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

#[path = "../exc.rs"]
mod exc;

jos_lib::entry!(umain);

fn umain() {
    exc::breakpoint();
}
