//! Boots QEMU for one run, types monitor input, and decides when the run is over.
//!
//! JOS's gradelib ends a run at a hardware breakpoint on `readline`. Without GDB the equivalent
//! is the monitor's `K> ` prompt, which readline prints first thing: the run is over at the
//! prompt after the last input line (`Watch`), at a `stop` line, at EOF, or at the timeout.
//! `run_in_order` runs many in parallel and hands their outcomes back in the table's order.
#![forbid(unsafe_code)]

use crate::matcher::compile;
use crate::procs::Group;
use crate::tests::{Case, Tcg};
use regex::Regex;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

pub const IMAGE: &str = "obj/kern/kernel.img";
const PROMPT: &[u8] = b"K> ";
/// How long to keep reading after the kill, for output already in the pipe (gradelib: 5 s).
const DRAIN: Duration = Duration::from_secs(5);
/// How often to check whether QEMU has exited while it is quiet.
const POLL: Duration = Duration::from_millis(100);

/// Everything that shapes one QEMU run. Tests with equal specs share a run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunSpec {
    pub test: &'static str,
    pub cpus: u32,
    pub tcg: Tcg,
    pub mem: Option<u32>,
    pub timeout_s: u64,
    pub stop: &'static [&'static str],
    pub input: &'static [&'static str],
    /// A `make bench` run: QEMU counts instructions (`-icount shift=0,sleep=off`, so the
    /// guest's rdtsc counts guest instructions; needs single-threaded TCG) and fw_cfg
    /// `opt/jos/bench` asks the kernel to print its boot figure.
    pub bench: bool,
}

impl RunSpec {
    pub fn of(case: &Case) -> RunSpec {
        let t = case.test;
        RunSpec {
            test: t.test,
            cpus: case.cpus,
            tcg: case.tcg,
            mem: t.mem,
            timeout_s: t.timeout_s,
            stop: t.stop,
            input: t.input,
            bench: false,
        }
    }

    /// QEMU's arguments. `-display none` rather than -nographic keeps SeaBIOS's banner (which
    /// ends without a newline) off the serial line; `sockets=` makes SeaBIOS's MP table list
    /// every CPU on modern QEMU; `-snapshot` lets parallel runs share the image; `-accel` as
    /// the test's `Tcg` says (the Makefile's default, `QEMUACCEL`, is the same single thread).
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = ["-display", "none", "-serial", "mon:stdio", "-drive"]
            .map(String::from)
            .to_vec();
        a.push(format!("file={IMAGE},index=0,media=disk,format=raw"));
        a.extend(["-snapshot", "-no-reboot", "-smp"].map(String::from));
        a.push(format!("{0},sockets={0}", self.cpus));
        a.extend(["-accel".to_string(), self.tcg.accel().to_string()]);
        if let Some(mem) = self.mem {
            a.extend(["-m".to_string(), mem.to_string()]);
        }
        if !self.test.is_empty() {
            a.extend([
                "-fw_cfg".to_string(),
                format!("name=opt/jos/test,string={}", self.test),
            ]);
        }
        if self.bench {
            a.extend(
                [
                    "-icount",
                    "shift=0,sleep=off",
                    "-fw_cfg",
                    "name=opt/jos/bench,string=1",
                ]
                .map(String::from),
            );
        }
        a
    }
}

/// What the run loop should do after feeding output to `Watch`.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Write this (an input line plus "\n") to QEMU's stdin.
    Type(String),
    /// The run is complete.
    Done,
}

/// The stop logic as a pure state machine over output bytes: counts prompts, hands out input
/// lines, and watches complete lines for a stop pattern.
pub struct Watch {
    input: &'static [&'static str],
    stop: Vec<Regex>,
    prompts: usize,
    line: Vec<u8>,
    done: bool,
}

impl Watch {
    pub fn new(input: &'static [&'static str], stop: &[&str]) -> Watch {
        // The table's unit test guarantees the stop patterns compile.
        let stop = stop.iter().filter_map(|p| compile(p).ok()).collect();
        Watch {
            input,
            stop,
            prompts: 0,
            line: Vec::new(),
            done: false,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Step> {
        let mut steps = Vec::new();
        for &b in chunk {
            if self.done {
                break;
            }
            if b == b'\n' {
                // gradelib's stop_on_line splits on "\n" and re.match()es each line.
                let line = String::from_utf8_lossy(&self.line);
                let line = line.strip_suffix('\r').unwrap_or(&line);
                if self.stop.iter().any(|re| re.is_match(line)) {
                    self.done = true;
                    steps.push(Step::Done);
                }
                self.line.clear();
                continue;
            }
            self.line.push(b);
            if self.line.ends_with(PROMPT) {
                self.prompts += 1;
                match self.input.get(self.prompts - 1) {
                    Some(text) => steps.push(Step::Type(format!("{text}\n"))),
                    None => {
                        self.done = true;
                        steps.push(Step::Done);
                    }
                }
            }
        }
        steps
    }
}

/// The captured result of one run.
#[derive(Debug)]
pub struct Outcome {
    pub output: Vec<u8>,
    pub secs: f64,
    pub timed_out: bool,
}

/// Runs QEMU for `spec` to completion. Never leaves QEMU behind (see `procs`).
pub fn run(qemu: &str, spec: &RunSpec) -> Outcome {
    let start = Instant::now();
    let failed = |msg: String| Outcome {
        output: msg.into_bytes(),
        secs: start.elapsed().as_secs_f64(),
        timed_out: false,
    };
    // One pipe for stdout and stderr, as gradelib reads them: QEMU's own errors are output too.
    let (mut reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return failed(format!("grade: pipe: {e}\n")),
    };
    let mut cmd = Command::new(qemu);
    cmd.args(spec.args()).stdin(Stdio::piped());
    match writer.try_clone() {
        Ok(w) => cmd.stdout(w).stderr(writer),
        Err(e) => return failed(format!("grade: pipe: {e}\n")),
    };
    let spawned = Group::spawn(&mut cmd);
    // Drop our copies of the pipe's write end, or the reader would never see EOF.
    drop(cmd);
    let mut group = match spawned {
        Ok(g) => g,
        Err(e) => return failed(format!("grade: cannot run {qemu}: {e}\n")),
    };
    let mut stdin = group.child.stdin.take();

    // A thread turns the blocking pipe into a channel so the loop below can wait with a deadline.
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let pump = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });

    let deadline = start + Duration::from_secs(spec.timeout_s);
    let mut watch = Watch::new(spec.input, spec.stop);
    let mut output = Vec::new();
    let mut timed_out = false;
    'run: loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.min(POLL)) {
            Ok(chunk) => {
                output.extend_from_slice(&chunk);
                for step in watch.feed(&chunk) {
                    match step {
                        Step::Type(text) => {
                            // A write error means QEMU is gone; EOF will end the run.
                            if let Some(w) = stdin.as_mut() {
                                let _ = w.write_all(text.as_bytes()).and_then(|()| w.flush());
                            }
                        }
                        Step::Done => break 'run,
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) if left <= POLL => {
                timed_out = true;
                break;
            }
            // QEMU exited, but something it started may still hold the pipe open, so EOF alone
            // is not enough. What it wrote is collected by the drain below.
            Err(RecvTimeoutError::Timeout) => {
                if !matches!(group.child.try_wait(), Ok(None)) {
                    break;
                }
            }
            Err(RecvTimeoutError::Disconnected) => break, // QEMU exited
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(stdin);
    drop(group); // kills the process group and reaps QEMU

    // Keep what was already written; EOF follows promptly now the group is dead.
    let drain_until = Instant::now() + DRAIN;
    while let Ok(chunk) = rx.recv_timeout(drain_until.saturating_duration_since(Instant::now())) {
        output.extend_from_slice(&chunk);
    }
    if pump.is_finished() {
        let _ = pump.join();
    }
    Outcome {
        output,
        secs,
        timed_out,
    }
}

/// The runs the cases need and, for each case, the index of its run. Cases with identical run
/// settings share one QEMU run (gradelib's parent tests, e.g. lab 2's four checks of one boot);
/// runs are in the order of their first case, so they start in table order and results can
/// print early.
fn plan(cases: &[Case]) -> (Vec<RunSpec>, Vec<usize>) {
    let mut specs: Vec<RunSpec> = Vec::new();
    let mut index: HashMap<RunSpec, usize> = HashMap::new();
    let run_of: Vec<usize> = cases
        .iter()
        .map(|c| {
            let spec = RunSpec::of(c);
            *index.entry(spec.clone()).or_insert_with(|| {
                specs.push(spec);
                specs.len() - 1
            })
        })
        .collect();
    (specs, run_of)
}

/// Runs the cases' QEMUs, `jobs` at a time, and calls `each(case index, its run, the run's
/// outcome)` on this thread strictly in table order, each case as soon as its run and those of
/// all cases before it are in.
pub fn run_in_order(
    qemu: &str,
    cases: &[Case],
    jobs: usize,
    mut each: impl FnMut(usize, &RunSpec, &Outcome),
) {
    let (specs, run_of) = plan(cases);
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
        for _ in 0..jobs.min(specs.len()) {
            let (tx, next, specs) = (tx.clone(), &next, &specs);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(spec) = specs.get(i) else { break };
                    if tx.send((i, run(qemu, spec))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);

        let mut done: Vec<Option<Outcome>> = specs.iter().map(|_| None).collect();
        let mut cursor = 0;
        for (i, outcome) in rx {
            done[i] = Some(outcome);
            while let Some(&r) = run_of.get(cursor) {
                let Some(out) = &done[r] else { break };
                each(cursor, &specs[r], out);
                cursor += 1;
            }
        }
    });
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn stops_at_first_prompt_without_input() {
        let mut w = Watch::new(&[], &[]);
        assert_eq!(
            w.feed(b"Welcome to the JOS kernel monitor!\nType 'help'"),
            []
        );
        assert_eq!(w.feed(b" for a list of commands.\nK"), []);
        // The prompt may arrive split across chunks.
        assert_eq!(w.feed(b">"), []);
        assert_eq!(w.feed(b" "), [Step::Done]);
        assert_eq!(w.feed(b"K> "), []);
    }

    #[test]
    fn types_inputs_then_stops() {
        let mut w = Watch::new(&["help", "kerninfo"], &[]);
        assert_eq!(w.feed(b"banner\nK> "), [Step::Type("help\n".into())]);
        assert_eq!(w.feed(b"help\nhelp - Display this list of commands\n"), []);
        assert_eq!(
            w.feed(b"K> kerninfo\nSpecial kernel symbols:\n"),
            [Step::Type("kerninfo\n".into())]
        );
        assert_eq!(w.feed(b"K> "), [Step::Done]);
    }

    #[test]
    fn stop_line_needs_complete_line() {
        let mut w = Watch::new(&[], &["CPU .: 1877", ".*panic"]);
        assert_eq!(w.feed(b"CPU 0: 1873 [00001120] new env\nCPU 1: 1877"), []);
        assert_eq!(w.feed(b" [00001120] new env 00001121"), []);
        assert_eq!(w.feed(b"\nmore"), [Step::Done]);
        let mut w = Watch::new(&[], &[".*panic"]);
        assert_eq!(
            w.feed(b"kernel panic on CPU 0 at kern/x.rs:1: boom\r\n"),
            [Step::Done]
        );
        // Mid-line matches do not stop a pattern anchored at the start.
        let mut w = Watch::new(&[], &["CPU .: 1877"]);
        assert_eq!(w.feed(b"xCPU 0: 1877\n"), []);
    }

    #[test]
    fn qemu_command_line() {
        let spec = RunSpec {
            test: "yield+yield",
            cpus: 4,
            tcg: Tcg::Single,
            mem: Some(32),
            timeout_s: 30,
            stop: &[],
            input: &[],
            bench: false,
        };
        assert_eq!(
            spec.args().join(" "),
            "-display none -serial mon:stdio \
             -drive file=obj/kern/kernel.img,index=0,media=disk,format=raw -snapshot \
             -no-reboot -smp 4,sockets=4 -accel tcg,thread=single -m 32 \
             -fw_cfg name=opt/jos/test,string=yield+yield"
        );
        let spec = RunSpec {
            test: "",
            mem: None,
            cpus: 1,
            tcg: Tcg::Multi,
            ..spec
        };
        assert!(
            spec.args()
                .join(" ")
                .ends_with("-smp 1,sockets=1 -accel tcg,thread=multi")
        );
        let spec = RunSpec {
            test: "bench",
            tcg: Tcg::Single,
            bench: true,
            ..spec
        };
        assert!(spec.args().join(" ").ends_with(
            "-accel tcg,thread=single -fw_cfg name=opt/jos/test,string=bench \
             -icount shift=0,sleep=off -fw_cfg name=opt/jos/bench,string=1"
        ));
    }

    #[test]
    fn cases_share_runs() {
        let cases = crate::tests::select(&[], Some(2));
        let (specs, run_of) = plan(&cases);
        // printf, monitor and lab 2's four checks read one plain boot; help and kerninfo each
        // type their command; the four backtrace checks share the test_backtrace boot.
        assert_eq!(run_of, [0, 0, 1, 2, 3, 3, 3, 3, 0, 0, 0, 0]);
        assert_eq!(specs.len(), 4);
        for (c, &r) in cases.iter().zip(&run_of) {
            assert_eq!(specs[r], RunSpec::of(c));
        }
    }

    #[test]
    fn outcomes_come_back_in_table_order() {
        // No QEMU starts: each run fails at once, in whatever order the workers finish. Lab 2's
        // four page checks share one run, so runs and cases do not line up.
        let cases = crate::tests::select(&["page".into(), "hello".into()], None);
        let mut seen = Vec::new();
        run_in_order("/nonexistent/qemu", &cases, 3, |i, spec, out| {
            assert_eq!(*spec, RunSpec::of(&cases[i]));
            let text = String::from_utf8_lossy(&out.output);
            assert!(
                text.starts_with("grade: cannot run /nonexistent/qemu"),
                "{text}"
            );
            seen.push(i);
        });
        assert_eq!(seen, (0..cases.len()).collect::<Vec<_>>());
    }
}
