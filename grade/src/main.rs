//! `grade`: JOS's `make grade` for the Rust port. Builds the kernel, boots QEMU once per
//! distinct run (in parallel), matches each test's expected lines, and reports like gradelib.
//!
//! Usage: grade [-v] [--list] [--no-build] [--cpus N] [--mttcg] [--jobs N] [--lab N]
//!              [--results FILE] [filter words...]
//!        grade --bench [-v] [--no-build] [--cpus N]   (`make bench`: see bench.rs)
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

const USAGE: &str =
    "usage: grade [-v] [--list] [--no-build] [--cpus N] [--mttcg] [--jobs N] [--lab N]
             [--results FILE] [filter words...]
       grade --bench [-v] [--no-build] [--cpus N]";

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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("grade: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if opts.bench {
        return run_bench(&opts);
    }
    let mut cases = tests::select(&opts.filters, opts.lab);
    if let Some(n) = opts.cpus {
        cases.iter_mut().for_each(|c| c.cpus = n);
    }
    if opts.mttcg {
        cases.iter_mut().for_each(|c| c.tcg = tests::Tcg::Multi);
    }
    if cases.is_empty() {
        eprintln!("grade: no test matches {:?} (see --list)", opts.filters);
    }
    if opts.list {
        for c in &cases {
            let t = c.test;
            println!(
                "{:<24} {:<14} {:>3} pts  cpus {}  {:<17}  {}",
                c.name,
                c.part,
                c.points,
                c.cpus,
                c.tcg.accel(),
                t.test
            );
        }
        return ExitCode::SUCCESS;
    }
    procs::install_cleanup();
    if !opts.no_build && !build() {
        return ExitCode::FAILURE;
    }
    if !std::path::Path::new(runner::IMAGE).exists() {
        println!("grade: {} not found; run make first", runner::IMAGE);
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::create_dir_all("obj/grade") {
        println!("grade: cannot create obj/grade: {e}");
        return ExitCode::FAILURE;
    }
    let qemu = std::env::var("QEMU").unwrap_or_else(|_| "qemu-system-i386".to_string());

    let default_jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Fewer workers than cleanup slots, so every live QEMU is known to the signal handler.
    let jobs = opts.jobs.unwrap_or(default_jobs).clamp(1, procs::SLOTS - 1);
    let paint = Paint(std::io::stdout().is_terminal());

    let mut report = Report::new(paint);
    runner::run_in_order(&qemu, &cases, jobs, |i, spec, out| {
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
        eprintln!("grade: --bench takes only -v, --no-build and --cpus");
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    procs::install_cleanup();
    if !opts.no_build && !build() {
        return ExitCode::FAILURE;
    }
    if !std::path::Path::new(runner::IMAGE).exists() {
        println!("grade: {} not found; run make first", runner::IMAGE);
        return ExitCode::FAILURE;
    }
    let qemu = std::env::var("QEMU").unwrap_or_else(|_| "qemu-system-i386".to_string());
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
}
