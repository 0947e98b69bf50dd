//! pagecopy (ours): `sys_page_copy`, the one-call copy-on-write primitive fork's fault handler
//! uses. A copy holds the same bytes in a different physical page; replacing a page by its own
//! copy keeps its contents; a child can be given a copy; and every bad argument is refused
//! with JOS's error codes, changing nothing.
#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

use jos_lib::inc::memlayout::{ULIM, UTOP};
use jos_lib::inc::mmu::{PGSIZE, pgnum};
use jos_lib::{
    Error, Pte, exit, fork, ipc_recv, ipc_send, page_info, println, sys_page_alloc, sys_page_copy,
    sys_page_map, sys_page_unmap, thisenv, uvpt,
};

jos_lib::entry!(umain);

const A: u32 = 0x1000_0000;
const B: u32 = A + PGSIZE;
const C: u32 = A + 2 * PGSIZE;
const UNMAPPED: u32 = A + 16 * PGSIZE;

fn frame(va: u32) -> u32 {
    uvpt(pgnum(va)) & !0xFFF
}

/// The reference count of the physical page at `frame` (an address from `frame`).
fn refs(frame: u32) -> u16 {
    page_info(pgnum(frame) as usize)
        .expect("the page's record")
        .pp_ref
}

fn expect(what: &str, got: jos_lib::Result<()>, want: Error) {
    match got {
        Err(e) if e == want => {}
        other => panic!("{}: got {:?}, expected {:?}", what, other, want),
    }
}

fn umain() {
    let rw = Pte::P | Pte::U | Pte::W;
    // SAFETY: (every call here) A, B and UNMAPPED are used by nothing else in this program.
    unsafe {
        sys_page_alloc(0, A, rw).expect("alloc A");
        for i in 0..(PGSIZE / 4) {
            write_volatile((A as *mut u32).add(i as usize), i ^ 0x5A5A_0000);
        }
        // A copy elsewhere: same bytes, another frame, independent.
        sys_page_copy(0, A, B, rw).expect("copy A to B");
        assert!(frame(A) != frame(B), "the copy shares A's frame");
        for i in 0..(PGSIZE / 4) {
            assert_eq!(
                read_volatile((B as *const u32).add(i as usize)),
                i ^ 0x5A5A_0000
            );
        }
        write_volatile(B as *mut u32, 7);
        assert_eq!(
            read_volatile(A as *const u32),
            0x5A5A_0000,
            "writing B changed A"
        );
        // In place (the COW case): a new frame, the same contents.
        let old = frame(A);
        sys_page_copy(0, A, A, rw).expect("copy A onto itself");
        assert!(frame(A) != old, "in-place copy kept the frame");
        assert_eq!(read_volatile((A as *const u32).add(5)), 5 ^ 0x5A5A_0000);
        // A was A's frame's only mapping: that page is free now, the new one mapped once.
        assert_eq!(
            refs(old),
            0,
            "the replaced page (mapped once) still counted"
        );
        assert_eq!(refs(frame(A)), 1, "the copy's count");

        // In place, of a page mapped twice (A and C): C keeps the old page, one reference
        // less, and its bytes; A gets its own.
        sys_page_map(0, A, 0, C, rw).expect("map A at C too");
        let shared = frame(A);
        assert_eq!(refs(shared), 2, "a page mapped twice");
        sys_page_copy(0, A, A, rw).expect("copy A onto itself, shared with C");
        assert!(
            frame(A) != shared,
            "in-place copy of a shared page kept the frame"
        );
        assert_eq!(frame(C), shared, "C lost its page");
        assert_eq!(refs(shared), 1, "the shared page's count after the copy");
        assert_eq!(refs(frame(A)), 1, "the copy's count");
        write_volatile((A as *mut u32).add(5), 55);
        assert_eq!(
            read_volatile((C as *const u32).add(5)),
            5 ^ 0x5A5A_0000,
            "writing A's copy changed C"
        );
        sys_page_unmap(0, C).expect("unmap C");
        assert_eq!(refs(shared), 0, "the page C kept, unmapped");

        // Bad arguments.
        expect(
            "unmapped source",
            sys_page_copy(0, UNMAPPED, B, rw),
            Error::Inval,
        );
        expect(
            "source at UTOP",
            sys_page_copy(0, UTOP, B, rw),
            Error::Inval,
        );
        expect("kernel source", sys_page_copy(0, ULIM, B, rw), Error::Inval);
        expect(
            "unaligned source",
            sys_page_copy(0, A + 4, B, rw),
            Error::Inval,
        );
        expect(
            "unaligned destination",
            sys_page_copy(0, A, B + 1, rw),
            Error::Inval,
        );
        expect(
            "destination at UTOP",
            sys_page_copy(0, A, UTOP, rw),
            Error::Inval,
        );
        expect(
            "perm without PTE_U",
            sys_page_copy(0, A, B, Pte::P | Pte::W),
            Error::Inval,
        );
        expect(
            "perm with PTE_PCD",
            sys_page_copy(0, A, B, rw | Pte::PCD),
            Error::Inval,
        );
        expect(
            "no such env",
            sys_page_copy(0x7fff_f3ff, A, B, rw),
            Error::BadEnv,
        );
        assert_eq!(
            read_volatile(B as *const u32),
            7,
            "a refused copy changed B"
        );
        sys_page_unmap(0, B).expect("unmap B");
    }

    // A parent may give its child a copy of the child's page; the child sees its own bytes.
    // (The child waits for the parent's word before it looks, and the parent for the child's
    // before it reports: without that the child could exit before the copy, and the copy
    // would fail with -E_BAD_ENV.)
    match fork() {
        Ok(0) => {
            // SAFETY: reading our copy-on-write view of A.
            let v = unsafe { read_volatile((A as *const u32).add(9)) };
            assert_eq!(v, 9 ^ 0x5A5A_0000);
            // Not the other way round: the parent is not our child.
            let parent = thisenv().env_parent_id();
            // SAFETY: refused; if it were not, it would change only the parent's B.
            expect(
                "copy in the parent",
                unsafe { sys_page_copy(parent, A, B, rw) },
                Error::BadEnv,
            );
            ipc_recv().expect("ipc_recv");
            assert!(
                frame(A) != frame(B),
                "the child's copy shares its A's frame"
            );
            // SAFETY: B is the page the parent gave us, mapped now.
            let v = unsafe { read_volatile((B as *const u32).add(9)) };
            assert_eq!(v, 9 ^ 0x5A5A_0000, "the child's copy of A");
            ipc_send(parent, 1, None, Pte::empty());
            exit();
        }
        Ok(child) => {
            // SAFETY: changes only the child's B.
            unsafe { sys_page_copy(child, A, B, rw) }.expect("copy in the child");
            ipc_send(child, 0, None, Pte::empty());
            let m = ipc_recv().expect("ipc_recv");
            assert_eq!(m.value, 1, "the child's answer");
        }
        Err(e) => panic!("fork: {}", e),
    }
    println!("pagecopy: all checks passed");
}
