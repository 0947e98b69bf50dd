//! v86ring0 (ours, no JOS counterpart): a user env in virtual-8086 mode must not get its own
//! code run in ring 0.
//!
//! A trap from V86 mode pushes ES, DS, FS and GS after SS (see user/src/v86.rs). A kernel
//! that keeps a user env's registers in a fixed frame at the top of the kernel stack and
//! reads the trap as an ordinary user trap (CS's low bits are 3) resumes the env from words
//! 16 bytes off: the `iret` takes EIP from the V86 SS slot, CS from ES, EFLAGS from DS (and
//! the data segments from EIP and CS). So the program chooses, in its V86 frame: CS = 0x23
//! (user data: RPL 3, and a valid DS to pop), EIP in 0x19..0x23 (valid selectors for ES,
//! whatever instruction the tick interrupts), ES = 0x08 (the kernel's
//! code segment), SS = 0x3000 (the ring-0 EIP: a trampoline it mapped there) and DS = 0x0002
//! (EFLAGS, interrupts off), and a V86 `pause` loop that waits for the timer. If that tick
//! resumes it through the misread frame, the trampoline jumps to `ring0_entry`, which reads
//! CR3 (a privileged instruction: it only gets past it at CPL 0) and a kernel word, records
//! them in a shared page, and `iret`s back to user mode into `after_ring0`, which prints
//! `v86ring0: RING0: ...` and exits. The parent reports the shared record with a `RING0`
//! line too (should the child die before it prints).
//!
//! Specified: the first trap from V86 mode destroys the env (`TRAP frame at ...`); nothing
//! runs in ring 0. The parent checks that the V86 code ran (its mark), that the child is
//! gone and that the shared record is empty, then prints `v86ring0: ... ok`; the grader
//! forbids any `RING0` line and checks with `meminfo` that nothing leaked.
#![no_std]
#![no_main]

use jos_lib::inc::memlayout::KERNBASE;
use jos_lib::{exit, fork, println, sys_env_destroy};
use jos_user::hostile::{Shared, wait_gone};
use jos_user::v86::{FL_1, FL_IF, FL_VM, Frame, LOW, MARK_OFF, V86_RAN, code};

jos_lib::entry!(umain);

/// The page shared with the child: what ring-0 code saw.
const SHARED: u32 = 0x0e00_0000;
const MARK: usize = 0;
const CR3: usize = 1;
const CS: usize = 2;
const KWORD: usize = 3;
/// The kernel word read from ring 0: the first of the kernel's image (KERNBASE + 1 MiB).
const KADDR: u32 = KERNBASE + 0x10_0000;
/// The ring-0 trampoline's page (its address is the V86 SS value, a 16-bit number).
const TRAMP: u32 = 0x3000;
/// The stack `after_ring0` runs on (a fresh page of the child's).
const STACK: u32 = 0x0070_0000;
/// The V86 code segment: linear 0x230 + IP.
const V86_CS: u32 = 0x23;
const CODE_AT: u32 = V86_CS * 16;
/// Attempts: the first trap may come before the V86 code's first instruction (a timer
/// interrupt raised while the `iret` ran), leaving no mark although the env did trap from
/// V86 mode; another attempt gets the evidence.
const ATTEMPTS: u32 = 8;
/// Yields to wait for the child to go: its first trap is the next timer tick.
const PATIENCE: u32 = 100_000;

// The ring-0 payload. Reached (if ever) by `jmp` from the trampoline at CPL 0 with DS = 0x23
// and ES the V86 IP: reload the data segments, record CR3, CS and a kernel word, and return to user
// mode with a clean frame, into `after_ring0` on its own stack.
core::arch::global_asm!(
    ".globl v86ring0_entry",
    "v86ring0_entry:",
    "movw $0x23, %ax",
    "movw %ax, %ds",
    "movw %ax, %es",
    "movl %cr3, %eax",
    "movl %eax, {cr3}",
    "movl %cs, %eax",
    "movl %eax, {cs}",
    "movl {kaddr}, %eax",
    "movl %eax, {kword}",
    "movl $1, {mark}",
    "pushl $0x23",
    "pushl ${stack}",
    "pushl $0x202",
    "pushl $0x1b",
    "pushl ${after}",
    "iretl",
    cr3 = const SHARED + 4 * CR3 as u32,
    cs = const SHARED + 4 * CS as u32,
    kaddr = const KADDR,
    kword = const SHARED + 4 * KWORD as u32,
    mark = const SHARED + 4 * MARK as u32,
    stack = const STACK + 4096 - 4,
    after = sym after_ring0,
    options(att_syntax)
);

unsafe extern "C" {
    fn v86ring0_entry();
}

/// Back in user mode after running in ring 0: say so, loudly.
extern "C" fn after_ring0() -> ! {
    println!(
        "v86ring0: RING0: user code ran in ring 0 (cs {:04x}, cr3 {:08x}, kernel word at \
         {:08x}: {:08x})",
        word(CS),
        word(CR3),
        KADDR,
        word(KWORD)
    );
    exit();
}

/// Word `i` of the shared page (mapped by the parent before it forked us).
fn word(i: usize) -> u32 {
    // SAFETY: the shared page is mapped for the whole run, and aligned.
    unsafe { core::ptr::read_volatile((SHARED as usize + 4 * i) as *const u32) }
}

fn umain() {
    let sh = Shared::new(SHARED);
    if !jos_user::v86::map_low(LOW, true) {
        return without_code(&sh);
    }
    jos_user::v86::map(TRAMP, true);
    // The trampoline: `mov $v86ring0_entry, %eax; jmp *%eax`.
    let entry = (v86ring0_entry as *const () as u32).to_le_bytes();
    jos_user::v86::poke(
        TRAMP,
        &[0xb8, entry[0], entry[1], entry[2], entry[3], 0xff, 0xe0],
    );
    // The V86 code, laid out so that wherever the timer interrupts it, its IP is a
    // selector the misread frame's `popl %es` accepts: the mark at IP 0x19 (0x19: the user
    // code segment with RPL 1), ending at 0x20, where the spin runs (IP 0x20 or 0x22: the
    // user data segment with RPL 0 or 2). The mark goes through ES = 8: linear
    // 0x80 + MARK_OFF.
    let es = 0x08;
    let mark_at = LOW + es * 16 + MARK_OFF;
    jos_user::v86::poke(mark_at, &[0, 0]);
    let ip = 0x20 - code::MARK.len() as u32;
    jos_user::v86::poke(LOW + CODE_AT + ip, &code::MARK);
    jos_user::v86::poke(LOW + CODE_AT + 0x20, &code::SPIN);
    let frame = Frame {
        eip: ip,
        cs: V86_CS,
        eflags: FL_VM | FL_IF | FL_1,
        esp: 0x0ff0,
        ss: TRAMP,
        es,
        ds: FL_1,
        fs: 0,
        gs: 0,
    };
    let mut failures = 0;
    let mut mark = 0;
    for _ in 0..ATTEMPTS {
        jos_user::v86::poke(mark_at, &[0, 0]);
        let kid = match fork() {
            Ok(0) => {
                jos_user::v86::map(STACK, false);
                jos_user::v86::enter(frame)
            }
            Ok(id) => id,
            Err(e) => panic!("fork: {}", e),
        };
        if !wait_gone(kid, PATIENCE) {
            println!(
                "v86ring0: FAIL: the V86 child {:08x} was not destroyed at its first trap",
                kid
            );
            let _ = sys_env_destroy(kid);
            failures += 1;
        }
        if sh.get(MARK) != 0 {
            println!(
                "v86ring0: RING0: the child's code ran in ring 0 (cs {:04x}, cr3 {:08x}, \
                 kernel word at {:08x}: {:08x})",
                sh.get(CS),
                sh.get(CR3),
                KADDR,
                sh.get(KWORD)
            );
            failures += 1;
        }
        mark = jos_user::v86::peek16(mark_at);
        if failures != 0 || mark == V86_RAN {
            break;
        }
    }
    if mark != V86_RAN {
        println!(
            "v86ring0: FAIL: the V86 code never ran in {} attempts (mark {:04x}): the iret \
             did not enter V86 mode, so this proves nothing (the test needs QEMU's TCG)",
            ATTEMPTS, mark
        );
        failures += 1;
    }
    if failures == 0 {
        println!("v86ring0: V86 code ran, env destroyed at its first trap, nothing in ring 0: ok");
    } else {
        println!("v86ring0: {} failure(s)", failures);
    }
}

/// On a kernel that refuses pages below 0x110000, no V86 code can run (its first fetch
/// faults), but the frame's layout is the same attack: the V86 segment slots hold what a
/// misread frame would resume in ring 0 with. A timer tick may still land before the first
/// fetch; either way the child must be destroyed and nothing may run in ring 0. More attempts,
/// since only the tick gives the misreading a chance.
fn without_code(sh: &Shared) {
    println!("v86ring0: pages below 0x110000 refused: V86 code cannot run");
    let frame = Frame {
        eip: 0x19,
        cs: V86_CS,
        eflags: FL_VM | FL_IF | FL_1,
        esp: 0x0ff0,
        ss: TRAMP,
        es: 0x08,
        ds: FL_1,
        fs: 0,
        gs: 0,
    };
    let mut failures = 0;
    for _ in 0..4 * ATTEMPTS {
        let kid = match fork() {
            Ok(0) => {
                jos_user::v86::map(STACK, false);
                jos_user::v86::enter(frame)
            }
            Ok(id) => id,
            Err(e) => panic!("fork: {}", e),
        };
        if !wait_gone(kid, PATIENCE) {
            println!(
                "v86ring0: FAIL: the V86 child {:08x} was not destroyed",
                kid
            );
            let _ = sys_env_destroy(kid);
            failures += 1;
        }
        if sh.get(MARK) != 0 {
            println!("v86ring0: RING0: the child's code ran in ring 0");
            failures += 1;
        }
        if failures != 0 {
            break;
        }
    }
    if failures == 0 {
        println!(
            "v86ring0: entered V86 mode, env destroyed at its first trap, nothing in ring 0: ok"
        );
    }
}
