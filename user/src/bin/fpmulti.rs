//! fpmulti (ours, no JOS counterpart): several environments computing with x87 and SSE at
//! the same time, under preemption, must each get exact results.
//!
//! JOS saves no FPU state on a context switch, so envs sharing a CPU compute with each
//! other's registers. Forks N children; child i adds 1.0 to a value of its own ROUNDS x ADDS
//! times, first on the x87 stack (`fadd`), then in SSE registers (`addsd` on a double and
//! `addps` on four floats), yielding after every ADDS additions; each phase is one asm block
//! long enough to span many timer ticks. All starting values are distinct and every sum is
//! an integer below 2^24, so each result is exact or wrong. Children report through a shared
//! page; the parent checks every result and prints `fpmulti: all N results exact` only if
//! all are. (On a kernel without SSE enabled the SSE phase dies of an invalid opcode: its
//! results never arrive.)
#![no_std]
#![no_main]

use core::arch::asm;
use core::mem::offset_of;

use jos_lib::inc::env::EnvId;
use jos_lib::inc::syscall::SYS_YIELD;
use jos_lib::inc::trap::T_SYSCALL;
use jos_lib::{exit, fork, println};
use jos_user::hostile::{Shared, wait_gone};

jos_lib::entry!(umain);

const N: usize = 6;
const ROUNDS: u32 = 20;
const ADDS: u32 = 50_000;
const SHARED: u32 = 0x0e00_0000;
/// Shared words per child, at 16 * i: x87 done, x87 result (2 words), SSE done, double
/// result (2 words), four float results.
const X87_DONE: usize = 0;
const X87: usize = 1;
const SSE_DONE: usize = 3;
const DBL: usize = 4;
const FLT: usize = 6;

fn x87_start(i: usize) -> i64 {
    1_000_000_007 * (i as i64 + 1)
}
fn dbl_start(i: usize) -> u64 {
    10_000_019 * (i as u64 + 1)
}
fn flt_start(i: usize, j: usize) -> u32 {
    ((i * 4 + j + 1) * 1000) as u32
}

/// `start + ROUNDS * ADDS` additions of 1.0 in st(0).
fn x87_sum(start: i64) -> i64 {
    let mut out: i64 = 0;
    // SAFETY: reads `start`, writes `out`; the x87 stack is declared and left empty; the
    // yields clobber only EAX.
    unsafe {
        asm!(
            "fninit",
            "fld1",
            "fildq ({s})",
            "2:",
            "movl ${adds}, %edx",
            "3:",
            "fadd %st(1), %st",
            "decl %edx",
            "jnz 3b",
            "movl ${yield_}, %eax",
            "int ${t}",
            "decl %ecx",
            "jnz 2b",
            "fistpq ({o})",
            "fstp %st(0)",
            s = in(reg) &start,
            o = in(reg) &mut out,
            adds = const ADDS,
            yield_ = const SYS_YIELD,
            t = const T_SYSCALL,
            inout("ecx") ROUNDS => _,
            out("eax") _,
            out("edx") _,
            out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
            out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
            options(att_syntax),
        );
    }
    out
}

/// The SSE operands and results, 16-byte aligned for movaps.
#[repr(C, align(16))]
struct Sse {
    flt: [u32; 4],
    flt_one: [u32; 4],
    dbl: u64,
    dbl_one: u64,
    mxcsr: u32,
}

/// The same additions with addsd (double) and addps (four floats), in place.
fn sse_sum(v: &mut Sse) {
    // SAFETY: reads and writes `*v` only; MXCSR and XMM0..3 belong to this block (the target
    // is soft-float: no compiled code uses them, which is also why they cannot be declared
    // as clobbers); the yields clobber only EAX.
    unsafe {
        asm!(
            "ldmxcsr {mxcsr}({v})",
            "movaps {flt}({v}), %xmm2",
            "movaps {flt_one}({v}), %xmm3",
            "movsd {dbl}({v}), %xmm0",
            "movsd {dbl_one}({v}), %xmm1",
            "2:",
            "movl ${adds}, %edx",
            "3:",
            "addsd %xmm1, %xmm0",
            "addps %xmm3, %xmm2",
            "decl %edx",
            "jnz 3b",
            "movl ${yield_}, %eax",
            "int ${t}",
            "decl %ecx",
            "jnz 2b",
            "movaps %xmm2, {flt}({v})",
            "movsd %xmm0, {dbl}({v})",
            v = in(reg) v as *mut Sse,
            flt = const offset_of!(Sse, flt),
            flt_one = const offset_of!(Sse, flt_one),
            dbl = const offset_of!(Sse, dbl),
            dbl_one = const offset_of!(Sse, dbl_one),
            mxcsr = const offset_of!(Sse, mxcsr),
            adds = const ADDS,
            yield_ = const SYS_YIELD,
            t = const T_SYSCALL,
            inout("ecx") ROUNDS => _,
            out("eax") _,
            out("edx") _,
            options(att_syntax),
        );
    }
}

fn child(sh: Shared, i: usize) -> ! {
    let base = 16 * i;
    let r = x87_sum(x87_start(i));
    sh.set(base + X87, r as u32);
    sh.set(base + X87 + 1, (r >> 32) as u32);
    sh.set(base + X87_DONE, 1);

    let mut v = Sse {
        flt: core::array::from_fn(|j| (flt_start(i, j) as f32).to_bits()),
        flt_one: [1.0f32.to_bits(); 4],
        dbl: (dbl_start(i) as f64).to_bits(),
        dbl_one: 1.0f64.to_bits(),
        mxcsr: 0x1f80,
    };
    sse_sum(&mut v);
    sh.set(base + DBL, v.dbl as u32);
    sh.set(base + DBL + 1, (v.dbl >> 32) as u32);
    for j in 0..4 {
        sh.set(base + FLT + j, v.flt[j]);
    }
    sh.set(base + SSE_DONE, 1);
    exit();
}

fn umain() {
    let sh = Shared::new(SHARED);
    let mut kids: [EnvId; N] = [0; N];
    for (i, kid) in kids.iter_mut().enumerate() {
        *kid = match fork() {
            Ok(0) => child(sh, i),
            Ok(id) => id,
            Err(e) => panic!("fork: {}", e),
        };
    }
    for &kid in &kids {
        if !wait_gone(kid, 1_000_000) {
            println!("fpmulti: FAIL: child {:08x} never exited", kid);
        }
    }

    let n = u64::from(ROUNDS * ADDS);
    let mut exact = 0;
    for i in 0..N {
        let base = 16 * i;
        let mut ok = true;
        let want = x87_start(i) + n as i64;
        let got = i64::from(sh.get(base + X87)) | i64::from(sh.get(base + X87 + 1)) << 32;
        if sh.get(base + X87_DONE) == 0 {
            println!("fpmulti: FAIL: child {}: no x87 result", i);
            ok = false;
        } else if got != want {
            println!(
                "fpmulti: FAIL: child {}: x87 sum {} (expected {})",
                i, got, want
            );
            ok = false;
        }
        if sh.get(base + SSE_DONE) == 0 {
            println!("fpmulti: FAIL: child {}: no SSE result", i);
            ok = false;
        } else {
            let dbl = u64::from(sh.get(base + DBL)) | u64::from(sh.get(base + DBL + 1)) << 32;
            let want = ((dbl_start(i) + n) as f64).to_bits();
            if dbl != want {
                println!(
                    "fpmulti: FAIL: child {}: addsd sum {:?} (expected {:?})",
                    i,
                    f64::from_bits(dbl),
                    f64::from_bits(want)
                );
                ok = false;
            }
            for j in 0..4 {
                let got = sh.get(base + FLT + j);
                let want = ((u64::from(flt_start(i, j)) + n) as f32).to_bits();
                if got != want {
                    println!(
                        "fpmulti: FAIL: child {}: addps lane {} sum {:?} (expected {:?})",
                        i,
                        j,
                        f32::from_bits(got),
                        f32::from_bits(want)
                    );
                    ok = false;
                }
            }
        }
        if ok {
            exact += 1;
        }
    }
    if exact == N {
        println!("fpmulti: all {} results exact", N);
    } else {
        println!("fpmulti: {} of {} children exact", exact, N);
    }
}
