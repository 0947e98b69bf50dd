//! Each environment's x87/SSE registers (ours, no JOS file; JOS let every env share one FPU
//! state: env B could read env A's `st(0)`; this is also one of JOS's lab 4 challenges).
//!
//! The kernel's code never touches these registers (its target is soft-float without SSE), so
//! while an env is on a CPU its FPU state simply stays in that CPU's registers. The one
//! exception is [`zero_page`] / [`copy_page`] below, which borrow XMM registers and put the
//! env's values back before they return. It is saved when
//! the CPU lets go of the env and restored when a CPU takes it: eager switching, in
//! `env::deschedule` and `env::dispatch` only, so resuming the same env after a trap costs
//! nothing.
//!
//! Eager rather than lazy (CR0.TS and a #NM trap on first use), measured under icount
//! (`make bench`): eager adds 2 instructions (one `fxsave`, one `fxrstor`) to a switch between
//! envs and nothing to a trap that resumes the same env; lazy needs a CR0 write on every switch
//! plus, for an env that uses the FPU, a #NM trap round trip (about as costly as a system call)
//! on its first FPU instruction after each switch. Lazy switching is also unsafe on CPUs that
//! speculate through #NM: LazyFP (CVE-2018-3665) leaks the previous owner's registers, which is
//! exactly the isolation this module exists for. Linux went eager for the same reason.
//!
//! Save areas are 512-byte `fxsave` images, one per env slot, allocated by `pmap::mem_init`
//! beside `envs[]` in kernel-only memory: the `Env` records user space reads at UENVS stay
//! JOS's. On a CPU without FXSR, `fnsave`/`frstor` (x87 only, 108 bytes) use the same areas.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use jos_inc::env::NENV;
use x86::controlregs::{Cr0, Cr4, cr0, cr0_write, cr4, cr4_write};

/// One env's saved FPU/SSE state: the `fxsave` image (16-byte aligned).
#[repr(C, align(16))]
pub struct FpuArea([u8; 512]);

const _: () = assert!(core::mem::size_of::<FpuArea>() == 512);

/// Bytes of save-area memory `pmap::mem_init` reserves.
pub const AREAS_SIZE: u32 = (NENV * core::mem::size_of::<FpuArea>()) as u32;

/// The CPU has `fxsave`/`fxrstor` (and SSE state).
static FXSR: AtomicBool = AtomicBool::new(false);

/// Every CPU that runs kernel code after boot has SSE enabled (CR4.OSFXSR), so
/// [`zero_page`] and [`copy_page`] may use 16-byte moves. Set by the boot CPU's
/// `init_percpu`; APs enable SSE in theirs before they can allocate a page.
static PAGE_SSE: AtomicBool = AtomicBool::new(false);

/// The clean state every new env starts from, captured at boot from the FPU itself after
/// `fninit` (x87 control word 0x037F, empty stack, MXCSR 0x1F80, XMM registers zero).
static TEMPLATE: Template = Template(UnsafeCell::new(FpuArea([0; 512])));

/// The template's cell: written once, by the boot CPU in `init_percpu` before any env or
/// other CPU exists; only read after that.
struct Template(UnsafeCell<FpuArea>);
// SAFETY: see `Template`: the one write happens before any other CPU runs.
unsafe impl Sync for Template {}

/// Every CPU has SSE2 as well (and SSE is on): [`zero_blocks`] may use `pcmpeqd`/`pmovmskb`.
static SCAN_SSE2: AtomicBool = AtomicBool::new(false);

fn has_fxsr_sse() -> (bool, bool, bool) {
    let cpuid = x86::cpuid::CpuId::with_cpuid_fn(|leaf, sub| {
        // cpuid is available on every CPU this kernel runs on (pentium and up).
        let r = core::arch::x86::__cpuid_count(leaf, sub);
        x86::cpuid::CpuIdResult {
            eax: r.eax,
            ebx: r.ebx,
            ecx: r.ecx,
            edx: r.edx,
        }
    });
    cpuid.get_feature_info().map_or((false, false, false), |f| {
        (f.has_fxsave_fxstor(), f.has_sse(), f.has_sse2())
    })
}

/// Per-CPU set-up: x87 errors as exceptions (NE), WAIT honours TS (MP), no emulation, and
/// with FXSR the OS support bits for fxsave and SIMD exceptions. On the boot CPU, also capture
/// the clean template.
pub fn init_percpu(boot: bool) {
    let (fxsr, sse, sse2) = has_fxsr_sse();
    // SAFETY: enabling the FPU and SSE state management the save/restore code below relies on;
    // the kernel itself uses neither.
    unsafe {
        let mut c0 = cr0();
        // (And AM, so a user's EFLAGS.AC alignment checks work on every CPU, not only on the
        // boot CPU, whose mem_init sets it as JOS does.)
        c0 |= Cr0::CR0_NUMERIC_ERROR | Cr0::CR0_MONITOR_COPROCESSOR | Cr0::CR0_ALIGNMENT_MASK;
        c0 &= !(Cr0::CR0_TASK_SWITCHED | Cr0::CR0_EMULATE_COPROCESSOR);
        cr0_write(c0);
        if fxsr {
            let mut c4 = cr4();
            c4 |= Cr4::CR4_ENABLE_SSE;
            if sse {
                c4 |= Cr4::CR4_UNMASKED_SSE;
            }
            cr4_write(c4);
        }
    }
    if boot {
        FXSR.store(fxsr, Ordering::Relaxed);
        // SAFETY: the boot CPU, before any env or other CPU exists: nobody else uses TEMPLATE
        // or the FPU. fninit resets the x87 part; with SSE, MXCSR is set to its reset value
        // and the XMM registers cleared, so the image holds no boot-time leftovers.
        unsafe {
            core::arch::asm!("fninit", options(nomem, nostack));
            if fxsr && sse {
                let mxcsr: u32 = 0x1F80;
                core::arch::asm!(
                    "ldmxcsr ({0})",
                    "xorps %xmm0, %xmm0",
                    "xorps %xmm1, %xmm1",
                    "xorps %xmm2, %xmm2",
                    "xorps %xmm3, %xmm3",
                    "xorps %xmm4, %xmm4",
                    "xorps %xmm5, %xmm5",
                    "xorps %xmm6, %xmm6",
                    "xorps %xmm7, %xmm7",
                    in(reg) &mxcsr,
                    options(att_syntax, nostack, readonly)
                );
            }
            save(&mut *TEMPLATE.0.get());
        }
        PAGE_SSE.store(fxsr && sse, Ordering::Relaxed);
        SCAN_SSE2.store(fxsr && sse && sse2, Ordering::Relaxed);
    }
}

/// An env switch's FPU and register work, with one test of the CPU's features (`save`, two
/// frame copies and `restore` test four times): save this CPU's FPU state (the leaving env's)
/// into `save_to`, copy the live frame `live` out to `out` and `inn` into it, then load the
/// FPU state in `restore_from` (the arriving env's).
///
/// # Safety
/// The three frames are distinct trap frames, `live` this CPU's live frame; `save_to` and
/// `restore_from` are distinct save areas (16-byte aligned, as `FpuArea` is), and
/// `restore_from` holds an image `save` wrote or the template's (as for `restore`).
#[inline(always)]
pub unsafe fn switch_frames(
    save_to: *mut FpuArea,
    out: *mut jos_inc::trap::Trapframe,
    live: *mut jos_inc::trap::Trapframe,
    inn: *const jos_inc::trap::Trapframe,
    restore_from: *const FpuArea,
) {
    if !PAGE_SSE.load(Ordering::Relaxed) {
        // SAFETY: the caller's contract, step by step.
        unsafe {
            save(&mut *save_to);
            core::ptr::copy_nonoverlapping(live, out, 1);
            core::ptr::copy_nonoverlapping(inn, live, 1);
            restore(&*restore_from);
        }
        return;
    }
    // SAFETY: SSE (so fxsave/fxrstor) is on; the areas and frames are the caller's, as its
    // contract says. Between the save and the restore the XMM registers belong to nobody, so
    // the copies may use them.
    unsafe {
        core::arch::asm!("fxsave ({0})", in(reg) save_to, options(att_syntax, nostack));
        copy_frame_sse(out, live);
        copy_frame_sse(live, inn);
        core::arch::asm!("fxrstor ({0})", in(reg) restore_from, options(att_syntax, nostack, readonly));
    }
}

/// Copy a 68-byte trap frame from `src` to `dst` with XMM moves (4 x 16 bytes and a word:
/// 10 instructions, where the compiler's `memmove` call takes about 37): `switch_frames`'s
/// two copies.
///
/// # Safety
/// SSE is on; only between saving one env's FPU state and restoring the next's on this CPU
/// (the XMM registers are overwritten and belong to nobody then); `dst` and `src` are
/// distinct trap frames.
#[inline(always)]
unsafe fn copy_frame_sse(dst: *mut jos_inc::trap::Trapframe, src: *const jos_inc::trap::Trapframe) {
    const _: () = assert!(core::mem::size_of::<jos_inc::trap::Trapframe>() == 68);
    // SAFETY: 68 bytes at each pointer (unaligned moves); the XMM registers are free (the
    // caller's contract).
    unsafe {
        core::arch::asm!(
            "movups 0({s}), %xmm0",
            "movups 16({s}), %xmm1",
            "movups 32({s}), %xmm2",
            "movups 48({s}), %xmm3",
            "movl 64({s}), {w}",
            "movups %xmm0, 0({d})",
            "movups %xmm1, 16({d})",
            "movups %xmm2, 32({d})",
            "movups %xmm3, 48({d})",
            "movl {w}, 64({d})",
            s = in(reg) src,
            d = in(reg) dst,
            w = out(reg) _,
            options(att_syntax, nostack, preserves_flags)
        );
    }
}

// CHALLENGE: BEGIN pgfault-entry-frame
// STUB: // (the page fault entry's frame copy: a challenge)
/// Write at `dst` the `UTrapframe` of a page fault at `fault_va` whose trap frame is `tf`
/// (deliver_upcall's frame: the fault address, then `tf`'s error code, general registers,
/// EIP, EFLAGS and ESP), the registers and the EFLAGS-ESP pair with XMM moves: 15
/// instructions where the compiler's field-by-field copy took about 40 (i386 has too few
/// registers for the frame's words, which went through the stack). The page fault entry's
/// (`trap::pgfault_trap`). The XMM registers used are the running env's: saved and restored
/// as in [`zero_page`]. Without SSE, a plain copy.
///
/// # Safety
/// `dst` is 52 writable bytes (any alignment) that nothing else refers to.
#[inline(always)]
pub unsafe fn write_utf(
    dst: *mut jos_inc::trap::UTrapframe,
    tf: &jos_inc::trap::Trapframe,
    fault_va: u32,
) {
    use core::mem::offset_of;
    use jos_inc::trap::{Trapframe, UTrapframe};
    if !PAGE_SSE.load(Ordering::Relaxed) {
        let utf = UTrapframe {
            utf_fault_va: fault_va,
            utf_err: tf.tf_err,
            utf_regs: tf.tf_regs,
            utf_eip: tf.tf_eip,
            utf_eflags: tf.tf_eflags,
            utf_esp: tf.tf_esp,
        };
        // SAFETY: the caller's contract.
        unsafe { dst.write_unaligned(utf) };
        return;
    }
    // The two frames' layouts, as the moves below take them: the registers first in the trap
    // frame, after two words in the UTrapframe; EFLAGS and ESP adjacent in both.
    const _: () = {
        assert!(offset_of!(Trapframe, tf_regs) == 0 && offset_of!(UTrapframe, utf_regs) == 8);
        assert!(core::mem::size_of::<jos_inc::trap::PushRegs>() == 32);
        assert!(offset_of!(Trapframe, tf_esp) == offset_of!(Trapframe, tf_eflags) + 4);
        assert!(offset_of!(UTrapframe, utf_esp) == offset_of!(UTrapframe, utf_eflags) + 4);
    };
    let mut saved = core::mem::MaybeUninit::<[u8; 32]>::uninit();
    // SAFETY: reads the 68 bytes of `tf`, writes 40 of the caller's 52 bytes at `dst` (the
    // rest below) and `saved`; xmm0 and xmm1 are restored before the block ends.
    unsafe {
        core::arch::asm!(
            "movups %xmm0, 0({saved})",
            "movups %xmm1, 16({saved})",
            "movups 0({tf}), %xmm0",
            "movups 16({tf}), %xmm1",
            "movups %xmm0, {regs}({d})",
            "movups %xmm1, {regs}+16({d})",
            "movlps {fl}({tf}), %xmm0",
            "movlps %xmm0, {ufl}({d})",
            "movups 0({saved}), %xmm0",
            "movups 16({saved}), %xmm1",
            tf = in(reg) tf,
            d = in(reg) dst,
            saved = in(reg) saved.as_mut_ptr(),
            regs = const offset_of!(UTrapframe, utf_regs),
            fl = const offset_of!(Trapframe, tf_eflags),
            ufl = const offset_of!(UTrapframe, utf_eflags),
            options(att_syntax, nostack, preserves_flags)
        );
        // The other three words.
        (&raw mut (*dst).utf_fault_va).write_unaligned(fault_va);
        (&raw mut (*dst).utf_err).write_unaligned(tf.tf_err);
        (&raw mut (*dst).utf_eip).write_unaligned(tf.tf_eip);
    }
}
// CHALLENGE: END pgfault-entry-frame

// ---- boot-time bulk work with XMM registers ------------------------------------------------
//
// The boot writes and checks page-table entries and free pages by the tens of thousands
// (mapping 256 MiB at KERNBASE, check_kern_pgdir, check_page_free_list's marking of every free
// page). Under QEMU's instruction count a 16-byte store costs what a 4-byte one does. These
// run before any env exists, but save and restore the XMM registers they use all the same.

/// check_page_free_list's marking of every free page: the first 128 bytes filled with one
/// word, 8 SSE stores instead of 32. xmm0 holds the word from `new` to the drop (the kernel's
/// own code never touches the XMM registers: its target is soft-float), and gets its old
/// value back then.
pub struct Fill128 {
    saved: [u8; 16],
    sse: bool,
    v: u32,
}

impl Fill128 {
    pub fn new(v: u32) -> Fill128 {
        let mut f = Fill128 {
            saved: [0; 16],
            sse: PAGE_SSE.load(Ordering::Relaxed),
            v,
        };
        if f.sse {
            // SAFETY: saves xmm0 and loads the word into all four lanes; restored in drop.
            unsafe {
                core::arch::asm!(
                    "movups %xmm0, ({saved})",
                    "movss ({v}), %xmm0",
                    "shufps $0, %xmm0, %xmm0",
                    saved = in(reg) f.saved.as_mut_ptr(),
                    v = in(reg) &v,
                    options(att_syntax, nostack, preserves_flags)
                );
            }
        }
        f
    }

    /// Fill the 128 bytes at `p`.
    ///
    /// # Safety
    /// `p` is 16-byte aligned and the 128 bytes are writable memory nobody else uses.
    #[inline(always)]
    pub unsafe fn fill(&self, p: *mut u32) {
        if !self.sse {
            for k in 0..32 {
                // SAFETY: the caller's contract.
                unsafe { p.add(k).write_volatile(self.v) };
            }
            return;
        }
        // SAFETY: the caller's contract; xmm0 holds the word (see `new`).
        unsafe {
            core::arch::asm!(
                "movaps %xmm0, 0({p})",
                "movaps %xmm0, 16({p})",
                "movaps %xmm0, 32({p})",
                "movaps %xmm0, 48({p})",
                "movaps %xmm0, 64({p})",
                "movaps %xmm0, 80({p})",
                "movaps %xmm0, 96({p})",
                "movaps %xmm0, 112({p})",
                p = in(reg) p,
                options(att_syntax, nostack, preserves_flags)
            );
        }
    }
}

impl Drop for Fill128 {
    fn drop(&mut self) {
        if self.sse {
            // SAFETY: restores the xmm0 `new` saved.
            unsafe {
                core::arch::asm!(
                    "movups ({saved}), %xmm0",
                    saved = in(reg) self.saved.as_ptr(),
                    options(att_syntax, nostack, preserves_flags, readonly)
                );
            }
        }
    }
}

/// Write `n` words from `p` on, word k being `first + k * step` (wrapping): boot_map_region's
/// run of entries for consecutive frames, four words per store.
///
/// # Safety
/// The `n` words at `p` are writable memory the caller owns (page-table entries nobody uses
/// yet: the boot's).
// HANDOUT: #[allow(dead_code)] // boot_map_region's (lab 2), through PageTable::fill
#[inline]
pub unsafe fn fill_step(p: *mut u32, n: usize, first: u32, step: u32) {
    let mut k = 0;
    if SCAN_SSE2.load(Ordering::Relaxed) && n >= 4 {
        let (init, four) = step_vectors(first, step);
        let mut saved = [0u8; 32];
        let quads = n / 4;
        // SAFETY: quads * 16 bytes from p are the caller's (n >= 4 * quads); xmm0 and xmm1
        // are saved and restored.
        unsafe {
            core::arch::asm!(
                "movups %xmm0, 0({saved})",
                "movups %xmm1, 16({saved})",
                "movups ({init}), %xmm0",
                "movups ({four}), %xmm1",
                "2:",
                "movups %xmm0, ({p})",
                "paddd %xmm1, %xmm0",
                "addl $16, {p}",
                "decl {q}",
                "jnz 2b",
                "movups 0({saved}), %xmm0",
                "movups 16({saved}), %xmm1",
                p = inout(reg) p => _,
                q = inout(reg) quads => _,
                init = in(reg) init.as_ptr(),
                four = in(reg) four.as_ptr(),
                saved = in(reg) saved.as_mut_ptr(),
                options(att_syntax, nostack)
            );
        }
        k = quads * 4;
    }
    while k < n {
        // SAFETY: the caller's contract.
        unsafe {
            p.add(k)
                .write_volatile(first.wrapping_add((k as u32).wrapping_mul(step)))
        };
        k += 1;
    }
}

/// The first four words of the run `first + k * step` (wrapping) and the step between one
/// group of four and the next: fill_step's and diff_step's XMM operands.
#[inline(always)]
fn step_vectors(first: u32, step: u32) -> ([u32; 4], [u32; 4]) {
    let init = [
        first,
        first.wrapping_add(step),
        first.wrapping_add(step.wrapping_mul(2)),
        first.wrapping_add(step.wrapping_mul(3)),
    ];
    (init, [step.wrapping_mul(4); 4])
}

/// The OR over k < n of `word k ^ (first + k * step)` (wrapping): zero iff the `n` words at
/// `p` run from `first` in steps of `step` (check_kern_pgdir's test of a run of mappings).
///
/// # Safety
/// The `n` words at `p` are readable.
#[inline]
pub unsafe fn diff_step(p: *const u32, n: usize, first: u32, step: u32) -> u32 {
    let mut k = 0;
    let mut diff = 0;
    if SCAN_SSE2.load(Ordering::Relaxed) && n >= 4 {
        let (init, four) = step_vectors(first, step);
        let mut out = [0u32; 4];
        let mut saved = [0u8; 64];
        let quads = n / 4;
        // SAFETY: reads quads * 16 bytes from p (the caller's); xmm0-xmm3 are saved and
        // restored.
        unsafe {
            core::arch::asm!(
                "movups %xmm0, 0({saved})",
                "movups %xmm1, 16({saved})",
                "movups %xmm2, 32({saved})",
                "movups %xmm3, 48({saved})",
                "movups ({init}), %xmm0",
                "movups ({four}), %xmm1",
                "pxor %xmm2, %xmm2",
                "2:",
                "movups ({p}), %xmm3",
                "pxor %xmm0, %xmm3",
                "por %xmm3, %xmm2",
                "paddd %xmm1, %xmm0",
                "addl $16, {p}",
                "decl {q}",
                "jnz 2b",
                "movups %xmm2, ({out})",
                "movups 0({saved}), %xmm0",
                "movups 16({saved}), %xmm1",
                "movups 32({saved}), %xmm2",
                "movups 48({saved}), %xmm3",
                p = inout(reg) p => _,
                q = inout(reg) quads => _,
                init = in(reg) init.as_ptr(),
                four = in(reg) four.as_ptr(),
                out = in(reg) out.as_mut_ptr(),
                saved = in(reg) saved.as_mut_ptr(),
                options(att_syntax, nostack)
            );
        }
        diff = out[0] | out[1] | out[2] | out[3];
        k = quads * 4;
    }
    while k < n {
        // SAFETY: the caller's contract.
        let w = unsafe { p.add(k).read_volatile() };
        diff |= w ^ first.wrapping_add((k as u32).wrapping_mul(step));
        k += 1;
    }
    diff
}

/// Entries (32-bit words) per block of [`zero_blocks`]: 128 bytes.
pub const SCAN_BLOCK: usize = 32;

/// How many of the `nblocks` blocks of `SCAN_BLOCK` words from `p` on are all zero before
/// the first that is not (`nblocks` if all are).
///
/// The page-table walks of fork and of freeing an env (`pmap::PageTable::scan_present`) skip
/// empty entries with this: an env's tables are mostly empty (955 directory entries below UTOP,
/// 1,024 per table, a few dozen present). Eight 16-byte loads OR-ed together and one compare
/// test 32 entries in 15 instructions, where a scalar test costs 2 or 3 per entry. The two XMM
/// registers used are the running env's: saved and restored as in [`zero_page`].
///
/// # Safety
/// `p` is 16-byte aligned and `nblocks * SCAN_BLOCK` words from it are readable kernel memory.
#[inline]
pub unsafe fn zero_blocks(p: *const u32, nblocks: usize) -> usize {
    if !SCAN_SSE2.load(Ordering::Relaxed) {
        let mut k = 0;
        while k < nblocks {
            let mut any = 0;
            for i in 0..SCAN_BLOCK {
                // SAFETY: inside the readable range (the caller's contract).
                any |= unsafe { p.add(k * SCAN_BLOCK + i).read_volatile() };
            }
            if any != 0 {
                break;
            }
            k += 1;
        }
        return k;
    }
    if nblocks == 0 {
        return 0;
    }
    let mut saved = [0u8; 32];
    let end = p.wrapping_add(nblocks * SCAN_BLOCK);
    let stop: *const u32;
    // SAFETY: reads of the caller's range only (aligned, as movdqa needs); xmm0 and xmm1 are
    // saved to `saved` first and restored last, so the env's values survive; the flags are
    // clobbered (no preserves_flags).
    unsafe {
        core::arch::asm!(
            "movups %xmm0, 0({saved})",
            "movups %xmm1, 16({saved})",
            "pxor %xmm1, %xmm1",
            "2:",
            "movdqa 0({p}), %xmm0",
            "por 16({p}), %xmm0",
            "por 32({p}), %xmm0",
            "por 48({p}), %xmm0",
            "por 64({p}), %xmm0",
            "por 80({p}), %xmm0",
            "por 96({p}), %xmm0",
            "por 112({p}), %xmm0",
            "pcmpeqd %xmm1, %xmm0",
            "pmovmskb %xmm0, {m}",
            "cmpl $0xffff, {m}",
            "jne 3f",
            "subl $-128, {p}",
            "cmpl {end}, {p}",
            "jne 2b",
            "3:",
            "movups 0({saved}), %xmm0",
            "movups 16({saved}), %xmm1",
            p = inout(reg) p => stop,
            end = in(reg) end,
            m = out(reg) _,
            saved = in(reg) saved.as_mut_ptr(),
            options(att_syntax, nostack)
        );
    }
    (stop as usize - p as usize) / (SCAN_BLOCK * 4)
}

/// Bytes in a page (the routines below are for whole, page-aligned pages only).
const PAGE: usize = 4096;

/// Zero the page at kernel address `kva`.
///
/// Page zeroing is most of `sys_page_alloc` (and of every page-table page): with 4-byte
/// `rep stosl` it is 1,024 instructions, with 16-byte `movaps` stores unrolled 64 times 270
/// (256 stores and 4 loop iterations).
/// The XMM register used belongs to whichever env this CPU is running, so its value is saved
/// on the stack and put back (the kernel runs with interrupts off: nothing else on this CPU
/// can see it in between). Before the boot CPU has enabled SSE, plain `write_bytes`.
///
/// # Safety
/// `kva` is page-aligned and the caller owns the page's 4,096 bytes.
#[inline]
pub unsafe fn zero_page(kva: *mut u8) {
    if !PAGE_SSE.load(Ordering::Relaxed) {
        // SAFETY: per the contract.
        unsafe { core::ptr::write_bytes(kva, 0, PAGE) };
        return;
    }
    let mut saved = core::mem::MaybeUninit::<[u8; 16]>::uninit();
    // SAFETY: writes only the caller's page (16-aligned `movaps` inside a page-aligned page)
    // and `saved`; xmm0 is restored before the block ends, so the asm clobbers nothing.
    // 1 KiB per iteration (64 stores, 4 iterations): the loop's own instructions are 12 of
    // the 270 or so.
    unsafe {
        core::arch::asm!(
            "movups %xmm0, ({saved})",
            "xorps %xmm0, %xmm0",
            "leal 4096({p}), {end}",
            "2:",
            ".irp off, 0,16,32,48,64,80,96,112,128,144,160,176,192,208,224,240,256,272,288,304,320,336,352,368,384,400,416,432,448,464,480,496,512,528,544,560,576,592,608,624,640,656,672,688,704,720,736,752,768,784,800,816,832,848,864,880,896,912,928,944,960,976,992,1008",
            "movaps %xmm0, \\off({p})",
            ".endr",
            "addl $1024, {p}",
            "cmpl {end}, {p}",
            "jne 2b",
            "movups ({saved}), %xmm0",
            p = inout(reg) kva => _,
            end = out(reg) _,
            saved = in(reg) saved.as_mut_ptr(),
            options(att_syntax, nostack)
        );
    }
}

/// Copy the page at kernel address `src` to the one at `dst` (the COW fault's copy).
///
/// As [`zero_page`]: 16-byte loads and stores, on two XMM registers saved and restored. Not
/// a loop: unrolled whole (256 loads and 256 stores, about 3 KiB of code), so the copy costs
/// 516 instructions, the 512 moves being the floor for a page on a CPU without AVX; the loop
/// of 512 bytes per iteration this replaces cost 598 (its own 32 instructions, and 14 more
/// saving and restoring the eight registers it rotated through). Two registers are enough
/// for the loads of one pair to overlap the stores of the other.
///
/// # Safety
/// Both page-aligned; the caller owns `dst`'s 4,096 bytes and `src`'s do not change.
#[inline]
pub unsafe fn copy_page(dst: *mut u8, src: *const u8) {
    if !PAGE_SSE.load(Ordering::Relaxed) {
        // SAFETY: per the contract (distinct pages).
        unsafe { core::ptr::copy_nonoverlapping(src, dst, PAGE) };
        return;
    }
    let mut saved = core::mem::MaybeUninit::<[u8; 32]>::uninit();
    // SAFETY: reads `src`'s page, writes `dst`'s page and `saved` (16-aligned `movaps`
    // inside page-aligned pages); xmm0 and xmm1 are restored before the block ends, so the
    // asm clobbers nothing.
    unsafe {
        core::arch::asm!(
            "movups %xmm0, 0({saved})",
            "movups %xmm1, 16({saved})",
            ".irp base, 0,512,1024,1536,2048,2560,3072,3584",
            ".irp off, 0,32,64,96,128,160,192,224,256,288,320,352,384,416,448,480",
            "movaps \\base+\\off({s}), %xmm0",
            "movaps \\base+\\off+16({s}), %xmm1",
            "movaps %xmm0, \\base+\\off({d})",
            "movaps %xmm1, \\base+\\off+16({d})",
            ".endr",
            ".endr",
            "movups 0({saved}), %xmm0",
            "movups 16({saved}), %xmm1",
            s = in(reg) src,
            d = in(reg) dst,
            saved = in(reg) saved.as_mut_ptr(),
            options(att_syntax, nostack, preserves_flags)
        );
    }
}

/// Save this CPU's FPU state into `area` (the state's owner's: that it is, is the caller's
/// bookkeeping, not a memory-safety matter).
#[inline]
pub fn save(area: &mut FpuArea) {
    // SAFETY: `area` is 16-byte aligned (FpuArea's alignment), 512 bytes and ours (`&mut`);
    // fxsave/fnsave write only there. fnsave also reinitializes the FPU, harmless at a switch.
    unsafe {
        if FXSR.load(Ordering::Relaxed) {
            core::arch::asm!("fxsave ({0})", in(reg) &raw mut *area, options(att_syntax, nostack));
        } else {
            core::arch::asm!("fnsave ({0})", in(reg) &raw mut *area, options(att_syntax, nostack));
        }
    }
}

/// Load this CPU's FPU state from `area`.
///
/// # Safety
/// `area` holds an image written by [`save`] or copied from the template (a user-chosen image
/// could hold reserved MXCSR bits, and fxrstor would fault in the kernel).
#[inline]
pub unsafe fn restore(area: &FpuArea) {
    // SAFETY: per the contract, a valid image of the format this CPU saves.
    unsafe {
        if FXSR.load(Ordering::Relaxed) {
            core::arch::asm!("fxrstor ({0})", in(reg) &raw const *area, options(att_syntax, nostack, readonly));
        } else {
            core::arch::asm!("frstor ({0})", in(reg) &raw const *area, options(att_syntax, nostack, readonly));
        }
    }
}

/// Give `area` the clean initial state.
pub fn reset(area: &mut FpuArea) {
    // SAFETY: TEMPLATE is written once at boot, before any env exists (only read since).
    area.0 = unsafe { (*TEMPLATE.0.get()).0 };
}

/// Copy this CPU's FPU state into `area`, leaving the registers as they are.
#[inline]
pub fn snapshot(area: &mut FpuArea) {
    save(area);
    if !FXSR.load(Ordering::Relaxed) {
        // SAFETY: fnsave reinitialized the FPU; the image it just wrote is loaded back.
        unsafe { restore(area) };
    }
}
