//! stringtest (ours): the `rep`-based memcpy, memmove and memset (lib/string.rs, which the
//! kernel links too) against a byte-by-byte reference, for every small length, alignment and
//! overlap, in both directions.
#![no_std]
#![no_main]

use jos_lib::println;

jos_lib::entry!(umain);

const N: usize = 64;

fn pattern(seed: u8) -> [u8; N] {
    core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(seed))
}

/// The routines are called through the symbols, not inlined by the compiler (which would test
/// LLVM instead): black_box hides the pointers' provenance and the lengths.
fn umain() {
    unsafe extern "C" {
        fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
        fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
        fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8;
    }
    let mut cases = 0;
    for len in 0..40 {
        for off_d in 0..8 {
            for off_s in 0..8 {
                // memcpy between distinct buffers.
                let src = pattern(off_s as u8);
                let mut dst = pattern(0xA0);
                let mut want = dst;
                want[off_d..off_d + len].copy_from_slice(&src[off_s..off_s + len]);
                // SAFETY: both ranges lie inside their arrays; the arrays are distinct.
                let r = unsafe {
                    memcpy(
                        core::hint::black_box(dst.as_mut_ptr().add(off_d)),
                        core::hint::black_box(src.as_ptr().add(off_s)),
                        core::hint::black_box(len),
                    )
                };
                assert_eq!(r, dst.as_mut_ptr().wrapping_add(off_d), "memcpy's result");
                assert_eq!(dst, want, "memcpy len {len} dst+{off_d} src+{off_s}");

                // memmove within one buffer: overlapping either way.
                let mut buf = pattern(7);
                let mut want = buf;
                want.copy_within(off_s..off_s + len, off_d);
                // SAFETY: both ranges lie inside `buf`; memmove allows overlap.
                let r = unsafe {
                    let p = core::hint::black_box(buf.as_mut_ptr());
                    memmove(p.add(off_d), p.add(off_s), core::hint::black_box(len))
                };
                assert_eq!(r, buf.as_mut_ptr().wrapping_add(off_d), "memmove's result");
                assert_eq!(buf, want, "memmove len {len} dst+{off_d} src+{off_s}");
                cases += 2;
            }
            // memset.
            let mut buf = pattern(3);
            let mut want = buf;
            want[off_d..off_d + len].fill(0xC5);
            // SAFETY: the range lies inside `buf`.
            unsafe {
                memset(
                    core::hint::black_box(buf.as_mut_ptr().add(off_d)),
                    core::hint::black_box(0x1C5),
                    core::hint::black_box(len),
                )
            };
            assert_eq!(buf, want, "memset len {len} dst+{off_d}");
            cases += 1;
        }
    }
    println!("stringtest: {} cases ok", cases);
}
