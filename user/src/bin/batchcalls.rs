//! batchcalls (ours): `sys_batch`, several system calls in one trap (a JOS lab 4 challenge).
//! Each call is checked and made exactly as if alone: a batch that fails says which call and
//! why, the calls before it took effect and those after it did not; calls that cannot be
//! batched fail at their index; more than `BATCH_MAX` calls are refused whole; the array is
//! read once (a call may unmap it); a bad array pointer is JOS's `user_mem_check assertion
//! failure` and destroys the caller; a batch that destroys its caller stops there.
#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

use jos_lib::inc::env::{ENV_FREE, EnvId, envx};
use jos_lib::inc::mmu::{PGSIZE, pgnum};
use jos_lib::inc::syscall::*;
use jos_lib::{
    BatchError, Error, Pte, batch_call, envs, exit, fork, ipc_recv, println, sys_batch,
    sys_getenvid, sys_page_alloc, sys_yield, uvpt,
};

jos_lib::entry!(umain);

const A: u32 = 0x1000_0000;
const B: u32 = A + PGSIZE;
const C: u32 = A + 2 * PGSIZE;
/// A page that holds a batch array, unmapped by a call of that batch.
const ARRAY_PAGE: u32 = A + 8 * PGSIZE;
/// Never mapped.
const UNMAPPED: u32 = 0xdead_0000;

fn rw() -> u32 {
    (Pte::P | Pte::U | Pte::W).bits()
}

fn frame(va: u32) -> u32 {
    uvpt(pgnum(va)) & !0xFFF
}

fn mapped(va: u32) -> bool {
    uvpt(pgnum(va)) & Pte::P.bits() != 0
}

fn call(num: u32, a: [u32; 5]) -> BatchCall {
    batch_call(num, a)
}

fn expect_fail(what: &str, calls: &[BatchCall], index: usize, error: Error) {
    // SAFETY: the batches of this program touch only A, B, C and ARRAY_PAGE, which nothing
    // in Rust refers to.
    let r = unsafe { sys_batch(calls) };
    let want = Err(BatchError {
        index,
        error: Some(error),
    });
    if r != want {
        panic!("{}: got {:?}, expected {:?}", what, r, want);
    }
}

fn wait_gone(id: EnvId) {
    while envs()[envx(id)].env_status() != ENV_FREE {
        sys_yield();
    }
}

fn umain() {
    let me = sys_getenvid() as u32;

    // All succeed, in order: the map sees the page the alloc made.
    let ok = [
        call(SYS_PAGE_ALLOC, [0, A, rw(), 0, 0]),
        call(SYS_PAGE_MAP, [0, A, me, B, rw()]),
        call(SYS_GETENVID, [0; 5]),
    ];
    // SAFETY: A and B are ours alone.
    unsafe { sys_batch(&ok) }.expect("a batch that succeeds");
    assert!(mapped(A) && frame(A) == frame(B), "B maps A's page");
    // SAFETY: A and B are mapped (one page), ours alone.
    let v = unsafe {
        write_volatile(B as *mut u32, 0x1234);
        read_volatile(A as *const u32)
    };
    assert_eq!(v, 0x1234);

    // A failure in the middle: the call before it took effect, the call after it did not.
    let mid = [
        call(SYS_PAGE_UNMAP, [0, B, 0, 0, 0]),
        call(SYS_PAGE_ALLOC, [0, C, rw() | Pte::PCD.bits(), 0, 0]),
        call(SYS_PAGE_UNMAP, [0, A, 0, 0, 0]),
    ];
    expect_fail("bad perm at 1", &mid, 1, Error::Inval);
    assert!(!mapped(B), "call 0 did not take effect");
    assert!(!mapped(C), "the failing call took effect");
    assert!(mapped(A), "call 2 took effect");

    // Each call checked as if alone: its own errors, at its index.
    expect_fail(
        "bad env at 0",
        &[call(SYS_PAGE_ALLOC, [0x7fff_f3ff, C, rw(), 0, 0])],
        0,
        Error::BadEnv,
    );
    expect_fail(
        "unaligned va at 1",
        &[
            call(SYS_GETENVID, [0; 5]),
            call(SYS_PAGE_ALLOC, [0, C + 4, rw(), 0, 0]),
        ],
        1,
        Error::Inval,
    );
    expect_fail(
        "try_send to a non-receiver",
        &[call(SYS_IPC_TRY_SEND, [me, 1, 0xffff_ffff, 0, 0])],
        0,
        Error::IpcNotRecv,
    );
    assert!(!mapped(C));

    // Calls that block, switch, create an env, print with the lock released, need their
    // result, or are batches: refused at their index (nothing after them made).
    for num in [
        SYS_YIELD,
        SYS_EXOFORK,
        SYS_IPC_RECV,
        SYS_IPC_SEND,
        SYS_CPUTS,
        SYS_BATCH,
        SYS_PAGE_DUP,
        SYS_IPC_SEND_RECV,
        NSYSCALLS,
        0xffff_ffff,
    ] {
        expect_fail(
            "not batchable",
            &[
                call(SYS_GETENVID, [0; 5]),
                call(num, [0; 5]),
                call(SYS_PAGE_ALLOC, [0, C, rw(), 0, 0]),
            ],
            1,
            Error::Inval,
        );
        assert!(!mapped(C), "a call after a refused one was made");
    }

    // More than BATCH_MAX: refused whole, nothing made.
    let mut many = [call(SYS_GETENVID, [0; 5]); BATCH_MAX + 1];
    many[0] = call(SYS_PAGE_ALLOC, [0, C, rw(), 0, 0]);
    expect_fail("BATCH_MAX + 1 calls", &many, 0, Error::Inval);
    assert!(!mapped(C), "a batch that was too long was made in part");
    // BATCH_MAX exactly is fine; an empty batch too.
    // SAFETY: C is ours alone.
    unsafe { sys_batch(&many[..BATCH_MAX]) }.expect("BATCH_MAX calls");
    assert!(mapped(C));
    // SAFETY: an empty batch does nothing.
    unsafe { sys_batch(&[]) }.expect("an empty batch");

    // The array is read once: a call that unmaps it changes nothing for the calls after it.
    // SAFETY: ARRAY_PAGE is ours alone.
    unsafe { sys_page_alloc(0, ARRAY_PAGE, Pte::P | Pte::U | Pte::W) }.expect("array page");
    let arr = ARRAY_PAGE as *mut BatchCall;
    // SAFETY: the page is mapped and holds nothing else.
    unsafe {
        arr.write(call(SYS_PAGE_UNMAP, [0, ARRAY_PAGE, 0, 0, 0]));
        arr.add(1).write(call(SYS_PAGE_UNMAP, [0, C, 0, 0, 0]));
        sys_batch(core::slice::from_raw_parts(arr, 2)).expect("a batch that unmaps itself");
    }
    assert!(!mapped(ARRAY_PAGE) && !mapped(C), "both calls made");

    // A batch that destroys its caller stops there: the child is gone, its later call never
    // made (the kernel would not even be able to: the env is freed).
    match fork() {
        Ok(0) => {
            let calls = [
                call(SYS_GETENVID, [0; 5]),
                call(SYS_ENV_DESTROY, [0; 5]),
                call(SYS_PAGE_ALLOC, [0, C, rw(), 0, 0]),
            ];
            // SAFETY: C is ours alone.
            let _ = unsafe { sys_batch(&calls) };
            panic!("batchcalls: a batch went on after destroying its caller");
        }
        Ok(id) => wait_gone(id),
        Err(e) => panic!("fork: {}", e),
    }

    // A batch may send to a waiting receiver (sys_ipc_try_send).
    match fork() {
        Ok(0) => {
            let m = ipc_recv().expect("ipc_recv");
            assert_eq!(m.value, 77, "the batched message");
            exit();
        }
        Ok(id) => {
            while !envs()[envx(id)].env_ipc_recving() {
                sys_yield();
            }
            // SAFETY: sends a value only.
            unsafe { sys_batch(&[call(SYS_IPC_TRY_SEND, [id as u32, 77, 0xffff_ffff, 0, 0])]) }
                .expect("a batched send");
            wait_gone(id);
        }
        Err(e) => panic!("fork: {}", e),
    }

    // A bad array pointer: JOS's user_mem_check failure, the caller destroyed. Unmapped,
    // and an array that runs past the end of a mapped page.
    for (base, n) in [(UNMAPPED, 1usize), (A + PGSIZE - 24, 2)] {
        match fork() {
            Ok(0) => {
                // SAFETY: the kernel must refuse the pointer before making any call.
                let _ =
                    unsafe { sys_batch(core::slice::from_raw_parts(base as *const BatchCall, n)) };
                panic!("batchcalls: a bad batch pointer was accepted");
            }
            Ok(id) => wait_gone(id),
            Err(e) => panic!("fork: {}", e),
        }
    }
    println!("batchcalls: all checks passed");
}
