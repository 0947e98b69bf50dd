//! Debugging information about kernel instruction addresses (JOS's kern/kdebug.c:
//! `debuginfo_eip`, reading a table instead of STABS): the table
//! kern/mkkdebug writes into the `.kdebug` section after linking, decoded by
//! kern_logic::kdebug.

use kern_logic::kdebug::{DebugInfo, EipInfo};

unsafe extern "C" {
    static __kdebug_start: u8;
    static __kdebug_end: u8;
}

/// Reserved, loaded space for the table (the optimized kernel needs ~48 KiB, an unoptimized
/// one ~140 KiB; mkkdebug fails the build if it does not fit). The linker symbols above delimit it; the kernel
/// reads it only through them, so the compiler cannot assume its (zero) initial contents.
#[used]
#[unsafe(link_section = ".kdebug")]
static KDEBUG_SPACE: [u8; 256 * 1024] = [0; 256 * 1024];

fn table() -> Option<DebugInfo<'static>> {
    // SAFETY: the linker symbols delimit the .kdebug section: read-only data of the kernel
    // image, loaded with it and never written at run time.
    let bytes = unsafe {
        let start = &raw const __kdebug_start;
        let len = (&raw const __kdebug_end as usize) - start as usize;
        core::slice::from_raw_parts(start, len)
    };
    DebugInfo::parse(bytes)
}

/// Source file, line and function of a kernel instruction address, if the table knows it.
pub fn debuginfo_eip(eip: u32) -> Option<EipInfo<'static>> {
    table()?.lookup(eip)
}
