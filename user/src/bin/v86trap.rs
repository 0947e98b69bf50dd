//! v86trap (ours, no JOS counterpart): a user env that enters virtual-8086 mode must not be
//! able to make the kernel mistake its traps for the kernel's own.
//!
//! QEMU's TCG enters V86 mode on a CPL-3 `iret` that pops EFLAGS with VM set (see
//! user/src/v86.rs). In V86 mode CS holds a real-mode segment number: with its low two bits
//! 0, a kernel that reads the trapped privilege level from CS alone (JOS's `tf_cs & 3`) takes
//! the env's next trap for a fault of its own and panics; with them 3 it handles the trap as
//! a user trap but on a frame 16 bytes longer than it expects (ES, DS, FS, GS pushed after
//! SS), so resuming the env pops the wrong words. Specified: any trap with EFLAGS.VM set is a
//! user trap, and since JOS has no use for V86 mode the env is destroyed with JOS's trap
//! frame print (`TRAP frame at ...`); the kernel goes on.
//!
//! One child per attack; each V86 code first marks that it ran (so an `iret` that never
//! entered V86 mode cannot pass for a defended kernel), then traps:
//! - `hlt` (#GP), `int $0x30` (#GP: IOPL 0), a read at an unmapped linear address (#PF), a
//!   far jump to code at an unmapped linear address (#PF on the fetch, CS the new segment),
//!   with CS's low bits 3 (`rpl3-*`) and 0 (`rpl0-*`);
//! - a `pause` loop with IF set, trapping at the next timer interrupt, with CS's low bits 0
//!   (`rpl0-timer`) and 3 (`rpl3-timer`: a resume that pops the misread frame loads CS 0).
//!
//! The child must be gone (destroyed) soon after its V86 code ran (if a timer interrupt
//! came before the code's first instruction, the mark is missing and the attack is made
//! again, at most `ATTEMPTS` times); the parent prints
//! `v86trap: NAME: V86 code ran, env destroyed: ok` for each and `v86trap: every trap from
//! V86 mode ended the env: ok` at the end. The grader also counts the trap frame prints and
//! checks with `meminfo` that nothing leaked.
#![no_std]
#![no_main]

#[path = "../hostile.rs"]
mod hostile;
#[path = "../v86.rs"]
mod v86;

use hostile::wait_gone;
use jos_lib::{fork, println, sys_env_destroy};
use v86::{FL_1, FL_IF, FL_VM, Frame, LOW, MARK_OFF, V86_RAN, code};

jos_lib::entry!(umain);

/// Where the V86 code goes in the low page: linear 0x230, after the mark at 0x100.
const CODE_AT: u32 = 0x230;
/// Yields to wait for a child to be destroyed: its first trap is immediate or the next
/// timer tick.
const PATIENCE: u32 = 100_000;

struct Attack {
    name: &'static str,
    /// The V86 code segment; the code runs from CODE_AT = cs * 16 + ip.
    cs: u32,
    /// The V86 data segment (for the read at 0xfff0).
    ds: u32,
    /// The code after the mark.
    code: &'static [u8],
}

const ATTACKS: [Attack; 10] = [
    Attack {
        name: "rpl3-hlt",
        cs: 0x0023,
        ds: 0,
        code: &code::HLT,
    },
    Attack {
        name: "rpl3-int30",
        cs: 0x0023,
        ds: 0,
        code: &code::INT30,
    },
    Attack {
        name: "rpl3-pagefault",
        cs: 0x0023,
        ds: 0xf000,
        code: &code::READ_FFF0,
    },
    Attack {
        name: "rpl3-fetch",
        cs: 0x0023,
        ds: 0,
        code: &code::JMP_F003,
    },
    Attack {
        name: "rpl0-hlt",
        cs: 0x0020,
        ds: 0,
        code: &code::HLT,
    },
    Attack {
        name: "rpl0-int30",
        cs: 0x0020,
        ds: 0,
        code: &code::INT30,
    },
    Attack {
        name: "rpl0-pagefault",
        cs: 0x0020,
        ds: 0xf000,
        code: &code::READ_FFF0,
    },
    Attack {
        name: "rpl0-fetch",
        cs: 0x0020,
        ds: 0,
        code: &code::JMP_F000,
    },
    Attack {
        name: "rpl0-timer",
        cs: 0x0020,
        ds: 0,
        code: &code::SPIN,
    },
    Attack {
        name: "rpl3-timer",
        cs: 0x0023,
        ds: 0,
        code: &code::SPIN,
    },
];

/// Attempts per attack: the first trap may come before the V86 code's first instruction (a
/// timer interrupt raised while the `iret` ran), and then the mark is missing although the
/// env did trap from V86 mode. Another attempt then gets the evidence.
const ATTEMPTS: u32 = 8;

/// Run one attack (once more if its V86 code left no mark); true if it held.
fn run(a: &Attack) -> bool {
    // The code (after the mark) and a spin after it in case the trap instruction does not
    // trap.
    v86::poke(LOW + CODE_AT, &[0; 32]);
    v86::poke(LOW + CODE_AT, &code::MARK);
    let at = LOW + CODE_AT + code::MARK.len() as u32;
    v86::poke(at, a.code);
    v86::poke(at + a.code.len() as u32, &code::SPIN);
    let frame = Frame {
        eip: CODE_AT - a.cs * 16,
        cs: a.cs,
        eflags: FL_VM | FL_IF | FL_1,
        esp: 0x0ff0,
        ss: 0,
        es: 0,
        ds: a.ds,
        fs: 0,
        gs: 0,
    };
    let mut mark = 0;
    for _ in 0..ATTEMPTS {
        // The mark, with ES = 0: linear MARK_OFF.
        v86::poke(LOW + MARK_OFF, &[0, 0]);
        let kid = match fork() {
            Ok(0) => v86::enter(frame),
            Ok(id) => id,
            Err(e) => panic!("fork: {}", e),
        };
        if !wait_gone(kid, PATIENCE) {
            println!(
                "v86trap: FAIL: {}: the V86 child {:08x} was not destroyed at its first trap",
                a.name, kid
            );
            let _ = sys_env_destroy(kid);
            return false;
        }
        mark = v86::peek16(LOW + MARK_OFF);
        if mark == V86_RAN {
            println!("v86trap: {}: V86 code ran, env destroyed: ok", a.name);
            return true;
        }
    }
    println!(
        "v86trap: FAIL: {}: the V86 code never ran in {} attempts (mark {:04x}): the iret \
         did not enter V86 mode, so this proves nothing (the test needs QEMU's TCG)",
        a.name, ATTEMPTS, mark
    );
    false
}

fn umain() {
    v86::map(LOW, true);
    let failures = ATTACKS.iter().filter(|a| !run(a)).count();
    if failures == 0 {
        println!("v86trap: every trap from V86 mode ended the env: ok");
    } else {
        println!("v86trap: {} failure(s)", failures);
    }
}
