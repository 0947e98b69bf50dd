//! reapsend (ours, no JOS counterpart): reclaiming orphans must cope with the queues of
//! blocked senders (`sys_ipc_send`, 13) that run between them.
//!
//! The kernel reclaims an env that can provably never run again: suspended (never started,
//! or set NOT_RUNNABLE) and its parent gone. When a parent exits, its suspended children are
//! freed in one sweep, and a child may be blocked in sys_ipc_send, queued on a sibling that
//! is freed in the same sweep. Freeing the receiver answers its queued senders (-E_BAD_ENV,
//! as a send to a freed env), freeing a sender takes it out of its receiver's queue: whatever
//! the order of the sweep, no freed env may be answered, no live one forgotten.
//!
//! Each scenario runs in a coordinator C forked by us (M); C (or its child) builds the
//! senders and receivers, suspends some senders while they are blocked (only then: to block
//! in sys_ipc_send a sender must have run), records every env it made, and exits. We then
//! require every env of the scenario to be gone (reclaimed, or exited by itself after its
//! send returned) and every sender that was not suspended to have seen its send fail with
//! -E_BAD_ENV (its receiver was reclaimed). Senders send a page of their own too. Scenarios:
//!
//! - `sender-older`: the sender is forked before its receiver (exoforked, never run).
//! - `sender-elsewhere`: the receiver is C's, the suspended sender ours (M's): when C exits,
//!   the sender must stay (suspended) with -E_BAD_ENV, which it sees once we resume it.
//! - `receiver-lives`: the receiver is a running child of C (an orphan once C exits, not
//!   reclaimable); the suspended sender is reclaimed and its message must never arrive: the
//!   receiver later receives only our message.
//! - `one`: an exoforked receiver, then a forked sender.
//! - `many`: one receiver, four senders forked after it (two suspended, two not) and one
//!   forked before it (suspended).
//! - `grandchildren`: C forks G, which exoforks a receiver and forks a sender to it, suspends
//!   the sender and then itself; C exits: G goes, and with it both of its children.
//! - `cycle`: two senders sending to each other, and three in a ring, all suspended.
//!
//! Prints `reapsend: NAME: ok` per scenario and `reapsend: every queued sender and receiver
//! reclaimed or answered: ok` only if every check held; the grader then checks with `meminfo`
//! that free pages and envs are back to their counts before the first env.
#![no_std]
#![no_main]

use jos_lib::inc::env::{ENV_NOT_RUNNABLE, ENV_RUNNABLE, EnvId, envx};
use jos_lib::inc::error::E_BAD_ENV;
use jos_lib::inc::memlayout::UTOP;
use jos_lib::inc::syscall::{SYS_IPC_RECV, SYS_IPC_SEND};
use jos_lib::{
    Pte, envs, exit, fork, ipc_send, println, sys_env_set_status, sys_exofork, sys_getenvid,
    sys_page_alloc, sys_yield, syscall, thisenv,
};
use jos_user::hostile::{PU, Shared, Shown, exists, wait_gone};

jos_lib::entry!(umain);

const SHARED: u32 = 0x0e00_0000;
/// Where each sender maps the page it sends, and where exoforked receivers get a page.
const PAGE: u32 = 0x1000_0000;

/// Shared words.
/// How many envs the scenario made (their ids from IDS on).
const NIDS: usize = 0;
/// How many senders the scenario made (slots from 0).
const NSEND: usize = 1;
/// Failures seen by the coordinators.
const FAILS: usize = 2;
/// M -> C: exit now (`sender-elsewhere`: C waits for it).
const GO: usize = 3;
/// The receiver of `receiver-lives`: M -> R "receive now"; R's result + 1, value, sender.
const RGO: usize = 4;
const RDONE: usize = 5;
const RVALUE: usize = 6;
const RFROM: usize = 7;
/// G (`grandchildren`) is about to suspend itself.
const GSUSP: usize = 8;
const IDS: usize = 32;
const MAXIDS: usize = 32;
/// Per sender k: whom to send to (0: not known yet) ...
const TARGET: usize = 64;
/// ... set just before its sys_ipc_send ...
const SENDING: usize = 96;
/// ... its result, encoded (0: not returned) ...
const REPORT: usize = 128;
/// ... and what it must end with (`Fate`).
const FATE: usize = 160;
const MAXSENDERS: usize = 32;

/// How a sender's story must end.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
enum Fate {
    /// Suspended, parent gone: reclaimed without its send ever returning.
    Reclaimed = 1,
    /// Not suspended (or resumed): its receiver was reclaimed, so its send returns
    /// -E_BAD_ENV, and it exits.
    BadEnv = 2,
}

/// How long to wait for an env to block, or to go: yields (each at least one pass of the
/// scheduler), far more than any step here needs on any CPU count.
const PATIENCE: u32 = 100_000;

fn encode(r: i32) -> u32 {
    (r + 1000) as u32
}

fn decode(w: u32) -> i32 {
    w as i32 - 1000
}

fn fail(sh: Shared, what: core::fmt::Arguments) {
    println!("reapsend: FAIL: {}", what);
    sh.add(FAILS, 1);
}

/// Record an env of the scenario, for M to check that it is gone at the end.
fn record(sh: Shared, id: EnvId) {
    let i = sh.add(NIDS, 1) as usize;
    assert!(i < MAXIDS, "too many envs in one scenario");
    sh.set(IDS + i, id as u32);
}

/// A sender: wait to be told whom to send to, send a value and a page of ours with the
/// blocking sys_ipc_send, report its result, exit.
fn sender(sh: Shared, k: usize) -> ! {
    let mut to = 0;
    while to == 0 {
        to = sh.get(TARGET + k);
        if to == 0 {
            sys_yield();
        }
    }
    // SAFETY: PAGE is used by nothing else in this program.
    if let Err(e) = unsafe { sys_page_alloc(0, PAGE, Pte::P | Pte::U | Pte::W) } {
        panic!("sys_page_alloc: {}", e);
    }
    sh.set(SENDING + k, 1);
    // SAFETY: a send changes nothing in our address space.
    let r = unsafe { syscall(SYS_IPC_SEND, to, 0x5e00 + k as u32, PAGE, PU, 0) };
    sh.set(REPORT + k, encode(r));
    exit();
}

/// Fork sender number `k` of the scenario (target set later with `aim`).
fn fork_sender(sh: Shared, fate: Fate) -> (usize, EnvId) {
    let k = sh.add(NSEND, 1) as usize;
    assert!(k < MAXSENDERS, "too many senders in one scenario");
    sh.set(FATE + k, fate as u32);
    match fork() {
        Ok(0) => sender(sh, k),
        Ok(id) => {
            record(sh, id);
            (k, id)
        }
        Err(e) => panic!("fork: {}", e),
    }
}

fn aim(sh: Shared, k: usize, to: EnvId) {
    sh.set(TARGET + k, to as u32);
}

/// Exofork a receiver that never runs, with a page of its own.
fn exo_receiver(sh: Shared) -> EnvId {
    let id = match sys_exofork() {
        // Never started: it could not even get here.
        Ok(0) => exit(),
        Ok(id) => id,
        Err(e) => panic!("sys_exofork: {}", e),
    };
    // SAFETY: maps into the child, which never runs.
    if let Err(e) = unsafe { sys_page_alloc(id, PAGE, Pte::P | Pte::U | Pte::W) } {
        panic!("sys_page_alloc in the receiver: {}", e);
    }
    record(sh, id);
    id
}

/// Wait until sender `k` (env `id`) is blocked in its sys_ipc_send: it announced the call
/// and is not runnable (nothing else makes it so: nobody has suspended it yet).
fn await_blocked(sh: Shared, k: usize, id: EnvId) -> bool {
    for _ in 0..PATIENCE {
        if sh.get(REPORT + k) != 0 {
            fail(
                sh,
                format_args!(
                    "sender {:08x}: sys_ipc_send returned {} without a receiver",
                    id,
                    Shown(decode(sh.get(REPORT + k)))
                ),
            );
            return false;
        }
        if sh.get(SENDING + k) != 0 && envs()[envx(id)].env_status() == ENV_NOT_RUNNABLE {
            return true;
        }
        sys_yield();
    }
    fail(
        sh,
        format_args!("sender {:08x} never blocked in sys_ipc_send", id),
    );
    false
}

fn suspend(sh: Shared, id: EnvId) {
    if let Err(e) = sys_env_set_status(id, ENV_NOT_RUNNABLE) {
        fail(
            sh,
            format_args!("suspending blocked sender {:08x}: {}", id, e),
        );
    }
}

/// A sender forked, aimed at `to`, blocked; suspended if its fate is to be reclaimed.
fn blocked_sender(sh: Shared, to: EnvId, fate: Fate) -> EnvId {
    let (k, id) = fork_sender(sh, fate);
    aim(sh, k, to);
    await_blocked(sh, k, id);
    if fate == Fate::Reclaimed {
        suspend(sh, id);
    }
    id
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    SenderOlder,
    SenderElsewhere,
    ReceiverLives,
    One,
    Many,
    Grandchildren,
    Cycle,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::SenderOlder => "sender-older",
            Scenario::SenderElsewhere => "sender-elsewhere",
            Scenario::ReceiverLives => "receiver-lives",
            Scenario::One => "one",
            Scenario::Many => "many",
            Scenario::Grandchildren => "grandchildren",
            Scenario::Cycle => "cycle",
        }
    }
}

/// The scenarios that the sweep order does not trouble come first, so that a kernel that
/// panics on the others still shows them passing.
const SCENARIOS: [Scenario; 7] = [
    Scenario::SenderOlder,
    Scenario::SenderElsewhere,
    Scenario::ReceiverLives,
    Scenario::One,
    Scenario::Many,
    Scenario::Grandchildren,
    Scenario::Cycle,
];

/// The receiver of `receiver-lives`: runs (an orphan once C is gone) until M says receive,
/// then receives once and reports.
fn live_receiver(sh: Shared) -> ! {
    while sh.get(RGO) == 0 {
        sys_yield();
    }
    // SAFETY: with dstva = UTOP nothing is mapped into our address space.
    let r = unsafe { syscall(SYS_IPC_RECV, UTOP, 0, 0, 0, 0) };
    let me = thisenv();
    sh.set(RVALUE, me.env_ipc_value());
    sh.set(RFROM, me.env_ipc_from() as u32);
    sh.set(RDONE, encode(r));
    exit();
}

/// The coordinator C of scenario `s`: set it up, then exit (the sweep under test).
fn coordinator(sh: Shared, s: Scenario) -> ! {
    match s {
        Scenario::SenderOlder => {
            let (k, id) = fork_sender(sh, Fate::Reclaimed);
            let r = exo_receiver(sh);
            aim(sh, k, r);
            await_blocked(sh, k, id);
            suspend(sh, id);
        }
        Scenario::SenderElsewhere => {
            // M forks the sender once it knows the receiver (IDS[0]), then says GO.
            exo_receiver(sh);
            while sh.get(GO) == 0 {
                sys_yield();
            }
        }
        Scenario::ReceiverLives => {
            let r = match fork() {
                Ok(0) => live_receiver(sh),
                Ok(id) => id,
                Err(e) => panic!("fork: {}", e),
            };
            record(sh, r);
            blocked_sender(sh, r, Fate::Reclaimed);
        }
        Scenario::One => {
            let r = exo_receiver(sh);
            blocked_sender(sh, r, Fate::Reclaimed);
        }
        Scenario::Many => {
            let (k0, s0) = fork_sender(sh, Fate::Reclaimed);
            let r = exo_receiver(sh);
            aim(sh, k0, r);
            await_blocked(sh, k0, s0);
            suspend(sh, s0);
            for fate in [Fate::Reclaimed, Fate::BadEnv, Fate::Reclaimed, Fate::BadEnv] {
                blocked_sender(sh, r, fate);
            }
        }
        Scenario::Grandchildren => {
            let g = match fork() {
                Ok(0) => {
                    let r = exo_receiver(sh);
                    blocked_sender(sh, r, Fate::Reclaimed);
                    sh.set(GSUSP, 1);
                    // Suspend ourselves: only C could resume us, and C is about to go.
                    let _ = sys_env_set_status(0, ENV_NOT_RUNNABLE);
                    fail(sh, format_args!("G was resumed"));
                    exit();
                }
                Ok(id) => id,
                Err(e) => panic!("fork: {}", e),
            };
            record(sh, g);
            let mut patience = PATIENCE;
            while !(sh.get(GSUSP) != 0 && envs()[envx(g)].env_status() == ENV_NOT_RUNNABLE) {
                patience -= 1;
                if patience == 0 {
                    fail(sh, format_args!("G never suspended itself"));
                    break;
                }
                sys_yield();
            }
        }
        Scenario::Cycle => {
            // Two sending to each other: the second finds the first blocked in a send, not
            // receiving, and blocks too.
            let (a, ida) = fork_sender(sh, Fate::Reclaimed);
            let (b, idb) = fork_sender(sh, Fate::Reclaimed);
            aim(sh, a, idb);
            await_blocked(sh, a, ida);
            aim(sh, b, ida);
            await_blocked(sh, b, idb);
            // Three in a ring.
            let ring = [
                fork_sender(sh, Fate::Reclaimed),
                fork_sender(sh, Fate::Reclaimed),
                fork_sender(sh, Fate::Reclaimed),
            ];
            for i in 0..3 {
                let (k, id) = ring[i];
                aim(sh, k, ring[(i + 1) % 3].1);
                await_blocked(sh, k, id);
            }
            for id in [ida, idb, ring[0].1, ring[1].1, ring[2].1] {
                suspend(sh, id);
            }
        }
    }
    exit();
}

/// Wait for every env of the scenario to be gone and every sender's report to match its
/// fate.
fn check_all_gone(sh: Shared, s: Scenario) {
    for i in 0..sh.get(NIDS) as usize {
        let id = sh.get(IDS + i) as EnvId;
        if !wait_gone(id, PATIENCE) {
            fail(
                sh,
                format_args!(
                    "{}: env {:08x} (status {}) is never reclaimed",
                    s.name(),
                    id,
                    envs()[envx(id)].env_status()
                ),
            );
        }
    }
    for k in 0..sh.get(NSEND) as usize {
        let rep = sh.get(REPORT + k);
        let reclaimed = sh.get(FATE + k) == Fate::Reclaimed as u32;
        let ok = if reclaimed {
            rep == 0
        } else {
            rep != 0 && decode(rep) == -E_BAD_ENV
        };
        if !ok {
            fail(
                sh,
                format_args!(
                    "{}: sender {} ({}): its sys_ipc_send {}",
                    s.name(),
                    k,
                    if reclaimed {
                        "suspended, must be reclaimed without returning"
                    } else {
                        "not suspended, must return -E_BAD_ENV"
                    },
                    Report(rep)
                ),
            );
        }
    }
}

/// A sender's encoded report, for messages.
struct Report(u32);

impl core::fmt::Display for Report {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0 == 0 {
            write!(f, "never returned")
        } else {
            write!(f, "returned {}", Shown(decode(self.0)))
        }
    }
}

/// Run scenario `s`; returns its failures.
fn run(sh: Shared, s: Scenario) -> u32 {
    for w in 0..FATE + MAXSENDERS {
        sh.set(w, 0);
    }
    let c = match fork() {
        Ok(0) => coordinator(sh, s),
        Ok(id) => id,
        Err(e) => panic!("fork: {}", e),
    };
    match s {
        Scenario::SenderElsewhere => {
            // Our own sender, suspended while blocked on C's receiver; C then exits.
            while sh.get(IDS) == 0 {
                sys_yield();
            }
            let r = sh.get(IDS) as EnvId;
            let (k, id) = fork_sender(sh, Fate::BadEnv);
            aim(sh, k, r);
            await_blocked(sh, k, id);
            suspend(sh, id);
            sh.set(GO, 1);
            if !wait_gone(c, PATIENCE) || !wait_gone(r, PATIENCE) {
                fail(sh, format_args!("{}: C or its receiver stays", s.name()));
            }
            // Still there, suspended, not returned: suspension holds until we resume it.
            for _ in 0..200 {
                sys_yield();
            }
            if !exists(id) || sh.get(REPORT + k) != 0 {
                fail(
                    sh,
                    format_args!(
                        "{}: our suspended sender {:08x} ran or went (exists: {}, report {})",
                        s.name(),
                        id,
                        exists(id),
                        Report(sh.get(REPORT + k))
                    ),
                );
            }
            if let Err(e) = sys_env_set_status(id, ENV_RUNNABLE) {
                fail(sh, format_args!("{}: resuming our sender: {}", s.name(), e));
            }
        }
        Scenario::ReceiverLives => {
            if !wait_gone(c, PATIENCE) {
                fail(sh, format_args!("{}: C stays", s.name()));
            }
            // The receiver is IDS[0], the sender IDS[1]: the sender must go (reclaimed)
            // while the receiver, runnable, stays; then only our message may arrive.
            let (r, snd) = (sh.get(IDS) as EnvId, sh.get(IDS + 1) as EnvId);
            if !wait_gone(snd, PATIENCE) {
                fail(
                    sh,
                    format_args!(
                        "{}: the suspended sender {:08x} is never reclaimed",
                        s.name(),
                        snd
                    ),
                );
            }
            if !exists(r) {
                fail(
                    sh,
                    format_args!("{}: the running receiver {:08x} went", s.name(), r),
                );
            } else {
                sh.set(RGO, 1);
                let mut patience = PATIENCE;
                while exists(r) && !envs()[envx(r)].env_ipc_recving() && sh.get(RDONE) == 0 {
                    patience -= 1;
                    if patience == 0 {
                        break;
                    }
                    sys_yield();
                }
                if sh.get(RDONE) == 0 && exists(r) && envs()[envx(r)].env_ipc_recving() {
                    ipc_send(r, 77, None, Pte::empty());
                }
                while sh.get(RDONE) == 0 && exists(r) {
                    sys_yield();
                }
                let me = sys_getenvid() as u32;
                let (res, v, from) = (sh.get(RDONE), sh.get(RVALUE), sh.get(RFROM));
                if res == 0 || decode(res) != 0 || v != 77 || from != me {
                    fail(
                        sh,
                        format_args!(
                            "{}: the receiver's sys_ipc_recv {} with value {:#x} from {:08x}, \
                             expected 0 with 0x4d from {:08x} (never the reclaimed sender's)",
                            s.name(),
                            Report(res),
                            v,
                            from,
                            me
                        ),
                    );
                }
            }
        }
        _ => {
            if !wait_gone(c, PATIENCE) {
                fail(sh, format_args!("{}: C stays", s.name()));
            }
        }
    }
    check_all_gone(sh, s);
    let fails = sh.get(FAILS);
    if fails == 0 {
        println!("reapsend: {}: ok", s.name());
    }
    fails
}

fn umain() {
    let sh = Shared::new(SHARED);
    let fails: u32 = SCENARIOS.iter().map(|&s| run(sh, s)).sum();
    if fails == 0 {
        println!("reapsend: every queued sender and receiver reclaimed or answered: ok");
    } else {
        println!("reapsend: {} failure(s)", fails);
    }
}
