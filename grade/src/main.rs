//! `grade`: JOS's `make grade` for the Rust port. Builds the kernel, boots QEMU once per
//! distinct run (in parallel), matches each test's expected lines, and reports like gradelib.
//!
//! Usage: grade [-v] [--list] [--no-build] [--cpus N] [--mttcg] [--jobs N] [--lab N]
//!              [--results FILE] [filter words...]
//!        grade --bench [-v] [--no-build] [--cpus N]   (`make bench`: see bench.rs)
//!
//! `main` reads the options (`parse_args`), picks the cases (`select`, over tests.rs's table),
//! grades them (`run`: runner.rs boots QEMU, report.rs judges each case and says what to print)
//! and ends the report (`finish`), whose exit code says whether everything passed.
#![deny(unsafe_code)]

mod bench;
mod matcher;
#[allow(unsafe_code)]
mod procs;
mod report;
mod runner;
mod tests;

use report::{Paint, Report};
use std::io::IsTerminal;
use std::process::{Command, ExitCode};
use tests::Case;

const USAGE: &str =
    "usage: grade [-v] [--list] [--no-build] [--cpus N] [--mttcg] [--jobs N] [--lab N]
             [--results FILE] [filter words...]
       grade --bench [-v] [--no-build] [--cpus N]";

/// The command line, as `parse_args` reads it.
#[derive(Debug, Default, PartialEq)]
struct Options {
    verbose: bool,
    list: bool,
    no_build: bool,
    cpus: Option<u32>,
    /// Run every selected test with a host thread per vCPU (see `tests::Tcg`).
    mttcg: bool,
    jobs: Option<usize>,
    /// Run the benchmark (`make bench`) instead of the tests.
    bench: bool,
    /// Only the tests of labs 1..=N (JOS's grade-labN; a handout's conf/lab.mk sets it).
    lab: Option<u32>,
    /// Also write one `OK|FAIL<TAB>part<TAB>name` line per test here (for the course kit).
    results: Option<String>,
    filters: Vec<String>,
}

/// Reads the command line (without the program name). `Err` holds what is wrong, or nothing for
/// -h; options may come before, after and between the filter words.
fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut number = |name: &str| -> Result<usize, String> {
            let v = inline.clone().or_else(|| it.next().cloned());
            match v.and_then(|v| v.parse::<usize>().ok()) {
                Some(n) if n > 0 => Ok(n),
                _ => Err(format!("{name} needs a positive number")),
            }
        };
        match flag {
            "-v" | "--verbose" => o.verbose = true,
            "--list" => o.list = true,
            "--no-build" => o.no_build = true,
            "--mttcg" => o.mttcg = true,
            "--bench" => o.bench = true,
            "--cpus" => o.cpus = Some(number("--cpus")?.try_into().map_err(|_| "--cpus too big")?),
            "--jobs" | "-j" => o.jobs = Some(number("--jobs")?),
            "--lab" => o.lab = Some(number("--lab")?.try_into().map_err(|_| "--lab too big")?),
            "--results" => {
                let v = inline.clone().or_else(|| it.next().cloned());
                o.results = Some(v.ok_or("--results needs a file")?);
            }
            "-h" | "--help" => return Err(String::new()),
            f if f.starts_with('-') => return Err(format!("unknown option {f}")),
            _ => o.filters.push(arg.clone()),
        }
    }
    Ok(o)
}

/// `grade`: parse the options, pick the cases, then list them, benchmark, or grade them.
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => return usage(&e),
    };
    if opts.bench {
        return run_bench(&opts);
    }
    let cases = select(&opts);
    if cases.is_empty() {
        eprintln!("grade: no test matches {:?} (see --list)", opts.filters);
    }
    if opts.list {
        list(&cases);
        return ExitCode::SUCCESS;
    }
    let Some(qemu) = prepare(opts.no_build) else {
        return ExitCode::FAILURE;
    };
    if let Err(e) = std::fs::create_dir_all("obj/grade") {
        println!("grade: cannot create obj/grade: {e}");
        return ExitCode::FAILURE;
    }
    let report = run(&opts, &qemu, &cases);
    finish(&opts, &report, &cases)
}

/// A command-line mistake (or -h, with an empty message): the message, the usage, status 2.
fn usage(message: &str) -> ExitCode {
    if !message.is_empty() {
        eprintln!("grade: {message}");
    }
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

/// The cases to grade: those the filter words and --lab pick (`tests::select`), re-shaped by
/// --cpus and --mttcg.
fn select(opts: &Options) -> Vec<Case> {
    let mut cases = tests::select(&opts.filters, opts.lab);
    if let Some(n) = opts.cpus {
        cases.iter_mut().for_each(|c| c.cpus = n);
    }
    if opts.mttcg {
        cases.iter_mut().for_each(|c| c.tcg = tests::Tcg::Multi);
    }
    cases
}

/// `grade --list`: one line per case, with what shapes its run.
fn list(cases: &[Case]) {
    for c in cases {
        println!(
            "{:<24} {:<14} {:>3} pts  cpus {}  {:<17}  {}",
            c.name,
            c.part,
            c.points,
            c.cpus,
            c.tcg.accel(),
            c.test.test
        );
    }
}

/// Gets ready to boot QEMU: the cleanup that keeps any QEMU from outliving the harness, the
/// build (unless --no-build), and the kernel image. Returns the QEMU to run ($QEMU, by default
/// qemu-system-i386), or `None` after saying what is wrong.
fn prepare(no_build: bool) -> Option<String> {
    procs::install_cleanup();
    if !no_build && !build() {
        return None;
    }
    if !std::path::Path::new(runner::IMAGE).exists() {
        println!("grade: {} not found; run make first", runner::IMAGE);
        return None;
    }
    Some(std::env::var("QEMU").unwrap_or_else(|_| "qemu-system-i386".to_string()))
}

/// `make -s`, its output shown only when it fails.
fn build() -> bool {
    match Command::new("make").arg("-s").output() {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            print!("{}", String::from_utf8_lossy(&out.stdout));
            print!("{}", String::from_utf8_lossy(&out.stderr));
            println!("grade: make failed ({})", out.status);
            false
        }
        Err(e) => {
            println!("grade: cannot run make: {e}");
            false
        }
    }
}

/// Grades the cases: their QEMU runs in parallel, each case's result printed (and its output
/// saved) as soon as it and every case before it are in.
fn run(opts: &Options, qemu: &str, cases: &[Case]) -> Report {
    let default_jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Fewer workers than cleanup slots, so every live QEMU is known to the signal handler.
    let jobs = opts.jobs.unwrap_or(default_jobs).clamp(1, procs::SLOTS - 1);
    let mut report = Report::new(Paint(std::io::stdout().is_terminal()));
    runner::run_in_order(qemu, cases, jobs, |i, spec, out| {
        let case = &cases[i];
        let command = opts
            .verbose
            .then(|| format!("{qemu} {}", spec.args().join(" ")));
        let saved = report::save_output(&case.name, &out.output);
        let end_of_part = cases.get(i + 1).is_none_or(|n| n.part != case.part);
        for line in report.case(case, out, command.as_deref(), &saved, end_of_part) {
            println!("{line}");
        }
    });
    report
}

/// The end of a grade: the --results file, then the recap of failures and the totals. Fails
/// unless every case passed, and when there was none (a filter that matches nothing).
fn finish(opts: &Options, report: &Report, cases: &[Case]) -> ExitCode {
    if let Some(path) = &opts.results
        && let Err(e) = std::fs::write(path, report.results())
    {
        println!("grade: cannot write {path}: {e}");
        return ExitCode::FAILURE;
    }
    for line in report.closing() {
        println!("{line}");
    }
    if !report.all_passed() || cases.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `grade --bench`: build unless told not to, then run the benchmark (bench.rs).
fn run_bench(opts: &Options) -> ExitCode {
    if opts.mttcg
        || opts.list
        || opts.jobs.is_some()
        || opts.lab.is_some()
        || opts.results.is_some()
        || !opts.filters.is_empty()
    {
        return usage("--bench takes only -v, --no-build and --cpus");
    }
    let Some(qemu) = prepare(opts.no_build) else {
        return ExitCode::FAILURE;
    };
    bench::run(&qemu, opts.cpus.unwrap_or(1), opts.verbose)
}

#[cfg(test)]
mod unit {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn command_line() {
        let o = parse_args(&args("-v --no-build --cpus 4 --jobs=3 primes Hello")).unwrap();
        let want = Options {
            verbose: true,
            no_build: true,
            cpus: Some(4),
            jobs: Some(3),
            filters: vec!["primes".into(), "Hello".into()],
            ..Options::default()
        };
        assert_eq!(o, want);
        assert!(parse_args(&args("--list")).unwrap().list);
        assert!(parse_args(&args("--mttcg")).unwrap().mttcg);
        assert!(parse_args(&args("--bench --cpus 2")).unwrap().bench);
        assert!(parse_args(&args("--cpus")).is_err());
        assert!(parse_args(&args("--cpus 0")).is_err());
        assert!(parse_args(&args("--bogus")).is_err());
        let o = parse_args(&args("--lab 2 --results=r.txt")).unwrap();
        assert_eq!((o.lab, o.results.as_deref()), (Some(2), Some("r.txt")));
        assert!(parse_args(&args("--lab 0")).is_err());
        assert!(parse_args(&args("--results")).is_err());
    }

    #[test]
    fn command_line_mistakes_and_help() {
        assert_eq!(
            parse_args(&args("--bogus")),
            Err("unknown option --bogus".to_string())
        );
        assert_eq!(
            parse_args(&args("hello -x")),
            Err("unknown option -x".to_string())
        );
        // -h and --help ask for the usage alone, which main prints after an empty message.
        assert_eq!(parse_args(&args("-h")), Err(String::new()));
        assert_eq!(parse_args(&args("primes --help")), Err(String::new()));
        assert_eq!(
            parse_args(&args("--lab two")),
            Err("--lab needs a positive number".to_string())
        );
        assert_eq!(
            parse_args(&args("--jobs=-1")),
            Err("--jobs needs a positive number".to_string())
        );
        assert_eq!(
            parse_args(&args("--cpus 5000000000")),
            Err("--cpus too big".to_string())
        );
        // `=` splits only long options; a single-dash option with one is unknown.
        assert!(parse_args(&args("-j=2")).is_err());
        let o = parse_args(&args("spin -j 2 --lab=3 --verbose x=y")).unwrap();
        assert_eq!(
            (o.jobs, o.lab, o.verbose, o.filters),
            (Some(2), Some(3), true, vec!["spin".into(), "x=y".into()])
        );
    }

    #[test]
    fn options_select_and_reshape() {
        let pick = |line: &str| select(&parse_args(&args(line)).unwrap());
        // --lab 2: labs 1 and 2 only, in their own shape.
        let lab2 = pick("--lab 2");
        assert_eq!(lab2.len(), tests::select(&[], Some(2)).len());
        assert!(lab2.iter().all(|c| ["Lab 1", "Lab 2"].contains(&c.part)));
        assert!(
            lab2.iter()
                .all(|c| c.cpus == 1 && c.tcg == tests::Tcg::Single)
        );
        // --cpus and --mttcg re-shape every selected case.
        let smp = pick("--lab 2 --cpus 3 --mttcg");
        assert_eq!(smp.len(), lab2.len());
        assert!(
            smp.iter()
                .all(|c| c.cpus == 3 && c.tcg == tests::Tcg::Multi)
        );
        // Words and --lab together: lab 1's four backtrace checks.
        let names: Vec<String> = pick("backtrace --lab 1")
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(
            names,
            [
                "backtrace count",
                "backtrace arguments",
                "backtrace symbols",
                "backtrace lines"
            ]
        );
        assert!(pick("--lab 1 no-such-test").is_empty());
    }
}
