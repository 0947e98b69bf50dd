//! Benchmark support (ours, no JOS counterpart): the guest instructions from the kernel's
//! first instruction to the first user instruction, for `make bench`.
//!
//! Under QEMU's `-icount shift=0` the TSC counts executed guest instructions, so the entry
//! code stores `rdtsc` in [`ENTRY_TSC`] before anything else, and the first return to user
//! mode reads it again. The figure is printed only when the run was started with fw_cfg
//! `opt/jos/bench` present; without it this module prints nothing, so normal output is
//! unchanged. The whole hook is one call in `env::switch_to` (the first return to user mode always
//! switches to an env), its last step before `env_run` pops the frame.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::{cprintf, fwcfg};

/// The TSC at the kernel's first instruction, stored by kern/entry.rs with paging off
/// (through the physical address, as two 32-bit stores: only one CPU runs then). It must
/// live in `.data`: i386_init zeroes the bss after the entry code has run.
#[unsafe(link_section = ".data")]
pub static ENTRY_TSC: AtomicU64 = AtomicU64::new(0);

/// Cleared by the first return to user mode, on whichever CPU it happens.
static FIRST_RETURN: AtomicBool = AtomicBool::new(true);

fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: rdtsc only reads the time-stamp counter into EDX:EAX.
    unsafe {
        core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Called by `env::switch_to` as its last step before user mode. After the first
/// call this is one load and a not-taken branch.
#[inline(always)]
pub fn before_user_return() {
    if FIRST_RETURN.load(Ordering::Relaxed) {
        first_user_return();
    }
}

#[cold]
#[inline(never)]
fn first_user_return() {
    // Read the counter first: the fw_cfg lookup and the print below are not part of the boot.
    let now = rdtsc();
    if !FIRST_RETURN.swap(false, Ordering::AcqRel) {
        return; // another CPU got here first
    }
    // Nothing else touches fw_cfg once i386_init has read `opt/jos/test`, so this lookup
    // outside the big lock cannot interleave with another.
    let mut buf = [0u8; 8];
    if fwcfg::read_file("opt/jos/bench", &mut buf).is_some() {
        let entry = ENTRY_TSC.load(Ordering::Relaxed);
        cprintf!(
            "bench: kernel entry to first user instruction {} instructions\n",
            now.wrapping_sub(entry)
        );
    }
}
