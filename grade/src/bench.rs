//! `grade --bench` (`make bench`): boots the `bench` user program (and `benchfork`, the fork
//! rows on C JOS's workload) under QEMU icount and prints their figures as one table, then the
//! null-syscall, yield and IPC rows again (program `benchsmp`) with 1, 2 and 4 CPUs and their
//! ratios to 1 CPU. Last, a second method: `benchscale` with a host thread per vCPU and no
//! icount, one run at a time with 1, 2 and 4 CPUs, for wall-clock time per operation and its
//! ratio to 1 CPU (how kernel work scales; see README.md).
//!
//! The figures are guest instructions per operation (see README.md, "Benchmarks"): exact and
//! repeatable, so the runs go in parallel without disturbing each other. Nothing here judges
//! a run by its figures; a run fails only if it does not finish or a metric line is missing.
#![forbid(unsafe_code)]

use crate::matcher::splitlines;
use crate::runner::{self, Outcome, RunSpec};
use crate::tests::Tcg;
use regex::Regex;
use std::process::ExitCode;

/// Wall-clock limit per run. `bench` takes about 10 s alone under icount (its thousand
/// children make the kernel print three thousand lines, and icount is slow at port I/O).
const TIMEOUT_S: u64 = 180;

/// The rows in the order of the performance table; each is recognised by the start of the
/// metric name the program prints (some names end with a count).
const ORDER: &[&str] = &[
    "null syscall",
    "sys_yield, the only runnable env",
    "sys_yield with",
    "one-way IPC (",
    "one-way IPC, combined",
    "sys_page_alloc",
    "sys_page_unmap",
    "COW write fault",
    "fork() per present page, C JOS's workload",
    "fork + child exit + parent sees it gone, C JOS's workload",
    "fork() per present page, big program",
    "fork + child exit + parent sees it gone, small program",
];

/// The rows `benchsmp` measures, compared across CPU counts.
const SMP_ROWS: &[&str] = &[
    "null syscall",
    "sys_yield, the only",
    "one-way IPC (",
    "one-way IPC, combined",
];
const SMP_CPUS: [u32; 3] = [1, 2, 4];
/// The runs whose rows make the main table (`bench`, `benchfork`), first in the run list.
const MAIN_RUNS: usize = 2;
/// The performance target for the SMP rows: within 5% of the CPUS=1 figure.
const SMP_TOLERANCE: f64 = 0.05;

/// The scaling runs (`benchscale`): CPU counts, one run each, one after another (wall-clock
/// figures: runs in parallel would take host cores from each other).
const SCALE_CPUS: [u32; 3] = [1, 2, 4];
const SCALE_TIMEOUT_S: u64 = 120;

/// The kernel's own row (kern/bench.rs), with the reference figures the program cannot print.
const BOOT_NAME: &str = "kernel entry -> first user instruction";
const BOOT_C_JOS: &str = "10.3 M";
const BOOT_TARGET: u64 = 2_000_000;

/// One metric as printed by the program.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    pub per_op: u64,
    pub c_jos: String,
    pub target: String,
    pub met: bool,
}

/// What one run printed.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    pub rows: Vec<Row>,
    /// The kernel's `kernel entry to first user instruction` figure.
    pub boot: Option<u64>,
    /// Whether the program got to `bench: done`.
    pub done: bool,
}

pub fn parse(text: &str) -> Parsed {
    let metric = Regex::new(
        r"^bench: (.+) ([0-9]+) instructions/op \(C JOS (.+), target (.+)\): (met|NOT met)\s*$",
    )
    .expect("metric regex");
    let boot = Regex::new(r"^bench: kernel entry to first user instruction ([0-9]+) instructions")
        .expect("boot regex");
    let mut p = Parsed::default();
    for line in splitlines(text) {
        if let Some(c) = metric.captures(line) {
            p.rows.push(Row {
                name: c[1].to_string(),
                per_op: c[2].parse().unwrap_or(u64::MAX),
                c_jos: c[3].to_string(),
                target: c[4].to_string(),
                met: &c[5] == "met",
            });
        } else if let Some(c) = boot.captures(line) {
            p.boot = c[1].parse().ok();
        } else if line.trim_end() == "bench: done" {
            p.done = true;
        }
    }
    p
}

/// What a `benchscale` run printed: (workload, TSC ticks per operation) in order, the idle
/// pickup's (min, median, max) ticks, and whether it got to the end.
#[derive(Debug, Default, PartialEq)]
pub struct Scale {
    pub rows: Vec<(String, u64)>,
    pub pickup: Option<[u64; 3]>,
    pub done: bool,
}

pub fn parse_scale(text: &str) -> Scale {
    let row = Regex::new(r"^bench-scale: (.+) ([0-9]+) ticks/op\s*$").expect("scale regex");
    let pickup = Regex::new(
        r"^bench-scale: idle CPU picks up a runnable env ([0-9]+) ([0-9]+) ([0-9]+) ticks",
    )
    .expect("pickup regex");
    let mut sc = Scale::default();
    for line in splitlines(text) {
        if let Some(c) = pickup.captures(line) {
            let n = |i: usize| c[i].parse().unwrap_or(u64::MAX);
            sc.pickup = Some([n(1), n(2), n(3)]);
        } else if let Some(c) = row.captures(line) {
            sc.rows
                .push((c[1].to_string(), c[2].parse().unwrap_or(u64::MAX)));
        } else if line.trim_end() == "bench-scale: done" {
            sc.done = true;
        }
    }
    sc
}

/// The host's TSC rate in MHz, which the guest's `rdtsc` reads under TCG without icount:
/// `cpu MHz` of /proc/cpuinfo, meaningful as the TSC rate where the CPU has `constant_tsc`
/// (else None: the table stays in ticks).
fn tsc_mhz() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    if !info.contains("constant_tsc") {
        return None;
    }
    info.lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse().ok())
}

/// A duration of `ticks` TSC ticks, in ns/us/ms if the rate is known, else in ticks.
pub fn duration(ticks: u64, mhz: Option<f64>) -> String {
    match mhz {
        None => format!("{} ticks", thousands(ticks)),
        Some(m) => {
            let ns = ticks as f64 * 1000.0 / m;
            if ns < 1_000.0 {
                format!("{ns:.1} ns")
            } else if ns < 1_000_000.0 {
                format!("{:.2} us", ns / 1000.0)
            } else {
                format!("{:.2} ms", ns / 1_000_000.0)
            }
        }
    }
}

/// The scaling table: per workload its time per operation with 1, 2 and 4 CPUs and the
/// ratios to 1 CPU; then the idle pickup (median, fastest, slowest) per CPU count.
pub fn scale_table(runs: &[Scale], mhz: Option<f64>) -> Vec<String> {
    let names: Vec<String> = runs
        .iter()
        .find(|r| !r.rows.is_empty())
        .map(|r| r.rows.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    let pickup_name = "idle CPU picks up a runnable env";
    let name_w = names
        .iter()
        .map(|n| n.len())
        .chain([pickup_name.len() + " (fastest)".len(), "metric".len()])
        .max()
        .unwrap_or(0);
    let mut head = format!("{:<name_w$}", "metric");
    for (i, cpus) in SCALE_CPUS.iter().enumerate() {
        head += &format!("  {:>10}", format!("CPUS={cpus}"));
        if i > 0 {
            head += &format!("  {:>5}", "ratio");
        }
    }
    let mut lines = vec![head];
    for name in &names {
        let figs: Vec<Option<u64>> = runs
            .iter()
            .map(|r| r.rows.iter().find(|(n, _)| n == name).map(|&(_, t)| t))
            .collect();
        let base = figs.first().copied().flatten();
        let mut line = format!("{name:<name_w$}");
        for (i, f) in figs.iter().enumerate() {
            line += &format!(
                "  {:>10}",
                f.map_or("missing".to_string(), |t| duration(t, mhz))
            );
            if i > 0 {
                let ratio = match (f, base) {
                    (Some(f), Some(b)) if b > 0 => format!("{:.2}", *f as f64 / b as f64),
                    _ => "-".to_string(),
                };
                line += &format!("  {ratio:>5}");
            }
        }
        lines.push(line);
    }
    for (k, what) in [(1, "median"), (0, "fastest"), (2, "slowest")] {
        let mut line = format!("{:<name_w$}", format!("{pickup_name} ({what})"));
        for (i, r) in runs.iter().enumerate() {
            line += &format!(
                "  {:>10}",
                r.pickup
                    .map_or("missing".to_string(), |p| duration(p[k], mhz))
            );
            if i > 0 {
                line += &format!("  {:>5}", "");
            }
        }
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// `n` with thousands separators, as the reference table writes figures.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn find<'a>(rows: &'a [Row], prefix: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.name.starts_with(prefix))
}

/// The main table: the rows in the reference order, then any the order does not know, then
/// the kernel's boot row. Rows the run did not print show as missing.
pub fn main_table(p: &Parsed) -> Vec<String> {
    let mut cells: Vec<[String; 5]> = Vec::new();
    for prefix in ORDER {
        cells.push(match find(&p.rows, prefix) {
            Some(r) => row_cells(r),
            None => missing(prefix),
        });
    }
    for r in &p.rows {
        if !ORDER.iter().any(|o| r.name.starts_with(o)) {
            cells.push(row_cells(r));
        }
    }
    cells.push(match p.boot {
        Some(n) => [
            BOOT_NAME.to_string(),
            thousands(n),
            BOOT_C_JOS.to_string(),
            format!("{} M", BOOT_TARGET / 1_000_000),
            verdict(n <= BOOT_TARGET).to_string(),
        ],
        None => missing(BOOT_NAME),
    });
    let header = [
        "metric".to_string(),
        "instr/op".to_string(),
        "C JOS".to_string(),
        "target".to_string(),
        "met?".to_string(),
    ];
    let w = widths(std::iter::once(&header).chain(&cells));
    std::iter::once(&header)
        .chain(&cells)
        .map(|c| {
            format!(
                "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {}",
                c[0],
                c[1],
                c[2],
                c[3],
                c[4],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3]
            )
        })
        .collect()
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

fn row_cells(r: &Row) -> [String; 5] {
    [
        r.name.clone(),
        thousands(r.per_op),
        r.c_jos.clone(),
        r.target.clone(),
        verdict(r.met).to_string(),
    ]
}

fn missing(name: &str) -> [String; 5] {
    [
        name.to_string(),
        "missing".to_string(),
        String::new(),
        String::new(),
        String::new(),
    ]
}

fn widths<'a>(rows: impl Iterator<Item = &'a [String; 5]>) -> [usize; 5] {
    let mut w = [0; 5];
    for r in rows {
        for (wi, cell) in w.iter_mut().zip(r) {
            *wi = (*wi).max(cell.chars().count());
        }
    }
    w
}

/// The SMP table: each row's figure at 1, 2 and 4 CPUs and the ratios to 1 CPU.
pub fn smp_table(runs: &[Parsed]) -> Vec<String> {
    let name_w = SMP_ROWS
        .iter()
        .filter_map(|p| runs.iter().find_map(|r| find(&r.rows, p)))
        .map(|r| r.name.len())
        .max()
        .unwrap_or(0)
        .max("metric".len());
    let mut head = format!("{:<name_w$}", "metric");
    for (i, cpus) in SMP_CPUS.iter().enumerate() {
        head += &format!("  {:>8}", format!("CPUS={cpus}"));
        if i > 0 {
            head += &format!("  {:>5}", "ratio");
        }
    }
    head += "  within 5%?";
    let mut lines = vec![head];
    for prefix in SMP_ROWS {
        let figures: Vec<Option<u64>> = runs
            .iter()
            .map(|r| find(&r.rows, prefix).map(|row| row.per_op))
            .collect();
        let name = runs
            .iter()
            .find_map(|r| find(&r.rows, prefix))
            .map_or(prefix.to_string(), |r| r.name.clone());
        let base = figures.first().copied().flatten();
        let mut line = format!("{name:<name_w$}");
        let mut all_within = true;
        for (i, f) in figures.iter().enumerate() {
            line += &format!("  {:>8}", f.map_or("missing".to_string(), thousands));
            if i > 0 {
                let ratio = match (f, base) {
                    (Some(f), Some(b)) if b > 0 => Some(*f as f64 / b as f64),
                    _ => None,
                };
                all_within &= ratio.is_some_and(|r| (r - 1.0).abs() <= SMP_TOLERANCE);
                line += &format!(
                    "  {:>5}",
                    ratio.map_or("-".to_string(), |r| format!("{r:.2}"))
                );
            }
        }
        line += if all_within { "  yes" } else { "  NO" };
        lines.push(line);
    }
    lines
}

fn spec(test: &'static str, cpus: u32) -> RunSpec {
    RunSpec {
        test,
        cpus,
        // icount needs single-threaded TCG.
        tcg: Tcg::Single,
        mem: None,
        timeout_s: TIMEOUT_S,
        stop: &["bench: done"],
        input: &[],
        bench: true,
    }
}

/// Saves a run's output and, if it did not finish, says so with its last lines.
fn check_run(name: &str, spec: &RunSpec, out: &Outcome, p: &Parsed) -> bool {
    let path = format!("obj/bench/{name}.out");
    if let Err(e) = std::fs::write(&path, &out.output) {
        println!("bench: cannot write {path}: {e}");
    }
    if p.done {
        return true;
    }
    let why = if out.timed_out {
        format!("timed out after {} s", spec.timeout_s)
    } else {
        "ended".to_string()
    };
    println!(
        "bench: {name} (CPUS={}) {why} before `bench: done`; output in {path}, last lines:",
        spec.cpus
    );
    let text = String::from_utf8_lossy(&out.output);
    let lines = splitlines(&text);
    for line in &lines[lines.len().saturating_sub(15)..] {
        println!("    {line}");
    }
    false
}

/// Runs the benchmark: `bench` and `benchfork` with `cpus` CPUs, `benchsmp` with 1, 2 and 4,
/// all in parallel.
pub fn run(qemu: &str, cpus: u32, verbose: bool) -> ExitCode {
    if let Err(e) = std::fs::create_dir_all("obj/bench") {
        println!("bench: cannot create obj/bench: {e}");
        return ExitCode::FAILURE;
    }
    let mut specs = vec![
        ("bench".to_string(), spec("bench", cpus)),
        ("benchfork".to_string(), spec("benchfork", cpus)),
    ];
    for n in SMP_CPUS {
        specs.push((format!("benchsmp_cpus{n}"), spec("benchsmp", n)));
    }
    if verbose {
        for (_, s) in &specs {
            println!("$ {qemu} {}", s.args().join(" "));
        }
    }
    let outcomes: Vec<Outcome> = std::thread::scope(|sc| {
        let handles: Vec<_> = specs
            .iter()
            .map(|(_, s)| sc.spawn(move || runner::run(qemu, s)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a bench run thread panicked"))
            .collect()
    });
    let parsed: Vec<Parsed> = outcomes
        .iter()
        .map(|o| parse(&String::from_utf8_lossy(&o.output)))
        .collect();
    let mut ok = true;
    for (((name, s), out), p) in specs.iter().zip(&outcomes).zip(&parsed) {
        ok &= check_run(name, s, out, p);
    }
    // The main table: bench's rows and benchfork's, one table.
    let mut main = Parsed::default();
    for p in &parsed[..MAIN_RUNS] {
        main.rows.extend(p.rows.iter().cloned());
        main.boot = main.boot.or(p.boot);
    }
    let parsed_smp = &parsed[MAIN_RUNS..];

    println!(
        "bench: guest instructions per operation under QEMU icount, CPUS={cpus}, \
         minimum over repetitions"
    );
    for line in main_table(&main) {
        println!("{line}");
    }
    println!();
    println!(
        "bench: null syscall, yield and IPC with more CPUs (program benchsmp; target: \
         within 5% of CPUS=1)"
    );
    for line in smp_table(parsed_smp) {
        println!("{line}");
    }
    let complete = find_all(&main) && parsed_smp.iter().all(smp_complete);
    if !complete {
        println!("bench: some rows are missing (see above)");
    }
    let scale_ok = run_scale(qemu, verbose);
    if ok && complete && scale_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The second method: `benchscale` with a host thread per vCPU, no icount, with 1, 2 and 4
/// CPUs one after another; prints the scaling table. False if a run did not finish.
fn run_scale(qemu: &str, verbose: bool) -> bool {
    let mut runs = Vec::new();
    let mut ok = true;
    for cpus in SCALE_CPUS {
        let s = RunSpec {
            test: "benchscale",
            cpus,
            tcg: Tcg::Multi,
            mem: None,
            timeout_s: SCALE_TIMEOUT_S,
            stop: &["bench-scale: done"],
            input: &[],
            bench: false,
        };
        if verbose {
            println!("$ {qemu} {}", s.args().join(" "));
        }
        let out = runner::run(qemu, &s);
        let text = String::from_utf8_lossy(&out.output);
        let sc = parse_scale(&text);
        let name = format!("benchscale_cpus{cpus}");
        let path = format!("obj/bench/{name}.out");
        if let Err(e) = std::fs::write(&path, &out.output) {
            println!("bench: cannot write {path}: {e}");
        }
        if !sc.done {
            println!("bench: {name} did not finish; output in {path}");
            ok = false;
        }
        runs.push(sc);
    }
    let mhz = tsc_mhz();
    println!();
    println!(
        "bench: wall-clock scaling, a host thread per vCPU, no icount (program benchscale: {} \
         envs per workload, min of 3 runs; {}); time per operation and ratio to CPUS=1. \
         Noisy: compare each ratio with the control's, not with 1/CPUS",
        4,
        mhz.map_or("guest TSC ticks".to_string(), |m| format!(
            "TSC at {m:.0} MHz"
        ))
    );
    for line in scale_table(&runs, mhz) {
        println!("{line}");
    }
    ok
}

fn find_all(p: &Parsed) -> bool {
    p.boot.is_some() && ORDER.iter().all(|o| find(&p.rows, o).is_some())
}

fn smp_complete(p: &Parsed) -> bool {
    SMP_ROWS.iter().all(|o| find(&p.rows, o).is_some())
}

#[cfg(test)]
mod unit {
    use super::*;

    const SAMPLE: &str = "\
[00000000] new env 00001000\r
bench: kernel entry to first user instruction 8542070 instructions\r
bench: null syscall (sys_getenvid) 536 instructions/op (C JOS 421, target 120): NOT met\r
bench: sys_yield, the only runnable env 10719 instructions/op (C JOS 13,729, target 300): NOT met\r
bench: fork() per present page (264 present pages) 2283 instructions/op (C JOS 2,221, target 550): NOT met\r
bench: sys_page_unmap 250 instructions/op (C JOS 608, target 300): met\r
bench: done\r
";

    #[test]
    fn parses_metric_and_boot_lines() {
        let p = parse(SAMPLE);
        assert!(p.done);
        assert_eq!(p.boot, Some(8_542_070));
        assert_eq!(p.rows.len(), 4);
        assert_eq!(
            p.rows[1],
            Row {
                name: "sys_yield, the only runnable env".into(),
                per_op: 10719,
                c_jos: "13,729".into(),
                target: "300".into(),
                met: false,
            }
        );
        assert_eq!(
            p.rows[2].name,
            "fork() per present page (264 present pages)"
        );
        assert_eq!(p.rows[2].per_op, 2283);
        assert!(p.rows[3].met);
        assert!(!parse("bench: null syscall").done);
    }

    #[test]
    fn number_formatting() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(8_542_070), "8,542,070");
    }

    #[test]
    fn main_table_in_reference_order_with_missing_rows() {
        let t = main_table(&parse(SAMPLE));
        // Header, the twelve ordered rows, the row the order does not know (the sample's
        // unlabelled fork row), the boot row.
        assert_eq!(t.len(), 15);
        assert!(t[0].starts_with("metric"));
        assert!(t[1].starts_with("null syscall (sys_getenvid)"));
        let cols: Vec<&str> = t[1].split_whitespace().collect();
        assert_eq!(cols[cols.len() - 5..], ["536", "421", "120", "NOT", "met"]);
        assert!(t[3].starts_with("sys_yield with") && t[3].contains("missing"));
        assert!(t[7].starts_with("sys_page_unmap") && t[7].ends_with("met"));
        assert!(t[9].starts_with("fork() per present page, C JOS") && t[9].contains("missing"));
        assert!(t[13].starts_with("fork() per present page (264"));
        assert!(t[14].starts_with(BOOT_NAME) && t[14].contains("8,542,070"));
    }

    #[test]
    fn scale_parse_and_table() {
        let run = |k: u64| {
            parse_scale(&format!(
                "bench-scale: user-only loop (control) {} ticks/op\r\n\
                 bench-scale: null syscall (sys_getenvid) {} ticks/op\r\n\
                 bench-scale: idle CPU picks up a runnable env 10 {} 30 ticks\r\n\
                 bench-scale: done\r\n",
                20 * k,
                4000 * k,
                20 * k
            ))
        };
        let one = run(1);
        assert!(one.done);
        assert_eq!(
            one.rows[1],
            ("null syscall (sys_getenvid)".to_string(), 4000)
        );
        assert_eq!(one.pickup, Some([10, 20, 30]));
        let t = scale_table(&[one, run(2), run(3)], None);
        // Header, two rows, the pickup's median, fastest and slowest.
        assert_eq!(t.len(), 6);
        assert!(
            t[2].starts_with("null syscall") && t[2].contains(" 2.00 ") && t[2].ends_with("3.00")
        );
        assert!(
            t[3].contains("(median)") && t[3].contains("20 ticks") && t[3].contains("60 ticks")
        );
        assert!(t[4].contains("(fastest)") && t[4].contains("10 ticks"));
        assert_eq!(duration(2_445, Some(2445.0)), "1.00 us");
        assert_eq!(duration(500, Some(1000.0)), "500.0 ns");
    }

    #[test]
    fn smp_ratios() {
        let at = |n: u64| {
            parse(&format!(
                "bench: null syscall (sys_getenvid) {n} instructions/op (C JOS 421, target 120): NOT met\n"
            ))
        };
        let t = smp_table(&[at(500), at(510), at(600)]);
        assert_eq!(t.len(), 1 + SMP_ROWS.len());
        assert!(
            t[1].contains(" 1.02 ") && t[1].contains(" 1.20 "),
            "{}",
            t[1]
        );
        assert!(t[1].ends_with("NO"));
        let t = smp_table(&[at(500), at(500), at(520)]);
        assert!(t[1].ends_with("yes"), "{}", t[1]);
        // Rows a run did not print.
        assert!(t[2].contains("missing") && t[2].ends_with("NO"));
    }
}
