//! The kernel monitor (JOS's kern/monitor.c and lib/readline.c): a simple command-line
//! interface for controlling the kernel and exploring the system interactively. JOS's
//! `mon_help`, `mon_kerninfo`, `mon_backtrace`, `runcmd`, `monitor` and `readline`; not in JOS:
//! `meminfo` and `cpus`.

use core::sync::atomic::{AtomicUsize, Ordering};

use jos_inc::memlayout::KERNBASE;
use jos_inc::mmu::{PGSIZE, round_down, round_up};
use jos_inc::trap::Trapframe;

use crate::{console, cprintf, cpu, env, kdebug, pmap, trap};

const BUFLEN: usize = 1024;
const MAXARGS: usize = 16;
const WHITESPACE: &[u8] = b"\t\r\n ";

/// A monitor command: returns < 0 to leave the monitor.
type CommandFn = fn(args: &[&str], tf: Option<(&Trapframe, u32)>) -> i32;

struct Command {
    name: &'static str,
    desc: &'static str,
    func: CommandFn,
}

static COMMANDS: &[Command] = &[
    Command {
        name: "help",
        desc: "Display this list of commands",
        func: mon_help,
    },
    Command {
        name: "kerninfo",
        desc: "Display information about the kernel",
        func: mon_kerninfo,
    },
    // LAB 1: BEGIN backtrace-command
    // HINT: Add a "backtrace" command (desc "Display a stack backtrace") that runs mon_backtrace.
    // STUB: // (the backtrace command goes here)
    Command {
        name: "backtrace",
        desc: "Display a stack backtrace",
        func: mon_backtrace,
    },
    // LAB 1: END backtrace-command
    Command {
        name: "meminfo",
        desc: "Display free page and env counts (now and before the first env)",
        func: mon_meminfo,
    },
    Command {
        name: "cpus",
        desc: "Display each CPU's state and the env it runs",
        func: mon_cpus,
    },
];

fn mon_help(_args: &[&str], _tf: Option<(&Trapframe, u32)>) -> i32 {
    for c in COMMANDS {
        cprintf!("{} - {}\n", c.name, c.desc);
    }
    0
}

unsafe extern "C" {
    static _start: u8;
    static entry: u8;
    static etext: u8;
    static edata: u8;
    static end: u8;
}

fn mon_kerninfo(_args: &[&str], _tf: Option<(&Trapframe, u32)>) -> i32 {
    let (start, ent, etx, eda, en) = (
        &raw const _start as u32,
        &raw const entry as u32,
        &raw const etext as u32,
        &raw const edata as u32,
        &raw const end as u32,
    );
    cprintf!("Special kernel symbols:\n");
    cprintf!("  _start                  {:08x} (phys)\n", start);
    cprintf!(
        "  entry  {:08x} (virt)  {:08x} (phys)\n",
        ent,
        ent - KERNBASE
    );
    cprintf!(
        "  etext  {:08x} (virt)  {:08x} (phys)\n",
        etx,
        etx - KERNBASE
    );
    cprintf!(
        "  edata  {:08x} (virt)  {:08x} (phys)\n",
        eda,
        eda - KERNBASE
    );
    cprintf!("  end    {:08x} (virt)  {:08x} (phys)\n", en, en - KERNBASE);
    cprintf!(
        "Kernel executable memory footprint: {}KB\n",
        round_up(en - ent, 1024) / 1024
    );
    0
}

fn read_ebp() -> u32 {
    let ebp: u32;
    // SAFETY: reads the frame pointer register.
    unsafe { core::arch::asm!("movl %ebp, {}", out(reg) ebp, options(att_syntax, nomem, nostack)) };
    ebp
}

/// Can the kernel read [va, va+len) in the current address space? (A frame chain may end in
/// user memory or run off a stack into a guard page: stop instead of faulting.)
fn readable(va: u32, len: u32) -> bool {
    // Kernel stacks and data live above ULIM; a frame pointer below it is a user value.
    if va < jos_inc::memlayout::ULIM {
        return false;
    }
    let Some(last) = va.checked_add(len - 1) else {
        return false;
    };
    // SAFETY: CR3 holds the page directory this CPU is using.
    let pgdir = unsafe { pmap::PageTable::from_pa(pmap::current_pgdir()) };
    // The read-only walk of the view (`PageTable::walk`), not pgdir_walk: lab 1's backtrace
    // must work in a course handout whose lab 2 (pgdir_walk) is still a stub (README "Course
    // kit"). Neither the entry page directory nor kern_pgdir uses large pages.
    let present = |a: u32| pgdir.walk(a).is_some_and(|pte| pte.get().present());
    let mut a = round_down(va, PGSIZE);
    loop {
        if !present(a) {
            return false;
        }
        if a >= round_down(last, PGSIZE) {
            return true;
        }
        a += PGSIZE;
    }
}

/// The word at `va`, if the kernel can read it there (aligned, and mapped: see `readable`).
fn read_word(va: u32) -> Option<u32> {
    if !va.is_multiple_of(4) || !readable(va, 4) {
        return None;
    }
    // SAFETY: `readable` just found [va, va+4) mapped in the address space in use, above ULIM
    // (kernel memory, which stays mapped while the monitor runs), and `va` is aligned. A
    // volatile read: the word may be any frame's, including live ones of this very walk.
    Some(unsafe { core::ptr::read_volatile(va as *const u32) })
}

pub fn mon_backtrace(_args: &[&str], _tf: Option<(&Trapframe, u32)>) -> i32 {
    // LAB 1: BEGIN mon_backtrace
    // HINT: Print "Stack backtrace:", then one line per frame by following the saved %ebp chain
    // HINT: (read_ebp; read_word, None where the kernel cannot read): `  ebp %08x  eip %08x  args
    // HINT: %08x x5`, and under it `         file:line: function+offset` from
    // HINT: kdebug::debuginfo_eip(eip - 1); stop at ebp 0 or an unreadable frame. Return 0.
    cprintf!("Stack backtrace:\n");
    let mut ebp = read_ebp();
    while ebp != 0 {
        // The frame: the caller's ebp, the return address, then five argument words. One the
        // kernel cannot read all of (the chain ran into user memory or a guard page) ends it.
        let word = |i: u32| read_word(ebp.checked_add(4 * i)?);
        let frame = || {
            Some((
                word(0)?,
                word(1)?,
                [word(2)?, word(3)?, word(4)?, word(5)?, word(6)?],
            ))
        };
        let Some((next, eip, a)) = frame() else {
            break;
        };
        cprintf!(
            "  ebp {:08x}  eip {:08x}  args {:08x} {:08x} {:08x} {:08x} {:08x}\n",
            ebp,
            eip,
            a[0],
            a[1],
            a[2],
            a[3],
            a[4]
        );
        // The return address points after the call; look up the call instruction itself so
        // the line is the caller's.
        match kdebug::debuginfo_eip(eip.wrapping_sub(1)) {
            Some(info) => cprintf!(
                "         {}:{}: {}+{}\n",
                info.file,
                info.line,
                info.fn_name,
                info.fn_offset(eip)
            ),
            None => cprintf!("         <unknown>:0: <unknown>+0\n"),
        }
        ebp = next;
    }
    0
    // LAB 1: END mon_backtrace
}

/// Free pages and envs before the first env was created (set by i386_init).
static BASELINE: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

/// Record the free page and env counts before the first env, for `meminfo`.
pub fn record_baseline() {
    BASELINE[0].store(pmap::nfree_pages(), Ordering::Relaxed);
    BASELINE[1].store(env::nfree_envs(), Ordering::Relaxed);
}

fn mon_meminfo(_args: &[&str], _tf: Option<(&Trapframe, u32)>) -> i32 {
    let (pages, envs) = (pmap::nfree_pages(), env::nfree_envs());
    cprintf!(
        "free pages: {} (before the first env: {})\n",
        pages,
        BASELINE[0].load(Ordering::Relaxed)
    );
    cprintf!(
        "free envs: {} (before the first env: {})\n",
        envs,
        BASELINE[1].load(Ordering::Relaxed)
    );
    0
}

fn mon_cpus(_args: &[&str], _tf: Option<(&Trapframe, u32)>) -> i32 {
    let me = cpu::cpunum();
    for (i, c) in cpu::cpus().iter().enumerate() {
        let state = match c.status() {
            cpu::CPU_UNUSED => "not started",
            cpu::CPU_STARTED => "running",
            cpu::CPU_HALTED => "halted",
            cpu::CPU_STOPPED => "stopped",
        };
        let this = if i == me.index() { " (this CPU)" } else { "" };
        match c.env() {
            Some(e) => cprintf!("CPU {}: {}{}, env slot {}\n", i, state, this, e),
            None => cprintf!("CPU {}: {}{}\n", i, state, this),
        }
    }
    0
}

fn runcmd(buf: &str, tf: Option<(&Trapframe, u32)>) -> i32 {
    // Parse the command buffer into whitespace-separated arguments.
    let mut argv: [&str; MAXARGS] = [""; MAXARGS];
    let mut argc = 0;
    for word in buf.split(|c: char| c.is_ascii() && WHITESPACE.contains(&(c as u8))) {
        if word.is_empty() {
            continue;
        }
        if argc == MAXARGS - 1 {
            cprintf!("Too many arguments (max {})\n", MAXARGS);
            return 0;
        }
        argv[argc] = word;
        argc += 1;
    }
    // Lookup and invoke the command.
    if argc == 0 {
        return 0;
    }
    match COMMANDS.iter().find(|c| c.name == argv[0]) {
        Some(c) => (c.func)(&argv[..argc], tf),
        None => {
            cprintf!("Unknown command '{}'\n", argv[0]);
            0
        }
    }
}

/// Run the monitor until a command returns < 0. `tf`: the trapframe (and its address) that
/// brought us here, if any.
pub fn monitor(tf: Option<(&Trapframe, u32)>) {
    cprintf!("Welcome to the JOS kernel monitor!\n");
    cprintf!("Type 'help' for a list of commands.\n");
    if let Some((tf, addr)) = tf {
        trap::print_trapframe(tf, addr);
    }
    let mut buf = [0u8; BUFLEN];
    loop {
        let n = readline(Some("K> "), &mut buf);
        let line = core::str::from_utf8(&buf[..n]).unwrap_or("");
        if runcmd(line, tf) < 0 {
            break;
        }
    }
}

/// Read a line from the console into `buf` with echo and backspace handling, after printing
/// `prompt`; returns its length (JOS's lib/readline.c). Unmangled so JOS's grader can set a
/// breakpoint on it.
#[unsafe(no_mangle)]
#[inline(never)]
pub fn readline(prompt: Option<&str>, buf: &mut [u8]) -> usize {
    if let Some(p) = prompt {
        cprintf!("{}", p);
    }
    let mut i = 0;
    loop {
        let c = console::getchar();
        if (c == b'\x08' || c == 0x7F) && i > 0 {
            console::cputchar(b'\x08');
            i -= 1;
        } else if (b' '..0x7F).contains(&c) && i < buf.len() - 1 {
            console::cputchar(c);
            buf[i] = c;
            i += 1;
        } else if c == b'\n' || c == b'\r' {
            console::cputchar(b'\n');
            return i;
        }
    }
}
