//! The test table: every graded run, as data.
//!
//! Each entry names the program(s) the kernel starts (through fw_cfg `opt/jos/test`), the QEMU
//! shape (CPUs, RAM), and the lines JOS's grade scripts expect. Patterns are Python-style regexes
//! matched at line start (see `matcher`); `$E<n>` expands to the n-th env id as in gradelib's
//! `E()`. The lab 1-4 entries are the tests of MIT 6.828's JOS grade scripts (`grade-lab1` ..
//! `grade-lab4`): their names, points, programs and expected lines, with each difference said
//! where it is; the Hostile and Project parts are this port's own.
//!
//! To add a test: append a `Test { .. }` to the right slice below (copy a neighbour; unset fields
//! come from `DEFAULT`). Names must be unique and a part's tests must stay contiguous; the unit
//! tests at the bottom check that and that every regex compiles.
#![forbid(unsafe_code)]

/// How QEMU's TCG runs the guest CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tcg {
    /// One host thread runs the vCPUs in turn, switching at `pause`, `hlt` and a periodic
    /// kick: the QEMU JOS was written for (its `unlock_kernel` pause hands the big lock to the
    /// next CPU this way) and the grader's default. Fair between guest CPUs, and the fastest
    /// on a small host: a spinning vCPU costs nothing but a switch.
    Single,
    /// A host thread per vCPU (QEMU's default): truly parallel, but with more vCPUs than host
    /// cores the host's scheduler decides which guest CPUs run, so "every CPU ran something"
    /// cannot be expected. Used to stress the locking with real parallelism.
    Multi,
}

impl Tcg {
    /// QEMU's `-accel` value.
    pub fn accel(self) -> &'static str {
        match self {
            Tcg::Single => "tcg,thread=single",
            Tcg::Multi => "tcg,thread=multi",
        }
    }
}

/// One graded test. Tests with the same run settings share a single QEMU run.
#[derive(Debug, Clone, Copy)]
pub struct Test {
    /// Title printed in the report; also the output file name (obj/grade/<name>.out).
    pub name: &'static str,
    /// Scoring group, e.g. "Lab 4 Part B".
    pub part: &'static str,
    pub points: u32,
    /// The fw_cfg `opt/jos/test` string: a program, programs joined with `+`, or a kernel test
    /// (`test_monitor`, `test_backtrace`). Empty means no fw_cfg entry (the kernel's default).
    pub test: &'static str,
    pub cpus: u32,
    pub tcg: Tcg,
    /// Guest RAM in MiB (`-m`); `None` keeps QEMU's default of 128 MiB, as JOS's Makefile does.
    pub mem: Option<u32>,
    pub timeout_s: u64,
    /// Each must match the start of some output line.
    pub expect: &'static [&'static str],
    /// None may match the start of any output line.
    pub no: &'static [&'static str],
    /// (pattern, n): at least n lines must match the pattern (lab 1's backtrace frame count).
    pub count: &'static [(&'static str, usize)],
    /// Patterns with two capture groups: the last matching line must have them equal.
    pub same: &'static [&'static str],
    /// Stop the run as soon as a complete line matches (gradelib's `stop_on_line`).
    pub stop: &'static [&'static str],
    /// Lines typed at successive `K> ` prompts; the run ends at the prompt after the last one.
    pub input: &'static [&'static str],
    /// Printed when the test fails: what it needs that a student may not have written yet.
    pub hint: &'static str,
}

/// The defaults JOS's `user_test` uses: one CPU, 30 s, stop at the monitor's first prompt.
pub const DEFAULT: Test = Test {
    name: "",
    part: "",
    points: 0,
    test: "",
    cpus: 1,
    tcg: Tcg::Single,
    mem: None,
    timeout_s: 30,
    expect: &[],
    no: &[],
    count: &[],
    same: &[],
    stop: &[],
    input: &[],
    hint: "",
};

const LAB1: &str = "Lab 1";
const LAB2: &str = "Lab 2";
const LAB3: &str = "Lab 3";
const LAB4A: &str = "Lab 4 Part A";
const LAB4B: &str = "Lab 4 Part B";
const LAB4C: &str = "Lab 4 Part C";
pub const PROJECT: &str = "Project";
/// Attacks on the kernel's isolation and robustness (user/src/bin: refcount, setstatusrace,
/// ...): each program prints its `ok` line only if every check held.
pub const HOSTILE: &str = "Hostile";

/// One backtrace frame line (lab 1's BACKTRACE_RE with `eip` widened from f0100xxx to f01xxxxx:
/// the Rust kernel's text is larger than JOS's 4 KiB-ish window).
const FRAME: &str = r" *ebp +f01[0-9a-z]{5} +eip +f01[0-9a-z]{5} +args +([0-9a-z]+)";

/// The kernel's self-checks in boot order (check_page_free_list runs twice, see `count`).
const PMAP_CHECKS: [&str; 5] = [
    r"check_page_free_list\(\) succeeded!",
    r"check_page_alloc\(\) succeeded!",
    r"check_page\(\) succeeded!",
    r"check_kern_pgdir\(\) succeeded!",
    r"check_page_installed_pgdir\(\) succeeded!",
];

/// stresssched judged on completion and exclusion only (every child's line, never two CPUs
/// at once), for CPU shapes where JOS's "each CPU ran a child" cannot be expected.
const STRESSSCHED_COMPLETES: Test = Test {
    name: "stresssched8",
    part: PROJECT,
    points: 1,
    test: "stresssched",
    cpus: 8,
    count: &[(r".000010... stresssched on CPU [0-7]", 20)],
    no: &[".*ran on two CPUs at once", ".*kernel panic"],
    ..DEFAULT
};

/// `meminfo` typed after a run: the free page and env counts must be back where they were
/// before the first env.
const MEMINFO_SAME: &[&str] = &[
    r"free pages: (\d+) \(before the first env: (\d+)\)",
    r"free envs: (\d+) \(before the first env: (\d+)\)",
];

/// The hostile tests' common shape: their own `ok` line, no kernel panic, no leak.
const HOSTILE_TEST: Test = Test {
    part: HOSTILE,
    points: 1,
    timeout_s: 60,
    input: &["meminfo"],
    same: MEMINFO_SAME,
    ..DEFAULT
};

const REFCOUNT: Test = Test {
    name: "refcount",
    test: "refcount",
    expect: &["refcount: saturated at 65535, refused with -E_NO_MEM: ok"],
    no: &[".*kernel panic", "refcount: FAIL"],
    ..HOSTILE_TEST
};

const SETSTATUSRACE: Test = Test {
    name: "setstatusrace",
    test: "setstatusrace",
    cpus: 2,
    expect: &["setstatusrace: .*: ok"],
    no: &[".*kernel panic", "setstatusrace: FAIL"],
    ..HOSTILE_TEST
};

const DESTROYTWICE: Test = Test {
    name: "destroytwice",
    test: "destroytwice",
    cpus: 2,
    expect: &["destroytwice: .*: ok"],
    no: &[".*kernel panic", "destroytwice: FAIL"],
    ..HOSTILE_TEST
};

const DYINGCALLS: Test = Test {
    name: "dyingcalls",
    test: "dyingcalls",
    cpus: 2,
    expect: &["dyingcalls: .*: ok"],
    no: &[".*kernel panic", "dyingcalls: FAIL"],
    ..HOSTILE_TEST
};

const RECVWAKE: Test = Test {
    name: "recvwake",
    test: "recvwake",
    cpus: 2,
    expect: &[
        "recvwake: child: ipc_recv returned Ok with value 42 from $E1",
        "recvwake: child: ipc_recv returned Ok with value 43 from $E1",
        "recvwake: receive and suspension are independent: ok",
    ],
    no: &[".*kernel panic", "recvwake: FAIL"],
    ..HOSTILE_TEST
};

const FPMULTI: Test = Test {
    name: "fpmulti",
    test: "fpmulti",
    cpus: 4,
    expect: &["fpmulti: all 6 results exact"],
    no: &[".*kernel panic", "fpmulti: FAIL"],
    ..HOSTILE_TEST
};

const REAPSEND: Test = Test {
    name: "reapsend",
    test: "reapsend",
    expect: &[
        "reapsend: sender-older: ok",
        "reapsend: sender-elsewhere: ok",
        "reapsend: receiver-lives: ok",
        "reapsend: one: ok",
        "reapsend: many: ok",
        "reapsend: grandchildren: ok",
        "reapsend: cycle: ok",
        "reapsend: every queued sender and receiver reclaimed or answered: ok",
    ],
    no: &[".*kernel panic", ".*user panic", "reapsend: FAIL"],
    ..HOSTILE_TEST
};

const V86TRAP: Test = Test {
    name: "v86trap",
    test: "v86trap",
    expect: &[
        "v86trap: pages below 0x110000 refused: V86 code cannot run: ok",
        "v86trap: rpl3-hlt: entered V86 mode, env destroyed: ok",
        "v86trap: rpl3-int30: entered V86 mode, env destroyed: ok",
        "v86trap: rpl3-pagefault: entered V86 mode, env destroyed: ok",
        "v86trap: rpl3-fetch: entered V86 mode, env destroyed: ok",
        "v86trap: rpl0-hlt: entered V86 mode, env destroyed: ok",
        "v86trap: rpl0-int30: entered V86 mode, env destroyed: ok",
        "v86trap: rpl0-pagefault: entered V86 mode, env destroyed: ok",
        "v86trap: rpl0-fetch: entered V86 mode, env destroyed: ok",
        "v86trap: rpl0-timer: entered V86 mode, env destroyed: ok",
        "v86trap: rpl3-timer: entered V86 mode, env destroyed: ok",
        "v86trap: every trap from V86 mode ended the env: ok",
    ],
    // One trap frame print per destroyed V86 env (two per attack: IF set, and IF clear with
    // IOPL 3), each showing EFLAGS.VM: the evidence that V86 mode was entered.
    count: &[("TRAP frame at 0xf.......", 20), ("  flag 0x0002....", 20)],
    no: &[".*kernel panic", ".*RING0", "v86trap: FAIL"],
    ..HOSTILE_TEST
};

const V86RING0: Test = Test {
    name: "v86ring0",
    test: "v86ring0",
    expect: &[
        "v86ring0: pages below 0x110000 refused: V86 code cannot run",
        "v86ring0: entered V86 mode, env destroyed at its first trap, nothing in ring 0: ok",
    ],
    count: &[("  flag 0x0002....", 32)],
    no: &[".*kernel panic", ".*RING0", "v86ring0: FAIL"],
    ..HOSTILE_TEST
};

const PRIOSTARVE: Test = Test {
    name: "priostarve",
    test: "priostarve",
    expect: &["priostarve: every env ran within its bound: ok"],
    no: &[".*kernel panic", ".*user panic", "priostarve: FAIL"],
    ..HOSTILE_TEST
};

const SUSPUTS: Test = Test {
    name: "susputs",
    test: "susputs",
    cpus: 2,
    timeout_s: 120,
    expect: &[
        "susputs: round 00 end$",
        "susputs: round 01 end$",
        "susputs: round 02 end$",
        "susputs: round 03 end$",
        "susputs: round 04 end$",
        "susputs: round 05 end$",
        "susputs: round 06 end$",
        "susputs: round 07 end$",
        "susputs: round 08 end$",
        "susputs: round 09 end$",
        "susputs: round 10 end$",
        "susputs: round 11 end$",
        "susputs: round 12 end$",
        "susputs: round 13 end$",
        "susputs: round 14 end$",
        "susputs: round 15 end$",
        "susputs: round 16 end$",
        "susputs: round 17 end$",
        "susputs: round 18 end$",
        "susputs: round 19 end$",
        "susputs: round 20 end$",
        "susputs: round 21 end$",
        "susputs: round 22 end$",
        "susputs: round 23 end$",
        "susputs: child: the print returned",
        "susputs: [0-9]+ suspensions during the print, the child finished: ok",
    ],
    // 24 rounds of 63 numbered lines, each whole.
    count: &[(r"susputs r[0-9]{2} l[0-9]{2} \.{47}$", 24 * 63)],
    no: &[".*kernel panic", ".*user panic", "susputs: FAIL"],
    ..HOSTILE_TEST
};

const FUZZ: Test = Test {
    name: "fuzz",
    test: "fuzz",
    cpus: 4,
    timeout_s: 90,
    expect: &["fuzz: [0-9]+ calls, seed 0x[0-9a-f]{8}, done"],
    no: &[".*kernel panic", ".*user panic", "fuzz: .*FAIL"],
    ..HOSTILE_TEST
};

pub static TABLE: &[Test] = &[
    // ---- Lab 1 (JOS's grade-lab1, adapted: the Rust kernel runs these as kernel tests) ----
    Test {
        name: "printf",
        part: LAB1,
        points: 20,
        test: "test_monitor",
        expect: &["6828 decimal is 15254 octal!"],
        ..DEFAULT
    },
    Test {
        name: "monitor",
        part: LAB1,
        points: 5,
        test: "test_monitor",
        expect: &[
            "Welcome to the JOS kernel monitor!",
            "Type 'help' for a list of commands.",
        ],
        ..DEFAULT
    },
    Test {
        name: "help",
        part: LAB1,
        points: 5,
        test: "test_monitor",
        input: &["help"],
        expect: &[
            "help - Display this list of commands",
            "kerninfo - Display information about the kernel",
            "backtrace - .*",
        ],
        ..DEFAULT
    },
    Test {
        name: "kerninfo",
        part: LAB1,
        points: 5,
        test: "test_monitor",
        input: &["kerninfo"],
        expect: &[
            "Special kernel symbols:",
            r"  _start +[0-9a-f]{8} \(phys\)",
            r"  entry +f01[0-9a-f]{5} \(virt\) +[0-9a-f]{8} \(phys\)",
            r"  etext +f01[0-9a-f]{5} \(virt\) +[0-9a-f]{8} \(phys\)",
            // edata/end may lie past 0xf0200000: the embedded user programs sit in the data.
            r"  edata +f0[0-9a-f]{6} \(virt\) +[0-9a-f]{8} \(phys\)",
            r"  end +f0[0-9a-f]{6} \(virt\) +[0-9a-f]{8} \(phys\)",
            "Kernel executable memory footprint: [0-9]+KB",
        ],
        ..DEFAULT
    },
    Test {
        name: "backtrace count",
        part: LAB1,
        points: 10,
        test: "test_backtrace",
        expect: &["Stack backtrace:"],
        // test_backtrace(5)..(0) plus the kernel's own frames below them.
        count: &[(FRAME, 8)],
        ..DEFAULT
    },
    Test {
        name: "backtrace arguments",
        part: LAB1,
        points: 10,
        test: "test_backtrace",
        // Each test_backtrace(x) frame shows x as its first argument; the nesting itself shows
        // in the entering/leaving lines.
        expect: &[
            "entering test_backtrace 5",
            "entering test_backtrace 0",
            "leaving test_backtrace 0",
            "leaving test_backtrace 5",
            r" *ebp +f01[0-9a-z]{5} +eip +f01[0-9a-z]{5} +args +00000000",
            r" *ebp +f01[0-9a-z]{5} +eip +f01[0-9a-z]{5} +args +00000001",
            r" *ebp +f01[0-9a-z]{5} +eip +f01[0-9a-z]{5} +args +00000002",
            r" *ebp +f01[0-9a-z]{5} +eip +f01[0-9a-z]{5} +args +00000003",
            r" *ebp +f01[0-9a-z]{5} +eip +f01[0-9a-z]{5} +args +00000004",
            r" *ebp +f01[0-9a-z]{5} +eip +f01[0-9a-z]{5} +args +00000005",
        ],
        ..DEFAULT
    },
    Test {
        name: "backtrace symbols",
        part: LAB1,
        points: 5,
        test: "test_backtrace",
        // Six symbolized test_backtrace frames (names are demangled Rust paths).
        count: &[(r" +\S+:[0-9]+: +.*test_backtrace.*\+[0-9]+", 6)],
        ..DEFAULT
    },
    Test {
        name: "backtrace lines",
        part: LAB1,
        points: 5,
        test: "test_backtrace",
        count: &[(
            r" +kern/[a-z_/]+\.rs:[0-9]+: +.*test_backtrace.*\+[0-9]+",
            6,
        )],
        ..DEFAULT
    },
    // ---- Lab 2 (grade-lab2): JOS's "running JOS" children, one shared run ----
    Test {
        name: "Physical page allocator",
        part: LAB2,
        points: 20,
        test: "test_monitor",
        expect: &[r"check_page_alloc\(\) succeeded!"],
        ..DEFAULT
    },
    Test {
        name: "Page management",
        part: LAB2,
        points: 20,
        test: "test_monitor",
        expect: &[r"check_page\(\) succeeded!"],
        ..DEFAULT
    },
    Test {
        name: "Kernel page directory",
        part: LAB2,
        points: 20,
        test: "test_monitor",
        expect: &[r"check_kern_pgdir\(\) succeeded!"],
        ..DEFAULT
    },
    Test {
        name: "Page management 2",
        part: LAB2,
        points: 10,
        test: "test_monitor",
        expect: &[r"check_page_installed_pgdir\(\) succeeded!"],
        ..DEFAULT
    },
    // ---- Lab 3 (grade-lab3), minus the two lab-3-only lines a lab 4 kernel no longer prints:
    // `Incoming TRAP frame at ...` and `Destroyed the only environment - nothing more to do!`.
    Test {
        name: "divzero",
        part: LAB3,
        points: 10,
        test: "divzero",
        expect: &[
            "TRAP frame at 0xf.......",
            "  trap 0x00000000 Divide error",
            "  eip  0x008.....",
            "  ss   0x----0023",
            ".00001000. free env 00001000",
        ],
        no: &["1/0 is ........!"],
        ..DEFAULT
    },
    Test {
        name: "softint",
        part: LAB3,
        points: 10,
        test: "softint",
        expect: &[
            "Welcome to the JOS kernel monitor!",
            "TRAP frame at 0xf.......",
            "  trap 0x0000000d General Protection",
            "  eip  0x008.....",
            "  ss   0x----0023",
            ".00001000. free env 0000100",
        ],
        ..DEFAULT
    },
    Test {
        name: "badsegment",
        part: LAB3,
        points: 10,
        test: "badsegment",
        expect: &[
            "TRAP frame at 0xf.......",
            "  trap 0x0000000d General Protection",
            "  err  0x00000028",
            "  eip  0x008.....",
            "  ss   0x----0023",
            ".00001000. free env 0000100",
        ],
        ..DEFAULT
    },
    // Named apart from lab 4's faultread/faultwrite: the lab 3 versions differ slightly.
    Test {
        name: "faultread_lab3",
        part: LAB3,
        points: 5,
        test: "faultread",
        expect: &[
            ".00001000. user fault va 00000000 ip 008.....",
            "TRAP frame at 0xf.......",
            "  trap 0x0000000e Page Fault",
            "  err  0x00000004.*",
            ".00001000. free env 0000100",
        ],
        no: &["I read ........ from location 0!"],
        ..DEFAULT
    },
    Test {
        name: "faultreadkernel",
        part: LAB3,
        points: 5,
        test: "faultreadkernel",
        expect: &[
            ".00001000. user fault va f0100000 ip 008.....",
            "TRAP frame at 0xf.......",
            "  trap 0x0000000e Page Fault",
            "  err  0x00000005.*",
            ".00001000. free env 00001000",
        ],
        no: &["I read ........ from location 0xf0100000!"],
        ..DEFAULT
    },
    Test {
        name: "faultwrite_lab3",
        part: LAB3,
        points: 5,
        test: "faultwrite",
        expect: &[
            ".00001000. user fault va 00000000 ip 008.....",
            "TRAP frame at 0xf.......",
            "  trap 0x0000000e Page Fault",
            "  err  0x00000006.*",
            ".00001000. free env 0000100",
        ],
        ..DEFAULT
    },
    Test {
        name: "faultwritekernel",
        part: LAB3,
        points: 5,
        test: "faultwritekernel",
        expect: &[
            ".00001000. user fault va f0100000 ip 008.....",
            "TRAP frame at 0xf.......",
            "  trap 0x0000000e Page Fault",
            "  err  0x00000007.*",
            ".00001000. free env 0000100",
        ],
        ..DEFAULT
    },
    Test {
        name: "breakpoint",
        part: LAB3,
        points: 5,
        test: "breakpoint",
        expect: &[
            "Welcome to the JOS kernel monitor!",
            "TRAP frame at 0xf.......",
            "  trap 0x00000003 Breakpoint",
            "  eip  0x008.....",
            "  ss   0x----0023",
        ],
        no: &[".00001000. free env 00001000"],
        ..DEFAULT
    },
    Test {
        name: "testbss",
        part: LAB3,
        points: 5,
        test: "testbss",
        expect: &[
            "Making sure bss works right...",
            "Yes, good.  Now doing a wild write off the end...",
            ".00001000. user fault va 00c..... ip 008.....",
            ".00001000. free env 0000100",
        ],
        ..DEFAULT
    },
    Test {
        name: "hello",
        part: LAB3,
        points: 5,
        test: "hello",
        expect: &[
            ".00000000. new env 00001000",
            "hello, world",
            "i am environment 00001000",
            ".00001000. exiting gracefully",
            ".00001000. free env 00001000",
        ],
        ..DEFAULT
    },
    Test {
        name: "buggyhello",
        part: LAB3,
        points: 5,
        test: "buggyhello",
        expect: &[
            ".00001000. user_mem_check assertion failure for va 00000001",
            ".00001000. free env 00001000",
        ],
        ..DEFAULT
    },
    Test {
        name: "buggyhello2",
        part: LAB3,
        points: 5,
        test: "buggyhello2",
        expect: &[
            ".00001000. user_mem_check assertion failure for va 0....000",
            ".00001000. free env 00001000",
        ],
        no: &["hello, world"],
        ..DEFAULT
    },
    Test {
        name: "evilhello",
        part: LAB3,
        points: 5,
        test: "evilhello",
        expect: &[
            ".00001000. user_mem_check assertion failure for va f0100...",
            ".00001000. free env 00001000",
        ],
        ..DEFAULT
    },
    // ---- Lab 4 (grade-lab4) ----
    Test {
        name: "dumbfork",
        part: LAB4A,
        points: 5,
        test: "dumbfork",
        expect: &[
            ".00000000. new env $E1",
            ".$E1. new env $E2",
            "0: I am the parent.",
            "9: I am the parent.",
            "0: I am the child.",
            "9: I am the child.",
            "19: I am the child.",
            ".$E1. exiting gracefully",
            ".$E1. free env $E1",
            ".$E2. exiting gracefully",
            ".$E2. free env $E2",
        ],
        ..DEFAULT
    },
    Test {
        name: "faultread",
        part: LAB4B,
        points: 5,
        test: "faultread",
        expect: &[
            ".$E1. user fault va 00000000 ip 008.....",
            "TRAP frame at 0xf....... from CPU .",
            "  trap 0x0000000e Page Fault",
            "  err  0x00000004.*",
            ".$E1. free env $E1",
        ],
        no: &["I read ........ from location 0."],
        ..DEFAULT
    },
    Test {
        name: "faultwrite",
        part: LAB4B,
        points: 5,
        test: "faultwrite",
        expect: &[
            ".$E1. user fault va 00000000 ip 008.....",
            "TRAP frame at 0xf....... from CPU .",
            "  trap 0x0000000e Page Fault",
            "  err  0x00000006.*",
            ".$E1. free env $E1",
        ],
        ..DEFAULT
    },
    Test {
        name: "faultdie",
        part: LAB4B,
        points: 5,
        test: "faultdie",
        expect: &[
            "i faulted at va deadbeef, err 6",
            ".$E1. exiting gracefully",
            ".$E1. free env $E1",
        ],
        ..DEFAULT
    },
    Test {
        name: "faultregs",
        part: LAB4B,
        points: 5,
        test: "faultregs",
        expect: &[
            "Registers in UTrapframe OK",
            "Registers after page-fault OK",
        ],
        no: &[
            "Registers in UTrapframe MISMATCH",
            "Registers after page-fault MISMATCH",
        ],
        ..DEFAULT
    },
    Test {
        name: "faultalloc",
        part: LAB4B,
        points: 5,
        test: "faultalloc",
        expect: &[
            "fault deadbeef",
            "this string was faulted in at deadbeef",
            "fault cafebffe",
            "fault cafec000",
            "this string was faulted in at cafebffe",
            ".$E1. exiting gracefully",
            ".$E1. free env $E1",
        ],
        ..DEFAULT
    },
    Test {
        name: "faultallocbad",
        part: LAB4B,
        points: 5,
        test: "faultallocbad",
        expect: &[
            ".$E1. user_mem_check assertion failure for va deadbeef",
            ".$E1. free env $E1",
        ],
        ..DEFAULT
    },
    Test {
        name: "faultnostack",
        part: LAB4B,
        points: 5,
        test: "faultnostack",
        expect: &[
            ".$E1. user_mem_check assertion failure for va eebfff..",
            ".$E1. free env $E1",
        ],
        ..DEFAULT
    },
    Test {
        name: "faultbadhandler",
        part: LAB4B,
        points: 5,
        test: "faultbadhandler",
        expect: &[
            ".$E1. user_mem_check assertion failure for va (deadb|eebfe)...",
            ".$E1. free env $E1",
        ],
        ..DEFAULT
    },
    Test {
        name: "faultevilhandler",
        part: LAB4B,
        points: 5,
        test: "faultevilhandler",
        expect: &[
            ".$E1. user_mem_check assertion failure for va (f0100|eebfe)...",
            ".$E1. free env $E1",
        ],
        ..DEFAULT
    },
    Test {
        name: "forktree",
        part: LAB4B,
        points: 5,
        test: "forktree",
        expect: &[
            "....: I am .0.",
            "....: I am .1.",
            "....: I am .000.",
            "....: I am .100.",
            "....: I am .110.",
            "....: I am .111.",
            "....: I am .011.",
            "....: I am .001.",
            ".$E1. exiting gracefully",
            ".$E2. exiting gracefully",
            // Freed Env slots must be reused with generation 2 (ids 0x2000..).
            ".0000200.. exiting gracefully",
            ".0000200.. free env 0000200.",
        ],
        ..DEFAULT
    },
    Test {
        name: "spin",
        part: LAB4C,
        hint: "the parent runs again only if a timer interrupt preempts the spinning child: lab 4's timer exercise (env_alloc-interrupts, timer-irq)",
        points: 5,
        test: "spin",
        expect: &[
            ".00000000. new env $E1",
            "I am the parent.  Forking the child...",
            ".$E1. new env $E2",
            "I am the parent.  Running the child...",
            "I am the child.  Spinning...",
            "I am the parent.  Killing the child...",
            ".$E1. destroying $E2",
            ".$E1. free env $E2",
            ".$E1. exiting gracefully",
            ".$E1. free env $E1",
        ],
        ..DEFAULT
    },
    Test {
        name: "stresssched",
        part: LAB4C,
        hint: "20 children that yield and spin on 4 CPUs: the APs must schedule (mp_main-sched, trap_init_percpu) and a timer interrupt must preempt a spinning env (timer-irq)",
        points: 5,
        test: "stresssched",
        cpus: 4,
        expect: &[
            ".000010... stresssched on CPU 0",
            ".000010... stresssched on CPU 1",
            ".000010... stresssched on CPU 2",
            ".000010... stresssched on CPU 3",
        ],
        no: &[".*ran on two CPUs at once"],
        ..DEFAULT
    },
    Test {
        name: "sendpage",
        part: LAB4C,
        points: 5,
        test: "sendpage",
        cpus: 2,
        expect: &[
            ".00000000. new env $E1",
            ".00000000. new env $E1",
            ".$E1. new env $E2",
            "1000 got message: hello child environment! how are you?",
            "child received correct message",
            "1001 got message: hello parent environment! I'm good",
            "parent received correct message",
            ".$E1. exiting gracefully",
            ".$E1. free env $E1",
            ".$E2. exiting gracefully",
            ".$E2. free env $E2",
        ],
        ..DEFAULT
    },
    Test {
        name: "pingpong",
        part: LAB4C,
        points: 5,
        test: "pingpong",
        cpus: 4,
        expect: &[
            ".00000000. new env $E1",
            ".$E1. new env $E2",
            "send 0 from 1000 to 1001",
            "1001 got 0 from 1000",
            "1000 got 1 from 1001",
            "1001 got 8 from 1000",
            "1000 got 9 from 1001",
            "1001 got 10 from 1000",
            ".$E1. exiting gracefully",
            ".$E1. free env $E1",
            ".$E2. exiting gracefully",
            ".$E2. free env $E2",
        ],
        ..DEFAULT
    },
    Test {
        name: "primes",
        part: LAB4C,
        points: 5,
        test: "primes",
        cpus: 4,
        timeout_s: 60,
        stop: &["CPU .: 1877", ".*panic"],
        expect: &[
            ".00000000. new env $E1",
            ".$E1. new env $E2",
            "CPU .: 2 .$E2. new env $E3",
            "CPU .: 3 .$E3. new env $E4",
            "CPU .: 5 .$E4. new env $E5",
            "CPU .: 7 .$E5. new env $E6",
            "CPU .: 11 .$E6. new env $E7",
            "CPU .: 1877 .$E289. new env $E290",
        ],
        ..DEFAULT
    },
    // ---- Hostile: attacks a correct kernel survives, each reproducing a flaw of JOS's design.
    // Where memory counts matter the run ends with `meminfo`, whose two counts must be back
    // where they were before the first env (as in `leakcheck`).
    //
    // A page mapped 65,536 times: the 16-bit reference count must saturate, not wrap.
    REFCOUNT,
    Test {
        name: "refcount_cpus4",
        cpus: 4,
        ..REFCOUNT
    },
    // Status changes, double destroys and calls on a dying env, aimed at a child running on
    // another CPU; and suspension vs. a blocked receive. Races need parallel CPUs: each runs
    // on 2 and 4 CPUs, on one TCG thread and with a host thread per vCPU.
    SETSTATUSRACE,
    Test {
        name: "setstatusrace_cpus4",
        cpus: 4,
        ..SETSTATUSRACE
    },
    Test {
        name: "setstatusrace_mttcg",
        tcg: Tcg::Multi,
        ..SETSTATUSRACE
    },
    Test {
        name: "setstatusrace_cpus4_mttcg",
        cpus: 4,
        tcg: Tcg::Multi,
        ..SETSTATUSRACE
    },
    DESTROYTWICE,
    Test {
        name: "destroytwice_cpus4",
        cpus: 4,
        ..DESTROYTWICE
    },
    Test {
        name: "destroytwice_mttcg",
        tcg: Tcg::Multi,
        ..DESTROYTWICE
    },
    Test {
        name: "destroytwice_cpus4_mttcg",
        cpus: 4,
        tcg: Tcg::Multi,
        ..DESTROYTWICE
    },
    DYINGCALLS,
    Test {
        name: "dyingcalls_cpus4",
        cpus: 4,
        ..DYINGCALLS
    },
    Test {
        name: "dyingcalls_mttcg",
        tcg: Tcg::Multi,
        ..DYINGCALLS
    },
    Test {
        name: "dyingcalls_cpus4_mttcg",
        cpus: 4,
        tcg: Tcg::Multi,
        ..DYINGCALLS
    },
    RECVWAKE,
    Test {
        name: "recvwake_cpus4",
        cpus: 4,
        ..RECVWAKE
    },
    Test {
        name: "recvwake_mttcg",
        tcg: Tcg::Multi,
        ..RECVWAKE
    },
    Test {
        name: "recvwake_cpus4_mttcg",
        cpus: 4,
        tcg: Tcg::Multi,
        ..RECVWAKE
    },
    // Each env has its own x87/SSE state: a new env starts clean and sees no other env's
    // registers (fpusecret loads secrets, fpuclean, started by the kernel alongside it on the
    // same CPU, checks its first FXSAVE image), and values survive yields and preemption.
    Test {
        name: "fpuleak",
        test: "fpusecret+fpuclean",
        expect: &[
            "fpuclean: clean initial state: ok",
            "fpusecret: x87 and SSE registers kept across [0-9]+ yields: ok",
            "fpuclean: x87 and SSE registers kept across [0-9]+ yields: ok",
        ],
        no: &[".*kernel panic", "fpu(secret|clean): FAIL"],
        ..HOSTILE_TEST
    },
    // Six envs computing with x87 and SSE at once, under preemption: every sum exact.
    FPMULTI,
    Test {
        name: "fpmulti_cpus1",
        cpus: 1,
        ..FPMULTI
    },
    // One sys_cputs of 256 KiB must not keep the other CPU out of the kernel: a yielding
    // env there keeps running (the program counts its runs).
    Test {
        name: "bigputs",
        test: "bigputs",
        cpus: 2,
        timeout_s: 120,
        expect: &["bigputs: ok"],
        no: &[".*kernel panic", "bigputs: (STALLED|FAIL)"],
        ..HOSTILE_TEST
    },
    // A parent exoforks three children, gives them pages and exits without starting them:
    // nothing can ever run or destroy them, so the kernel must reclaim them (meminfo).
    Test {
        name: "stranded",
        test: "stranded",
        expect: &["stranded: 3 children left behind with 5 pages"],
        no: &[".*kernel panic"],
        ..HOSTILE_TEST
    },
    // Parents exit leaving suspended children blocked in sys_ipc_send, queued on siblings
    // (exoforked, never run; running; suspended senders themselves, in rings; a generation
    // down): the sweep that reclaims them must answer or unqueue every sender, whatever its
    // order; senders not suspended get -E_BAD_ENV; nothing leaks (meminfo).
    REAPSEND,
    Test {
        name: "reapsend_cpus4",
        cpus: 4,
        ..REAPSEND
    },
    // A user env enters virtual-8086 mode (QEMU's TCG honours VM in a CPL-3 iret): its
    // traps, whatever CS's low bits say and however long the frame, are user traps that
    // destroy it (v86trap); the misread longer frame must not resume its code in ring 0
    // (v86ring0). A `RING0` line means it got there.
    V86TRAP,
    Test {
        name: "v86trap_cpus4",
        cpus: 4,
        ..V86TRAP
    },
    V86RING0,
    Test {
        name: "v86ring0_cpus4",
        cpus: 4,
        ..V86RING0
    },
    // Spinners at every priority, more at the top than there are CPUs: each env, at every
    // level, must run within a bound of ticks (each level its own round robin, aging turns
    // for every level below the top).
    PRIOSTARVE,
    Test {
        name: "priostarve_cpus4",
        cpus: 4,
        ..PRIOSTARVE
    },
    // A child's one long sys_cputs, suspended and resumed over and over from another CPU:
    // suspension takes effect when the call returns, so every line of the print appears,
    // whole (the count), and every round's end line.
    SUSPUTS,
    Test {
        name: "susputs_cpus4",
        cpus: 4,
        ..SUSPUTS
    },
    Test {
        name: "susputs_mttcg",
        tcg: Tcg::Multi,
        ..SUSPUTS
    },
    Test {
        name: "susputs_cpus4_mttcg",
        cpus: 4,
        tcg: Tcg::Multi,
        ..SUSPUTS
    },
    // The seeded system-call fuzzer: 20,000 random calls and attacks from 4 workers and
    // their children; every result checked, the kernel alive at the end, nothing leaked.
    FUZZ,
    Test {
        name: "fuzz_mttcg",
        tcg: Tcg::Multi,
        ..FUZZ
    },
    // The same, ten times longer with another seed (about 30 s alone under one TCG thread).
    Test {
        name: "fuzzlong",
        test: "fuzzlong",
        timeout_s: 240,
        expect: &["fuzzlong: [0-9]+ calls, seed 0x[0-9a-f]{8}, done"],
        no: &[".*kernel panic", ".*user panic", "fuzzlong: .*FAIL"],
        ..FUZZ
    },
    // ---- Project: the port's own checks (1 point each; the lab 3 programs again under CPUS=4
    // are generated by `cases()`) ----
    Test {
        name: "yield3",
        part: PROJECT,
        points: 1,
        test: "yield+yield+yield",
        expect: &[
            "Hello, I am environment $E1",
            "Hello, I am environment $E2",
            "Hello, I am environment $E3",
            "Back in environment $E1, iteration 4",
            "Back in environment $E2, iteration 4",
            "Back in environment $E3, iteration 4",
            "All done in environment $E1",
            "All done in environment $E2",
            "All done in environment $E3",
            "No runnable environments in the system!",
        ],
        ..DEFAULT
    },
    Test {
        name: "hello_smp",
        part: PROJECT,
        points: 1,
        test: "hello",
        cpus: 4,
        expect: &[
            ".00000000. new env 00001000",
            "hello, world",
            "i am environment 00001000",
            ".00001000. exiting gracefully",
            ".00001000. free env 00001000",
            r"SMP: CPU 0 found 4 CPU\(s\)",
            "SMP: CPU 3 starting",
        ],
        ..DEFAULT
    },
    // Bad pointers and lengths (including ones that wrap) to every syscall that takes one: the
    // program prints its last line only if every call was refused and it survived.
    Test {
        name: "badptrs",
        part: PROJECT,
        points: 1,
        test: "badptrs",
        expect: &["badptrs: all bad pointers rejected"],
        no: &[".*kernel panic"],
        ..DEFAULT
    },
    // Bad arguments to the env-creation, IPC and upcall syscalls, each error code checked by
    // the program; the last line only if all checks passed.
    Test {
        name: "badargs",
        part: PROJECT,
        points: 1,
        test: "badargs",
        expect: &["badargs: all checks passed"],
        no: &[".*kernel panic"],
        ..DEFAULT
    },
    // Nothing leaks: after a fork tree of envs that all exit, the monitor's `meminfo` shows
    // the free page and env counts back where they were before the first env.
    Test {
        name: "leakcheck",
        part: PROJECT,
        points: 1,
        test: "forktree",
        cpus: 2,
        input: &["meminfo"],
        expect: &[
            ".00001000. exiting gracefully",
            ".0000200.. free env 0000200.",
        ],
        same: &[
            r"free pages: (\d+) \(before the first env: (\d+)\)",
            r"free envs: (\d+) \(before the first env: (\d+)\)",
        ],
        no: &[".*kernel panic"],
        ..DEFAULT
    },
    // Stresssched on 8 CPUs: all 20 children finish and two never run at once. (20 children
    // over 8 CPUs: one CPU may get no last iteration, so JOS's per-CPU lines are not required.)
    STRESSSCHED_COMPLETES,
    // The same with truly parallel vCPUs (4 on a 2-core host): the big lock must still
    // exclude. Which CPUs get the children is up to the host here, so only completion counts.
    Test {
        name: "stresssched_mttcg",
        cpus: 4,
        tcg: Tcg::Multi,
        ..STRESSSCHED_COMPLETES
    },
    // The user-level leak check: free pages (pp_ref == 0 in the read-only pages array) and
    // free env slots before and after a fork tree, compared by the program itself.
    Test {
        name: "leakcheck_user",
        part: PROJECT,
        points: 1,
        test: "leakcheck",
        cpus: 2,
        expect: &[
            "leakcheck: free pages before [0-9]+ after [0-9]+, free envs before [0-9]+ after [0-9]+: ok",
        ],
        no: &["leakcheck: .*LEAK", ".*kernel panic"],
        ..DEFAULT
    },
    // A panic raised with a lock held (the page allocator's; the console's print lock) or a
    // kernel page fault inside a print, on CPU 3 while CPUs 0-2 run envs or spin on the big
    // lock: the message is printed, the monitor answers (`meminfo` needs the page lock), and
    // every other CPU is stopped (`cpus`).
    Test {
        name: "panic_pages",
        part: PROJECT,
        points: 1,
        test: "test_panic_pages+idle+idle+idle+idle",
        cpus: 4,
        input: &["meminfo", "cpus"],
        expect: &[
            "kernel panic on CPU 3 at kern/ktest.rs:[0-9]+: ktest: panic with the page allocator lock held",
            "Welcome to the JOS kernel monitor!",
            r"free pages: \d+ \(before the first env: \d+\)",
            "CPU 0: stopped",
            "CPU 1: stopped",
            "CPU 2: stopped",
            r"CPU 3: running \(this CPU\)",
        ],
        ..DEFAULT
    },
    Test {
        name: "panic_console",
        part: PROJECT,
        points: 1,
        test: "test_panic_console+idle+idle+idle+idle",
        cpus: 4,
        input: &["meminfo", "cpus"],
        expect: &[
            ".*kernel panic on CPU 3 at kern/ktest.rs:[0-9]+: ktest: panic with the console's print lock held",
            "Welcome to the JOS kernel monitor!",
            r"free pages: \d+ \(before the first env: \d+\)",
            "CPU 0: stopped",
            "CPU 1: stopped",
            "CPU 2: stopped",
        ],
        ..DEFAULT
    },
    Test {
        name: "kernel_fault",
        part: PROJECT,
        points: 1,
        test: "test_kernel_fault+idle+idle+idle+idle",
        cpus: 4,
        input: &["meminfo", "cpus"],
        expect: &[
            ".*TRAP frame at 0x[0-9a-f]{8} from CPU 3",
            "  trap 0x0000000e Page Fault",
            r"  err  0x00000000 \[kernel, read, not-present\]",
            "kernel panic on CPU 3 at kern/trap.rs:[0-9]+: kernel page fault at va 00000000",
            r"free pages: \d+ \(before the first env: \d+\)",
            "CPU 0: stopped",
            "CPU 1: stopped",
            "CPU 2: stopped",
        ],
        ..DEFAULT
    },
    // The lock checks (kern/spinlock.rs), on CPU 1 while CPU 0 runs an env: a lock taken
    // again by its holder, and a lock taken while holding one that the order puts after it,
    // each panic naming the locks (instead of spinning forever, or deadlocking some day); the
    // panic path breaks them, so the monitor's `meminfo` (which takes the page lock) answers.
    Test {
        name: "lock_twice",
        part: PROJECT,
        points: 1,
        test: "test_lock_twice+idle+idle",
        cpus: 2,
        input: &["meminfo"],
        expect: &[
            "kernel panic on CPU 1 at kern/pmap.rs:[0-9]+: CPU 1 cannot acquire pages: already holding",
            "Welcome to the JOS kernel monitor!",
            r"free pages: \d+ \(before the first env: \d+\)",
        ],
        no: &["ktest: took the page allocator's lock twice"],
        ..DEFAULT
    },
    Test {
        name: "lock_order",
        part: PROJECT,
        points: 1,
        test: "test_lock_order+idle+idle",
        cpus: 2,
        input: &["meminfo"],
        expect: &[
            ".*kernel panic on CPU 1 at kern/pmap.rs:[0-9]+: CPU 1 cannot acquire pages while holding cga: the lock order \\(kern/spinlock.rs\\) takes pages first",
            "Welcome to the JOS kernel monitor!",
            r"free pages: \d+ \(before the first env: \d+\)",
        ],
        no: &["ktest: [0-9]+ free pages"],
        ..DEFAULT
    },
    // A page unmapped from an env running on another CPU must not stay readable through
    // that CPU's TLB once it is reused by another env (TLB shootdown; JOS has the hole).
    Test {
        name: "tlbleak",
        part: PROJECT,
        points: 1,
        test: "tlbleak",
        cpus: 2,
        expect: &["tlbleak: child faulted at the unmapped page: ok"],
        no: &["tlbleak: LEAK", ".*kernel panic"],
        ..DEFAULT
    },
    // The rep-based memcpy/memmove/memset (lib/string.rs, linked by the kernel too) against a
    // byte-wise reference over lengths, alignments and overlaps.
    Test {
        name: "stringtest",
        part: PROJECT,
        points: 1,
        test: "stringtest",
        expect: &["stringtest: [0-9]+ cases ok"],
        no: &[".*panic"],
        ..DEFAULT
    },
    // sys_page_copy (not in JOS; fork's one-call COW): copies, in place and into a child, and
    // JOS's error codes for every bad argument.
    Test {
        name: "pagecopy",
        part: PROJECT,
        points: 1,
        test: "pagecopy",
        expect: &["pagecopy: all checks passed"],
        no: &[".*panic"],
        ..DEFAULT
    },
    // sys_batch (a JOS lab 4 challenge): each call as if alone, the failing index and error,
    // non-batchable calls, the bound, an array that unmaps itself, a batch that destroys its
    // caller, and bad array pointers (JOS's user_mem_check failure, the caller destroyed).
    Test {
        name: "batchcalls",
        part: PROJECT,
        points: 1,
        test: "batchcalls",
        expect: &[
            r"\[[0-9a-f]{8}\] user_mem_check assertion failure for va dead0000",
            r"\[[0-9a-f]{8}\] user_mem_check assertion failure for va 10001000",
            "batchcalls: all checks passed",
        ],
        no: &[".*panic"],
        ..DEFAULT
    },
    // sys_page_dup (fork's duppage in the kernel) and sys_page_map_copy: duppage's mappings,
    // the checks, the bounds on one call's work, and fork's children seeing them.
    Test {
        name: "pagedup",
        part: PROJECT,
        points: 1,
        test: "pagedup",
        expect: &["pagedup: all checks passed"],
        no: &[".*panic"],
        ..DEFAULT
    },
    // sys_ipc_send_recv (Liedtke's combined send and receive): replies in registers and in
    // envs[], a receiver not yet waiting, pages both ways, a queued sender, refusals.
    Test {
        name: "sendrecv",
        part: PROJECT,
        points: 1,
        test: "sendrecv",
        expect: &["sendrecv: all checks passed"],
        no: &[".*panic"],
        ..DEFAULT
    },
    // The kernel zeroes and copies pages with SSE moves on the env's own XMM registers.
    Test {
        name: "ssepage",
        part: PROJECT,
        points: 1,
        test: "ssepage",
        expect: &["ssepage: all checks passed"],
        no: &[".*panic"],
        ..DEFAULT
    },
    // sfork (a JOS lab 4 challenge) and JOS's pingpongs over it: the shared global carries the
    // counter, each side's thisenv names itself (JOS's grade has no test for it; these are the
    // lines its user/pingpongs.c prints).
    Test {
        name: "pingpongs",
        part: PROJECT,
        points: 1,
        test: "pingpongs",
        expect: &[
            "i am 00001000; thisenv is 0xeec00000",
            "send 0 from 1000 to 1001",
            r"1001 got 0 from 1000 \(thisenv is 0xeec0007c 1001\)",
            r"1000 got 1 from 1001 \(thisenv is 0xeec00000 1000\)",
            r"1001 got 2 from 1000 \(thisenv is 0xeec0007c 1001\)",
            r"1000 got 3 from 1001 \(thisenv is 0xeec00000 1000\)",
            r"1001 got 4 from 1000 \(thisenv is 0xeec0007c 1001\)",
            r"1000 got 5 from 1001 \(thisenv is 0xeec00000 1000\)",
            r"1001 got 6 from 1000 \(thisenv is 0xeec0007c 1001\)",
            r"1000 got 7 from 1001 \(thisenv is 0xeec00000 1000\)",
            r"1001 got 8 from 1000 \(thisenv is 0xeec0007c 1001\)",
            r"1000 got 9 from 1001 \(thisenv is 0xeec00000 1000\)",
            r"1001 got 10 from 1000 \(thisenv is 0xeec0007c 1001\)",
            ".00001000. exiting gracefully",
            ".00001001. exiting gracefully",
        ],
        no: &[".*panic", "1000 got 10", "1001 got 11"],
        ..DEFAULT
    },
    Test {
        name: "sforktest",
        part: PROJECT,
        points: 1,
        test: "sforktest",
        expect: &[
            "sforktest: child sees the global as 2",
            "sforktest: child's stack variable is its own: 7",
            "sforktest: parent's stack variable is its own: 6",
            "sforktest: thisenv 00001000 in the parent, child 00001001: ok",
        ],
        no: &[".*panic"],
        ..DEFAULT
    },
    // Priorities (a JOS lab 4 challenge): twelve spinners lowered to priority 0 cannot hold
    // back the program's job (its share of the ticks at least doubles), yet still run (every
    // eighth tick is the lowest priority's); no child rises above its parent. Then every
    // spinner must be reaped (at CPUS=4 this once hung: see trap.rs, acknowledge_irq).
    Test {
        name: "prio",
        part: PROJECT,
        points: 1,
        test: "prio",
        // About 2 s alone; the equal-priority phase shares one CPU with twelve spinners, so a
        // loaded host stretches it (measured up to 9 s with both host cores busy).
        timeout_s: 120,
        input: &["meminfo"],
        expect: &[
            "prio: high priority unhindered, low priority not starved: ok",
            // Every spinner is reaped, also those destroyed while running on another CPU.
            "No runnable environments in the system!",
        ],
        same: &[
            r"free pages: (\d+) \(before the first env: (\d+)\)",
            r"free envs: (\d+) \(before the first env: (\d+)\)",
        ],
        no: &[".*panic"],
        ..DEFAULT
    },
    // User handlers for exceptions other than page faults (a JOS lab 4 challenge): one program
    // per class, each handled and resumed (skipped, retried after fixing EFLAGS, or emulated);
    // nested faults in the handler; and JOS's bad-stack and bad-handler outcomes. #NP, #SS,
    // #AC and #XM, which neither QEMU's emulation nor user code can raise here, are injected by
    // the kernel test `test_exc_inject` (kern/ktest.rs) and delivered by the same path.
    Test {
        name: "excdivide",
        part: PROJECT,
        points: 1,
        test: "excdivide",
        expect: &[r"exc: divide error \(trap 0, Divide error\) handled and resumed: ok"],
        no: &[".*panic", "exc: .*WRONG"],
        ..DEFAULT
    },
    Test {
        name: "excdebug",
        part: PROJECT,
        points: 1,
        test: "excdebug",
        expect: &[r"exc: debug \(trap 1, Debug\) handled and resumed: ok"],
        no: &[".*panic", "exc: .*WRONG"],
        ..DEFAULT
    },
    Test {
        name: "excbreakpoint",
        part: PROJECT,
        points: 1,
        test: "excbreakpoint",
        expect: &[r"exc: breakpoint \(trap 3, Breakpoint\) handled and resumed: ok"],
        no: &[".*panic", "exc: .*WRONG"],
        ..DEFAULT
    },
    Test {
        name: "excoverflow",
        part: PROJECT,
        points: 1,
        test: "excoverflow",
        expect: &[r"exc: overflow \(trap 4, Overflow\) handled and resumed: ok"],
        no: &[".*panic", "exc: .*WRONG"],
        ..DEFAULT
    },
    Test {
        name: "excbound",
        part: PROJECT,
        points: 1,
        test: "excbound",
        expect: &[r"exc: bound \(trap 5, BOUND Range Exceeded\) handled and resumed: ok"],
        no: &[".*panic", "exc: .*WRONG"],
        ..DEFAULT
    },
    Test {
        name: "excillop",
        part: PROJECT,
        points: 1,
        test: "excillop",
        expect: &[r"exc: invalid opcode \(trap 6, Invalid Opcode\) handled and resumed: ok"],
        no: &[".*panic", "exc: .*WRONG"],
        ..DEFAULT
    },
    Test {
        name: "excgpflt",
        part: PROJECT,
        points: 1,
        test: "excgpflt",
        expect: &[
            r"exc: general protection \(trap 13, General Protection\) handled and resumed: ok",
        ],
        no: &[".*panic", "exc: .*WRONG"],
        ..DEFAULT
    },
    Test {
        name: "excfperr",
        part: PROJECT,
        points: 1,
        test: "excfperr",
        expect: &[
            r"exc: x87 floating point \(trap 16, x87 FPU Floating-Point Error\) handled and resumed: ok",
        ],
        no: &[".*panic", "exc: .*WRONG"],
        ..DEFAULT
    },
    Test {
        name: "excnested",
        part: PROJECT,
        points: 1,
        test: "excnested",
        expect: &[r"exc: nested divide errors \(trap 0, Divide error\) handled and resumed: ok"],
        no: &[".*panic", "exc: .*WRONG"],
        ..DEFAULT
    },
    Test {
        name: "excnostack",
        part: PROJECT,
        points: 1,
        test: "excnostack",
        expect: &[
            ".00001000. user_mem_check assertion failure for va eebfffcc",
            ".00001000. free env 00001000",
        ],
        no: &[".*panic", "exc: .*WRONG"],
        ..DEFAULT
    },
    // The exception stack's two edges for a page fault's frame (the page fault entry writes it
    // straight into the page only when it fits; one byte short is JOS's assertion failure).
    Test {
        name: "uxstackedge",
        part: PROJECT,
        points: 1,
        test: "uxstackedge",
        expect: &[
            "uxstackedge: a frame filling the exception stack was delivered: ok",
            ".00001000. user_mem_check assertion failure for va eebfefff",
            ".00001000. free env 00001000",
        ],
        no: &[".*panic"],
        ..DEFAULT
    },
    Test {
        name: "excbadhandler",
        part: PROJECT,
        points: 1,
        test: "excbadhandler",
        expect: &[
            ".00001000. user fault va f0100020 ip f0100020",
            ".00001000. free env 00001000",
        ],
        no: &[".*panic", "exc: .*WRONG"],
        ..DEFAULT
    },
    Test {
        name: "excinject",
        part: PROJECT,
        points: 1,
        test: "test_exc_inject+excinject",
        expect: &[
            r"exc: segment not present \(trap 11, Segment Not Present\) handled and resumed: ok",
            r"exc: stack fault \(trap 12, Stack Fault\) handled and resumed: ok",
            r"exc: alignment check \(trap 17, Alignment Check\) handled and resumed: ok",
            r"exc: SIMD floating point \(trap 19, SIMD Floating-Point Exception\) handled and resumed: ok",
        ],
        no: &[".*panic", "exc: .*WRONG"],
        ..DEFAULT
    },
    Test {
        name: "excinjectnone",
        part: PROJECT,
        points: 1,
        test: "test_exc_inject+excinjectnone",
        expect: &[
            "  trap 0x00000011 Alignment Check",
            "  err  0x00000000",
            ".00001000. free env 00001000",
        ],
        no: &[".*panic", "exc: .*WRONG"],
        ..DEFAULT
    },
    Test {
        name: "mem32",
        part: PROJECT,
        points: 1,
        test: "test_monitor",
        mem: Some(32),
        expect: &[
            "Physical memory: 32768K available, base = 640K, extended = 32128K",
            PMAP_CHECKS[0],
            PMAP_CHECKS[1],
            PMAP_CHECKS[2],
            PMAP_CHECKS[3],
            PMAP_CHECKS[4],
        ],
        count: &[(PMAP_CHECKS[0], 2)],
        ..DEFAULT
    },
    Test {
        name: "mem256",
        part: PROJECT,
        points: 1,
        test: "test_monitor",
        mem: Some(256),
        expect: &[
            "Physical memory: 262144K available, base = 640K, extended = 261504K",
            PMAP_CHECKS[0],
            PMAP_CHECKS[1],
            PMAP_CHECKS[2],
            PMAP_CHECKS[3],
            PMAP_CHECKS[4],
        ],
        count: &[(PMAP_CHECKS[0], 2)],
        ..DEFAULT
    },
    // The benchmark program runs to the end and prints every metric line. Its figures are
    // never judged here (without icount they are host TSC ticks anyway): `make bench` runs
    // it under icount and reports them.
    Test {
        name: "bench",
        part: PROJECT,
        points: 1,
        test: "bench",
        timeout_s: 90,
        stop: &["bench: done"],
        expect: &[
            r"bench: null syscall \(sys_getenvid\) [0-9]+ instructions/op",
            r"bench: sys_yield, the only runnable env [0-9]+ instructions/op",
            r"bench: sys_yield with [0-9]+ live but blocked envs [0-9]+ instructions/op",
            r"bench: one-way IPC \(ipc_send/ipc_recv ping-pong, per hop\) [0-9]+ instructions/op",
            r"bench: one-way IPC, combined send\+receive \(ipc_send_recv ping-pong, per hop\) [0-9]+ instructions/op",
            r"bench: sys_page_alloc \(fresh page at an unmapped va\) [0-9]+ instructions/op",
            r"bench: sys_page_unmap [0-9]+ instructions/op",
            r"bench: COW write fault incl. the user handler \(per page\) [0-9]+ instructions/op",
            r"bench: fork\(\) per present page, big program \([0-9]+ present pages\) [0-9]+ instructions/op",
            r"bench: fork \+ child exit \+ parent sees it gone, small program \([0-9]+ present pages\) [0-9]+ instructions/op",
            "bench: done",
        ],
        no: &[".*kernel panic", "bench: fork stopped"],
        ..DEFAULT
    },
    // The fork rows on C JOS's workload (program benchfork), likewise.
    Test {
        name: "benchfork",
        part: PROJECT,
        points: 1,
        test: "benchfork",
        timeout_s: 60,
        stop: &["bench: done"],
        expect: &[
            r"bench: fork \+ child exit \+ parent sees it gone, C JOS's workload \([0-9]+ present pages\) [0-9]+ instructions/op",
            r"bench: fork\(\) per present page, C JOS's workload \([0-9]+ present pages\) [0-9]+ instructions/op",
            "bench: done",
        ],
        no: &[".*kernel panic", ".*panic"],
        ..DEFAULT
    },
];

/// Suffix and CPU count of the generated SMP copies of the lab 3 tests.
const SMP_SUFFIX: &str = "_cpus4";
const SMP_CPUS: u32 = 4;

/// A runnable test: a table entry, possibly renamed and re-shaped (SMP copies, `--cpus`).
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub part: &'static str,
    pub points: u32,
    pub cpus: u32,
    pub tcg: Tcg,
    pub test: &'static Test,
}

/// Every case in report order: the table, then each lab 3 test again under CPUS=4 (a lab 4
/// kernel must behave the same with APs idling), scored in the Project part.
pub fn cases() -> Vec<Case> {
    let plain = TABLE.iter().map(|t| Case {
        name: t.name.to_string(),
        part: t.part,
        points: t.points,
        cpus: t.cpus,
        tcg: t.tcg,
        test: t,
    });
    let smp = TABLE.iter().filter(|t| t.part == LAB3).map(|t| Case {
        name: format!("{}{SMP_SUFFIX}", t.name),
        part: PROJECT,
        points: 1,
        cpus: SMP_CPUS,
        tcg: t.tcg,
        test: t,
    });
    let variants = VARIANTS.iter().map(|&(name, cpus, tcg)| {
        let t = TABLE
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("VARIANTS names unknown test {name}"));
        let suffix = if tcg == Tcg::Multi { "_mttcg" } else { "" };
        Case {
            name: format!("{name}_cpus{cpus}{suffix}"),
            part: PROJECT,
            points: 1,
            cpus,
            tcg,
            test: t,
        }
    });
    plain.chain(smp).chain(variants).collect()
}

/// Lab 4 tests run again with other CPU counts (the issues' acceptance: part B with CPUS=4,
/// dumbfork with 2 and 4, primes with 1 and 2, pingpong and sendpage with 1), and a few with
/// truly parallel vCPUs (`_mttcg`), scored in the Project part.
pub const VARIANTS: &[(&str, u32, Tcg)] = &[
    ("dumbfork", 2, Tcg::Single),
    ("dumbfork", 4, Tcg::Single),
    ("faultread", 4, Tcg::Single),
    ("faultwrite", 4, Tcg::Single),
    ("faultdie", 4, Tcg::Single),
    ("faultregs", 4, Tcg::Single),
    ("faultalloc", 4, Tcg::Single),
    ("faultallocbad", 4, Tcg::Single),
    ("faultnostack", 4, Tcg::Single),
    ("faultbadhandler", 4, Tcg::Single),
    ("faultevilhandler", 4, Tcg::Single),
    ("forktree", 4, Tcg::Single),
    ("sendpage", 1, Tcg::Single),
    ("pingpong", 1, Tcg::Single),
    ("primes", 1, Tcg::Single),
    ("primes", 2, Tcg::Single),
    ("leakcheck", 4, Tcg::Single),
    ("primes", 4, Tcg::Multi),
    ("pingpong", 4, Tcg::Multi),
    ("sendrecv", 2, Tcg::Single),
    ("sendrecv", 4, Tcg::Multi),
    ("leakcheck", 4, Tcg::Multi),
    ("tlbleak", 4, Tcg::Multi),
    ("pingpongs", 2, Tcg::Single),
    ("pingpongs", 4, Tcg::Single),
    ("sforktest", 2, Tcg::Single),
    ("sforktest", 4, Tcg::Single),
    ("prio", 4, Tcg::Single),
    ("excdivide", 4, Tcg::Single),
    ("excnested", 4, Tcg::Single),
    ("excfperr", 4, Tcg::Single),
];

/// The cases to grade, in report order: those a filter word names (every case when there are
/// no words) and, with `lab`, only those of labs 1..=lab (JOS's grade-labN).
pub fn select(filters: &[String], lab: Option<u32>) -> Vec<Case> {
    cases()
        .into_iter()
        .filter(|c| selected(c, filters))
        .filter(|c| lab.is_none_or(|n| part_lab(c.part).is_some_and(|l| l <= n)))
        .collect()
}

/// gradelib's filter: a test runs if any word is a case-insensitive substring of its title
/// (or, here, of its part, so `grade "lab 4"` works).
fn selected(case: &Case, filters: &[String]) -> bool {
    let name = case.name.to_lowercase();
    let part = case.part.to_lowercase();
    filters.is_empty()
        || filters.iter().any(|f| {
            let f = f.to_lowercase();
            name.contains(&f) || part.contains(&f)
        })
}

/// The lab a part belongs to ("Lab 4 Part B" -> 4); the Project and Hostile parts have none,
/// so `--lab` leaves them out.
fn part_lab(part: &str) -> Option<u32> {
    part.strip_prefix("Lab ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod unit {
    use super::*;
    use crate::matcher::compile;
    use std::collections::HashSet;

    #[test]
    fn every_regex_compiles() {
        for t in TABLE {
            let all = t.expect.iter().chain(t.no).chain(t.stop);
            for p in all.chain(t.count.iter().map(|(p, _)| p)) {
                if let Err(e) = compile(p) {
                    panic!("{}: bad regex {p:?}: {e}", t.name);
                }
            }
        }
    }

    #[test]
    fn names_unique_and_file_safe_parts_contiguous() {
        let cases = cases();
        let mut names = HashSet::new();
        for c in &cases {
            assert!(
                names.insert(c.name.clone()),
                "duplicate test name {}",
                c.name
            );
            assert!(!c.name.contains('/'), "{} cannot be a file name", c.name);
        }
        let mut seen = Vec::new();
        for c in &cases {
            if seen.last() != Some(&c.part) {
                assert!(!seen.contains(&c.part), "part {} is split", c.part);
                seen.push(c.part);
            }
        }
    }

    #[test]
    fn jos_point_totals() {
        let total = |part: &str| -> u32 {
            TABLE
                .iter()
                .filter(|t| t.part == part)
                .map(|t| t.points)
                .sum()
        };
        assert_eq!(total(LAB2), 70);
        assert_eq!(total(LAB3), 80);
        assert_eq!((total(LAB4A), total(LAB4B), total(LAB4C)), (5, 50, 25));
        assert_eq!(
            TABLE.iter().filter(|t| t.part.starts_with("Lab 4")).count(),
            16
        );
    }

    #[test]
    fn hostile_tests_fail_on_a_panic_or_a_leak() {
        let hostile: Vec<&Test> = TABLE.iter().filter(|t| t.part == HOSTILE).collect();
        assert!(hostile.len() >= 10);
        for t in hostile {
            assert!(t.no.contains(&".*kernel panic"), "{}", t.name);
            assert!(!t.expect.is_empty(), "{}", t.name);
            assert_eq!(
                (t.same, t.input),
                (MEMINFO_SAME, &["meminfo"][..]),
                "{}",
                t.name
            );
        }
    }

    #[test]
    fn smp_copies_of_lab3() {
        let cases = cases();
        let c = cases.iter().find(|c| c.name == "hello_cpus4").unwrap();
        assert_eq!((c.cpus, c.part, c.test.test), (4, PROJECT, "hello"));
        let n = cases
            .iter()
            .filter(|c| c.name.ends_with(SMP_SUFFIX) && c.test.part == LAB3)
            .count();
        assert_eq!(n, 13);
        let v = cases.iter().find(|c| c.name == "primes_cpus2").unwrap();
        assert_eq!((v.cpus, v.part, v.test.test), (2, PROJECT, "primes"));
        assert_eq!(v.tcg, Tcg::Single);
        let m = cases
            .iter()
            .find(|c| c.name == "primes_cpus4_mttcg")
            .unwrap();
        assert_eq!((m.cpus, m.tcg), (4, Tcg::Multi));
    }

    /// The names `select` picks for these filter words and `--lab`.
    fn pick(words: &str, lab: Option<u32>) -> Vec<String> {
        let words: Vec<String> = words.split_whitespace().map(String::from).collect();
        select(&words, lab).into_iter().map(|c| c.name).collect()
    }

    #[test]
    fn filters() {
        assert_eq!(pick("", None).len(), cases().len());
        assert_eq!(
            pick("PRIMES", None),
            [
                "primes",
                "primes_cpus1",
                "primes_cpus2",
                "primes_cpus4_mttcg"
            ]
        );
        assert_eq!(
            pick("pingpong spin", None),
            [
                "spin",
                "pingpong",
                "pingpongs",
                "pingpong_cpus1",
                "pingpong_cpus4_mttcg",
                "pingpongs_cpus2",
                "pingpongs_cpus4"
            ]
        );
        // Part names match too: "Part A" selects lab 4 part A's only test, by its part.
        assert_eq!(pick("4_part_a", None), Vec::<String>::new());
        let part_a = select(&["part a".into()], None);
        assert_eq!(part_a.len(), 1);
        assert!(!part_a[0].name.to_lowercase().contains("part a"));
        assert!(pick("hello", None).contains(&"hello_smp".to_string()));
    }

    #[test]
    fn lab_selection() {
        assert_eq!(part_lab("Lab 4 Part C"), Some(4));
        assert_eq!(part_lab("Lab 2"), Some(2));
        assert_eq!((part_lab("Project"), part_lab("Hostile")), (None, None));
        // Every test of the four labs has its lab; the rest are Project or Hostile.
        for c in cases() {
            let lab = part_lab(c.part);
            assert!(
                lab.is_some_and(|l| (1..=4).contains(&l)) || [PROJECT, HOSTILE].contains(&c.part),
                "{}: part {}",
                c.name,
                c.part
            );
        }
    }

    #[test]
    fn lab_limits_the_selection() {
        let parts = |lab| -> Vec<&str> {
            let mut parts: Vec<&str> = select(&[], lab).iter().map(|c| c.part).collect();
            parts.dedup();
            parts
        };
        // `--lab 2` is labs 1 and 2, every test of both; the Project and Hostile parts are out.
        assert_eq!(parts(Some(2)), [LAB1, LAB2]);
        let of = |part| cases().iter().filter(|c| c.part == part).count();
        assert_eq!(select(&[], Some(2)).len(), of(LAB1) + of(LAB2));
        assert_eq!(parts(Some(1)), [LAB1]);
        assert_eq!(parts(Some(4)), [LAB1, LAB2, LAB3, LAB4A, LAB4B, LAB4C]);
        assert!(parts(None).contains(&PROJECT) && parts(None).contains(&HOSTILE));
        // Words and `--lab` both apply: the later "page" tests (sendpage, pagecopy, ...) are out.
        let page = [
            "Physical page allocator",
            "Page management",
            "Kernel page directory",
        ];
        assert_eq!(
            pick("page", Some(2)),
            [&page[..], &["Page management 2"]].concat()
        );
        assert!(pick("page", None).contains(&"sendpage".to_string()));
        assert_eq!(pick("page", Some(1)), Vec::<String>::new());
    }
}
