//! excbound (ours): a user exception handler test, see user/src/exc.rs.
#![no_std]
#![no_main]
// Unsafe code only in the shared module(s) below, which allow it by name.
#![deny(unsafe_code)]

#[path = "../exc.rs"]
#[allow(unsafe_code)]
mod exc;

jos_lib::entry!(umain);

fn umain() {
    exc::bound();
}
