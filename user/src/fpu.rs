//! x87/SSE helpers shared by fpusecret and fpuclean.
//!
//! The user target is soft-float: compiled Rust code never touches the x87 stack, MXCSR or
//! the XMM registers, so all of that state belongs to the asm blocks here. Each block that
//! uses the x87 stack declares st(0)..st(7) clobbered (so it starts empty, as asm! requires)
//! and leaves it empty. The XMM registers cannot be declared: LLVM cannot allocate them on a
//! target without SSE; no compiled code reads or writes them, so nothing else is affected.

use core::arch::asm;
use core::fmt::Write;
use core::mem::offset_of;

use jos_lib::inc::syscall::SYS_YIELD;
use jos_lib::inc::trap::T_SYSCALL;

/// An FXSAVE image (512 bytes, 16-byte aligned).
#[repr(C, align(16))]
pub struct Fx(pub [u8; 512]);

/// Bytes FXSAVE does not write keep this value, so a part it skipped shows.
const POISON: u8 = 0xa5;

/// The FCW after `fninit`, and MXCSR at reset.
pub const FCW_CLEAN: u16 = 0x037f;
pub const MXCSR_CLEAN: u32 = 0x1f80;

impl Fx {
    fn u16_at(&self, i: usize) -> u16 {
        u16::from_le_bytes([self.0[i], self.0[i + 1]])
    }
    fn u32_at(&self, i: usize) -> u32 {
        u32::from_le_bytes([self.0[i], self.0[i + 1], self.0[i + 2], self.0[i + 3]])
    }
    pub fn fcw(&self) -> u16 {
        self.u16_at(0)
    }
    pub fn fsw(&self) -> u16 {
        self.u16_at(2)
    }
    /// The abridged tag word: bit i set = physical register i holds a value.
    pub fn ftw(&self) -> u8 {
        self.0[4]
    }
    pub fn mxcsr(&self) -> u32 {
        self.u32_at(24)
    }
    /// The 80-bit value of st(i) (each has a 16-byte slot; the last 6 bytes are reserved
    /// and FXSAVE need not write them).
    pub fn st(&self, i: usize) -> &[u8] {
        &self.0[32 + 16 * i..42 + 16 * i]
    }
    pub fn xmm(&self, i: usize) -> &[u8] {
        &self.0[160 + 16 * i..176 + 16 * i]
    }

    /// Whether this image is the state a new environment must start with: FCW 0x037F,
    /// status word 0, empty stack, zero data registers, MXCSR 0x1F80, zero XMM registers.
    /// Writes what differs to `out`.
    pub fn check_clean(&self, out: &mut impl Write) -> bool {
        let mut clean = true;
        let mut bad = |out: &mut dyn Write, args: core::fmt::Arguments<'_>| {
            clean = false;
            let _ = out.write_fmt(args);
        };
        if self.fcw() != FCW_CLEAN {
            bad(out, format_args!(" FCW {:04x}", self.fcw()));
        }
        if self.fsw() != 0 {
            bad(out, format_args!(" FSW {:04x}", self.fsw()));
        }
        if self.ftw() != 0 {
            bad(out, format_args!(" FTW {:02x}", self.ftw()));
        }
        for i in 0..8 {
            if self.st(i).iter().any(|&b| b != 0) {
                bad(out, format_args!(" st{}={}", i, Hex(self.st(i))));
            }
        }
        let sse = &self.0[24..28];
        let xmm = &self.0[160..288];
        if sse.iter().chain(xmm).all(|&b| b == POISON) {
            // Without CR4.OSFXSR, FXSAVE leaves these out (and SSE instructions fault).
            bad(
                out,
                format_args!(" MXCSR and XMM not saved (SSE not enabled)"),
            );
            return clean;
        }
        if self.mxcsr() != MXCSR_CLEAN {
            bad(out, format_args!(" MXCSR {:08x}", self.mxcsr()));
        }
        for i in 0..8 {
            if self.xmm(i).iter().any(|&b| b != 0) {
                bad(out, format_args!(" xmm{}={}", i, Hex(self.xmm(i))));
            }
        }
        clean
    }
}

/// Bytes as hex, most significant first (the registers are little-endian).
pub struct Hex<'a>(pub &'a [u8]);

impl core::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.0.iter().rev() {
            write!(f, "{:02x}", b)?;
        }
        Ok(())
    }
}

/// FXSAVE of the current state, into an image pre-filled with POISON.
#[inline(always)]
pub fn fxsave() -> Fx {
    let mut fx = Fx([POISON; 512]);
    // SAFETY: FXSAVE writes the 512-byte, 16-byte-aligned image and changes no register.
    unsafe { asm!("fxsave ({})", in(reg) &raw mut fx, options(att_syntax, nostack)) };
    fx
}

/// What [`hold`] loads into the FPU and what it read back after the yields.
#[repr(C, align(16))]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Regs {
    /// XMM0..XMM7.
    pub xmm: [[u32; 4]; 8],
    /// Pushed in this order: st(2), st(1), st(0) at the end.
    pub st: [i64; 3],
    pub fcw: u16,
    pub _pad: u16,
    pub mxcsr: u32,
}

/// Load `v` into x87 (FCW and three stack registers) and SSE (MXCSR, XMM0..7), then yield
/// `yields` times with a busy loop of `spin` iterations after each yield (so timer
/// preemptions land as well), and return what the registers hold then. x87 goes first: on a
/// kernel without SSE enabled the first SSE instruction raises #UD, after the x87 values are
/// already in place.
pub fn hold(v: &Regs, yields: u32, spin: u32) -> Regs {
    let mut out = Regs {
        xmm: [[0; 4]; 8],
        st: [0; 3],
        fcw: 0,
        _pad: 0,
        mxcsr: 0,
    };
    // SAFETY: reads `v` and writes `out` (both live, aligned), uses the x87 stack (declared,
    // left empty), MXCSR and XMM (see the module header), and makes sys_yield calls, which
    // change no memory and clobber only EAX.
    unsafe {
        asm!(
            "fninit",
            "fldcw {fcw}({v})",
            "fildq {st}({v})",
            "fildq {st}+8({v})",
            "fildq {st}+16({v})",
            "ldmxcsr {mxcsr}({v})",
            "movups {xmm}({v}), %xmm0",
            "movups {xmm}+16({v}), %xmm1",
            "movups {xmm}+32({v}), %xmm2",
            "movups {xmm}+48({v}), %xmm3",
            "movups {xmm}+64({v}), %xmm4",
            "movups {xmm}+80({v}), %xmm5",
            "movups {xmm}+96({v}), %xmm6",
            "movups {xmm}+112({v}), %xmm7",
            "test %ecx, %ecx",
            "jz 3f",
            "2:",
            "movl ${yield_}, %eax",
            "int ${t}",
            "movl {spin}, %edx",
            "4:",
            "decl %edx",
            "jnz 4b",
            "decl %ecx",
            "jnz 2b",
            "3:",
            "movups %xmm0, {xmm}({o})",
            "movups %xmm1, {xmm}+16({o})",
            "movups %xmm2, {xmm}+32({o})",
            "movups %xmm3, {xmm}+48({o})",
            "movups %xmm4, {xmm}+64({o})",
            "movups %xmm5, {xmm}+80({o})",
            "movups %xmm6, {xmm}+96({o})",
            "movups %xmm7, {xmm}+112({o})",
            "stmxcsr {mxcsr}({o})",
            "fnstcw {fcw}({o})",
            // Pop in reverse push order, so out.st matches v.st.
            "fistpq {st}+16({o})",
            "fistpq {st}+8({o})",
            "fistpq {st}({o})",
            "fninit",
            v = in(reg) v,
            o = in(reg) &raw mut out,
            spin = in(reg) spin.max(1),
            yield_ = const SYS_YIELD,
            t = const T_SYSCALL,
            fcw = const offset_of!(Regs, fcw),
            st = const offset_of!(Regs, st),
            mxcsr = const offset_of!(Regs, mxcsr),
            xmm = const offset_of!(Regs, xmm),
            inout("ecx") yields => _,
            out("eax") _,
            out("edx") _,
            out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
            out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
            options(att_syntax),
        );
    }
    out
}

/// Values for [`hold`] derived from `seed`: distinct in every register, FCW and MXCSR other
/// than their clean values (rounding mode `rc`, 1..=3) but with all exceptions masked.
pub fn values(seed: u32, rc: u16) -> Regs {
    let mut xmm = [[0u32; 4]; 8];
    for (i, r) in xmm.iter_mut().enumerate() {
        for (j, w) in r.iter_mut().enumerate() {
            *w = seed.wrapping_mul(0x9e37_79b9) ^ ((i * 4 + j) as u32).wrapping_mul(0x0101_0101);
        }
    }
    let s = i64::from(seed);
    Regs {
        xmm,
        st: [
            s << 20 | 0x0001_2345,
            -(s << 12 | 0x0007_89ab),
            s.wrapping_mul(0x1_0000_0001) | 1,
        ],
        fcw: FCW_CLEAN | (rc << 10),
        _pad: 0,
        mxcsr: MXCSR_CLEAN | (u32::from(rc) << 13),
    }
}

/// A `fmt::Write` into a fixed buffer, for composing one report line.
pub struct Line {
    pub buf: [u8; 512],
    pub len: usize,
}

impl Default for Line {
    fn default() -> Line {
        Line::new()
    }
}

impl Line {
    pub fn new() -> Line {
        Line {
            buf: [0; 512],
            len: 0,
        }
    }
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
