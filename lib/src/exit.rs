//! Leaving the environment (JOS's lib/exit.c).
#![forbid(unsafe_code)]

use crate::syscall::sys_env_destroy;

/// Destroy the calling environment (the kernel prints `[id] exiting gracefully`).
pub fn exit() -> ! {
    // Destroying ourselves does not return; if it ever did, say so loudly.
    match sys_env_destroy(0) {
        Ok(()) => panic!("exit: sys_env_destroy(0) returned"),
        Err(e) => panic!("exit: sys_env_destroy(0): {}", e),
    }
}
