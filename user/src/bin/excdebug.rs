//! excdebug (ours): a user exception handler test, see user/src/exc.rs.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use jos_user::exc;

jos_lib::entry!(umain);

fn umain() {
    exc::debug();
}
