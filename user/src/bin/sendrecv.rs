//! sendrecv (ours): `sys_ipc_send_recv` / `ipc_send_recv`, Liedtke's combined send and
//! receive. The reply comes back in registers and in `envs[]` alike; a receiver that is not
//! waiting yet makes the call wait (as `ipc_send`), then receive; pages go both ways; a sender
//! already queued on the caller is received at once; bad arguments are refused having done
//! nothing; and the plain `ipc_send`/`ipc_recv` work against it.
#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

use jos_lib::inc::env::{ENV_FREE, ENV_NOT_RUNNABLE, EnvId, envx};
use jos_lib::inc::memlayout::UTOP;
use jos_lib::inc::mmu::{PGSIZE, pgnum};
use jos_lib::{
    Error, Pte, envs, exit, fork, ipc_recv, ipc_recv_page, ipc_send, ipc_send_recv, println,
    sys_getenvid, sys_ipc_send_recv, sys_page_alloc, sys_yield, thisenv, uvpt,
};

jos_lib::entry!(umain);

/// The value that ends an echo child.
const STOP: u32 = 0xffff_ffff;
/// A page we send, and where we receive one.
const OUT: u32 = 0x1000_0000;
const IN: u32 = 0x1001_0000;

fn wait_gone(id: EnvId) {
    while envs()[envx(id)].env_status() != ENV_FREE {
        sys_yield();
    }
}

/// A child that answers each message with value + 1 (by `ipc_send_recv`, or by `ipc_send`
/// and `ipc_recv` when `plain`), after `lazy` yields the first time (so that our first send
/// finds it not yet waiting).
fn echo(plain: bool, lazy: u32) -> EnvId {
    match fork() {
        Ok(0) => {
            for _ in 0..lazy {
                sys_yield();
            }
            let mut m = ipc_recv().expect("echo: ipc_recv");
            loop {
                if m.value == STOP {
                    exit();
                }
                m = if plain {
                    ipc_send(m.from, m.value + 1, None, Pte::empty());
                    ipc_recv().expect("echo: ipc_recv")
                } else {
                    ipc_send_recv(m.from, m.value + 1, None, Pte::empty()).expect("echo")
                };
            }
        }
        Ok(id) => id,
        Err(e) => panic!("fork: {}", e),
    }
}

fn umain() {
    let me = sys_getenvid();

    // Ping-pong both ways, the child late the first time; and against plain ipc_send/recv.
    for (plain, lazy) in [(false, 0), (false, 20), (true, 0), (true, 20)] {
        let c = echo(plain, lazy);
        for i in 0..50 {
            let m = ipc_send_recv(c, i, None, Pte::empty()).expect("ipc_send_recv");
            assert_eq!((m.value, m.from, m.perm), (i + 1, c, Pte::empty()));
            // envs[] holds the same message.
            let e = thisenv();
            assert_eq!((e.env_ipc_value(), e.env_ipc_from()), (i + 1, c));
        }
        // Plain calls against it too.
        ipc_send(c, 100, None, Pte::empty());
        assert_eq!(ipc_recv().expect("ipc_recv").value, 101);
        ipc_send(c, STOP, None, Pte::empty());
        wait_gone(c);
    }

    // Pages both ways: we send OUT, the child answers with its own page, received at IN.
    // SAFETY: OUT and IN are used by nothing else here.
    unsafe { sys_page_alloc(0, OUT, Pte::P | Pte::U | Pte::W) }.expect("alloc OUT");
    // SAFETY: OUT is mapped and ours.
    unsafe { write_volatile(OUT as *mut u32, 0xabcd) };
    match fork() {
        Ok(0) => {
            // SAFETY: IN is ours to be replaced.
            let m = unsafe { ipc_recv_page(IN) }.expect("child: ipc_recv_page");
            assert_eq!(m.perm, Pte::P | Pte::U);
            // SAFETY: the page just received.
            assert_eq!(unsafe { read_volatile(IN as *const u32) }, 0xabcd);
            // SAFETY: OUT is ours (copy-on-write from the fork); the page sent is its copy.
            unsafe {
                sys_page_alloc(0, OUT, Pte::P | Pte::U | Pte::W).expect("child: alloc");
                write_volatile(OUT as *mut u32, 0x5678);
            }
            ipc_send(m.from, 1, Some(OUT), Pte::P | Pte::U);
            exit();
        }
        Ok(c) => {
            while !envs()[envx(c)].env_ipc_recving() {
                sys_yield();
            }
            // SAFETY: IN is ours to be replaced.
            let (v, from, perm) =
                // (OUT is copy-on-write since the fork: it goes read-only.)
                unsafe { sys_ipc_send_recv(c, 7, OUT, Pte::P | Pte::U, IN) }
                    .expect("sys_ipc_send_recv with pages");
            assert_eq!((v, from), (1, c));
            assert_eq!(perm, Pte::P | Pte::U, "the permissions in EBX");
            assert_eq!(thisenv().env_ipc_perm() as u32, perm.bits());
            assert_eq!(uvpt(pgnum(IN)) & 0x7, (Pte::P | Pte::U).bits());
            // SAFETY: the page just received.
            assert_eq!(unsafe { read_volatile(IN as *const u32) }, 0x5678);
            wait_gone(c);
        }
        Err(e) => panic!("fork: {}", e),
    }

    // A sender already queued on us is received at once; our message still goes out.
    let b = echo(false, 0);
    let a = match fork() {
        Ok(0) => {
            ipc_send(me, 77, None, Pte::empty());
            exit();
        }
        Ok(id) => id,
        Err(e) => panic!("fork: {}", e),
    };
    // A blocks in its send to us (suspended, not receiving), B waits in its receive.
    while !(envs()[envx(a)].env_status() == ENV_NOT_RUNNABLE && !envs()[envx(a)].env_ipc_recving())
        || !envs()[envx(b)].env_ipc_recving()
    {
        sys_yield();
    }
    let m = ipc_send_recv(b, 5, None, Pte::empty()).expect("with a queued sender");
    assert_eq!((m.value, m.from), (77, a), "A's message first");
    let m = ipc_recv().expect("B's answer");
    assert_eq!((m.value, m.from), (6, b));
    ipc_send(b, STOP, None, Pte::empty());
    wait_gone(a);
    wait_gone(b);

    // Refused, having done nothing.
    let c = echo(false, 0);
    while !envs()[envx(c)].env_ipc_recving() {
        sys_yield();
    }
    let refused = |what: &str, r: jos_lib::Result<(u32, EnvId, Pte)>, want: Error| match r {
        Err(e) if e == want => {}
        other => panic!("{}: got {:?}, expected {:?}", what, other, want),
    };
    // SAFETY: (all) refused before anything is sent or mapped.
    unsafe {
        refused(
            "to ourselves",
            sys_ipc_send_recv(me, 1, UTOP, Pte::empty(), UTOP),
            Error::Inval,
        );
        refused(
            "no such env",
            sys_ipc_send_recv(0x7fff_f3ff, 1, UTOP, Pte::empty(), UTOP),
            Error::BadEnv,
        );
        refused(
            "unaligned dstva",
            sys_ipc_send_recv(c, 1, UTOP, Pte::empty(), IN + 1),
            Error::Inval,
        );
        refused(
            "unaligned srcva",
            sys_ipc_send_recv(c, 1, OUT + 1, Pte::P | Pte::U, UTOP),
            Error::Inval,
        );
        refused(
            "unmapped srcva",
            sys_ipc_send_recv(c, 1, OUT + PGSIZE, Pte::P | Pte::U, UTOP),
            Error::Inval,
        );
    }
    // The child got none of those: its first message is this one.
    let m = ipc_send_recv(c, 40, None, Pte::empty()).expect("after the refusals");
    assert_eq!(m.value, 41);
    ipc_send(c, STOP, None, Pte::empty());
    wait_gone(c);
    println!("sendrecv: all checks passed");
}
