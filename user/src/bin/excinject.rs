//! excinject (ours): a user exception handler test, see user/src/exc.rs. Runs with the kernel test
//! `test_exc_inject` armed (`make run-test_exc_inject+excinject-nox`).
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

use jos_user::exc;

jos_lib::entry!(umain);

fn umain() {
    exc::injected();
}
