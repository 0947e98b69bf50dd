//! QEMU process groups and their cleanup: no QEMU may outlive its run or the harness.
//!
//! Each QEMU runs in its own process group so that killing the group also takes any helper it
//! forked. Because the group is not the terminal's, a Ctrl-C reaches only the harness, so the
//! harness must kill the groups itself on every way out:
//! * a run ends normally or by an early return: `Group`'s `Drop`;
//! * a panic (the workspace builds with `panic = "abort"`, so no `Drop` runs): the panic hook;
//! * SIGINT/SIGTERM/SIGHUP: a signal handler;
//! * SIGKILL of the harness, or a signal landing between spawn and registration: the kernel's
//!   parent-death signal (`PR_SET_PDEATHSIG`) on QEMU itself.
//!
//! libc is used because std offers neither signal handlers, nor `kill` of a process group, nor
//! `prctl`; spawning the `kill` binary from a signal handler or a panic hook would not be safe.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicI32, Ordering};

/// Live QEMU process-group ids (0 = free slot). Fixed-size and atomic so that the signal handler
/// can read it without locking; `main` caps the worker count below its size.
pub const SLOTS: usize = 256;
static LIVE: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];

/// Kills every registered group. Async-signal-safe: atomics and kill(2) only.
fn kill_all() {
    for slot in &LIVE {
        let pgid = slot.load(Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

extern "C" fn on_fatal_signal(sig: libc::c_int) {
    kill_all();
    // SA_RESETHAND restored the default action, so this ends the harness with the signal's
    // usual status (what the shell and make expect after a Ctrl-C).
    // SAFETY: raise(2) is async-signal-safe and has no preconditions.
    unsafe { libc::raise(sig) };
}

/// Installs the signal handlers and the panic hook. Call once, before any QEMU starts.
pub fn install_cleanup() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler only
        // does async-signal-safe work.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_fatal_signal as *const () as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESETHAND;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        kill_all();
        default_hook(info);
    }));
}

/// A started QEMU, leader of its own process group; dropping it kills the group and reaps it.
pub struct Group {
    pub child: Child,
    slot: Option<usize>,
}

impl Group {
    pub fn spawn(cmd: &mut Command) -> io::Result<Group> {
        let harness = std::process::id() as libc::pid_t;
        cmd.process_group(0);
        // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
        // functions (prctl, getppid, _exit); it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                // Die with the harness even if it is SIGKILLed. The death signal fires when the
                // forking *thread* exits; workers outlive their QEMUs (Drop kills them first).
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                if libc::getppid() != harness {
                    libc::_exit(1); // the harness already died before prctl took effect
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        let pgid = child.id() as i32;
        let slot = LIVE.iter().position(|s| {
            s.compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        });
        // With no free slot the group is still killed by Drop and by the death signal; only the
        // helpers of a signal-killed harness would be missed. main keeps jobs < SLOTS anyway.
        Ok(Group { child, slot })
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: kill(2) has no memory-safety preconditions; the group id is our child's pid,
        // which stays reserved until the wait below reaps it.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
        if let Some(slot) = self.slot {
            LIVE[slot].store(0, Ordering::SeqCst);
        }
    }
}
