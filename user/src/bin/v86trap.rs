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

use jos_lib::{fork, println, sys_env_destroy};
use jos_user::hostile::wait_gone;
use jos_user::v86::{FL_1, FL_IF, FL_VM, Frame, LOW, MARK_OFF, V86_RAN, code};

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

/// Run one attack on a kernel that refuses pages below 0x110000: no V86 code can run, so
/// the child's first instruction fetch in V86 mode faults; it must be destroyed (the grader
/// counts the frame prints showing EFLAGS.VM). Each attack also once with IF clear and IOPL
/// 3, which would hold the CPU for good if V86 code could run.
fn run_without_code(a: &Attack) -> bool {
    for eflags in [FL_VM | FL_IF | FL_1, FL_VM | FL_IOPL3 | FL_1] {
        let frame = Frame {
            eip: CODE_AT - a.cs * 16,
            cs: a.cs,
            eflags,
            esp: 0x0ff0,
            ss: 0,
            es: 0,
            ds: a.ds,
            fs: 0,
            gs: 0,
        };
        let kid = match fork() {
            Ok(0) => jos_user::v86::enter(frame),
            Ok(id) => id,
            Err(e) => panic!("fork: {}", e),
        };
        if !wait_gone(kid, PATIENCE) {
            println!(
                "v86trap: FAIL: {} (eflags {:08x}): the V86 child {:08x} was not destroyed",
                a.name, eflags, kid
            );
            let _ = sys_env_destroy(kid);
            return false;
        }
    }
    println!("v86trap: {}: entered V86 mode, env destroyed: ok", a.name);
    true
}

/// Run one attack (once more if its V86 code left no mark); true if it held.
fn run(a: &Attack) -> bool {
    // The code (after the mark) and a spin after it in case the trap instruction does not
    // trap.
    jos_user::v86::poke(LOW + CODE_AT, &[0; 32]);
    jos_user::v86::poke(LOW + CODE_AT, &code::MARK);
    let at = LOW + CODE_AT + code::MARK.len() as u32;
    jos_user::v86::poke(at, a.code);
    jos_user::v86::poke(at + a.code.len() as u32, &code::SPIN);
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
        jos_user::v86::poke(LOW + MARK_OFF, &[0, 0]);
        let kid = match fork() {
            Ok(0) => jos_user::v86::enter(frame),
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
        mark = jos_user::v86::peek16(LOW + MARK_OFF);
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

/// EFLAGS.IOPL = 3.
const FL_IOPL3: u32 = 3 << 12;

fn umain() {
    let failures = if jos_user::v86::map_low(LOW, true) {
        ATTACKS.iter().filter(|a| !run(a)).count()
    } else {
        println!("v86trap: pages below 0x110000 refused: V86 code cannot run: ok");
        ATTACKS.iter().filter(|a| !run_without_code(a)).count()
    };
    if failures == 0 {
        println!("v86trap: every trap from V86 mode ended the env: ok");
    } else {
        println!("v86trap: {} failure(s)", failures);
    }
}
