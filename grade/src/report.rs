//! The report, in gradelib's format: `name: OK (1.2s) `, failure details indented four spaces,
//! per-part and total scores; plus the closing `N passed, M failed` line. `Report` builds it
//! case by case, keeping the totals, the recap of failures and the `--results` lines.
#![forbid(unsafe_code)]

use crate::matcher::{self, Verdict};
use crate::runner::Outcome;
use crate::tests::Case;

/// ANSI colouring, on only when stdout is a terminal (as gradelib's `--color auto`).
#[derive(Clone, Copy)]
pub struct Paint(pub bool);

impl Paint {
    pub fn red(self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn green(self, s: &str) -> String {
        self.paint("32", s)
    }
    fn paint(self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// `name: OK (1.2s) `: the time only past 0.1 s, and a trailing space after each item.
pub fn status_line(name: &str, ok: bool, secs: f64, paint: Paint) -> String {
    let status = if ok {
        paint.green("OK")
    } else {
        paint.red("FAIL")
    };
    let time = if secs > 0.1 {
        format!("({secs:.1}s) ")
    } else {
        String::new()
    };
    format!("{name}: {status} {time}")
}

/// The failure text gradelib's `assert_lines_match` builds, each line indented four spaces:
/// matching lines with two lines of context (`GOOD`/`BAD `), the last five lines when something
/// is missing, then the reasons; then our notes about the timeout and the saved output.
pub fn failure_details(
    lines: &[&str],
    v: &Verdict,
    timed_out: bool,
    saved: &str,
    paint: Paint,
) -> Vec<String> {
    let mut show: Vec<usize> = Vec::new();
    for &n in v.good.iter().chain(&v.bad) {
        show.extend(n.saturating_sub(2)..=n + 2);
    }
    if !v.missing.is_empty() || !v.short.is_empty() {
        show.extend(lines.len().saturating_sub(5)..lines.len());
    }
    show.retain(|&n| n < lines.len());
    show.sort_unstable();
    show.dedup();

    let mut msg = Vec::new();
    let mut next = 0; // the line after the last one shown
    for &n in &show {
        if n != next {
            msg.push("...".to_string());
        }
        next = n + 1;
        let tag = if v.bad.contains(&n) {
            paint.red("BAD ")
        } else if v.good.contains(&n) {
            paint.green("GOOD")
        } else {
            "    ".to_string()
        };
        msg.push(format!("{tag} {}", lines[n]));
    }
    if next != lines.len() {
        msg.push("...".to_string());
    }
    if !v.bad.is_empty() {
        msg.push("unexpected lines in output".to_string());
    }
    for p in &v.missing {
        msg.push(format!("{} '{p}'", paint.red("MISSING")));
    }
    for (p, want, found) in &v.short {
        let missing = paint.red("MISSING");
        msg.push(format!(
            "{missing} {want} lines matching '{p}' (found {found})"
        ));
    }
    for (p, detail) in &v.unequal {
        msg.push(format!("{} '{p}': {detail}", paint.red("MISMATCH")));
    }
    if timed_out {
        msg.push("Timeout!".to_string());
    }
    msg.push(format!("QEMU output saved to {saved}"));
    msg.into_iter().map(|l| format!("    {l}")).collect()
}

/// The first line of a run that names where it stopped: a stub (`not yet implemented: LAB n:
/// ...`), a user or kernel panic. The excerpt of a failure ends where the run ended (often the
/// monitor's trap frame dump), so this line is added when the excerpt does not show it.
pub fn first_stop<'a>(lines: &[&'a str]) -> Option<&'a str> {
    lines
        .iter()
        .find(|l| {
            l.contains("not yet implemented")
                || l.contains("user panic")
                || l.contains("kernel panic")
        })
        .copied()
}

/// One line naming a failed test and why, for the recap printed just before the closing lines:
/// a CI log that keeps only its tail still says what failed.
pub fn recap_line(name: &str, v: &Verdict, timed_out: bool) -> String {
    let mut why: Vec<String> = Vec::new();
    if timed_out {
        why.push("timeout".to_string());
    }
    why.extend(v.missing.iter().map(|p| format!("missing '{p}'")));
    why.extend(
        v.short
            .iter()
            .map(|(p, want, found)| format!("{found} of {want} lines matching '{p}'")),
    );
    why.extend(
        v.unequal
            .iter()
            .map(|(p, d)| format!("mismatch '{p}': {d}")),
    );
    if !v.bad.is_empty() {
        why.push(format!("{} unexpected line(s)", v.bad.len()));
    }
    format!("  {name}: {}", why.join("; "))
}

pub fn part_score(part: &str, got: u32, possible: u32) -> String {
    format!("{part} score: {got}/{possible}")
}

pub fn summary(got: u32, possible: u32, passed: usize, failed: usize) -> [String; 2] {
    [
        format!("Score: {got}/{possible}"),
        format!("{passed} passed, {failed} failed"),
    ]
}

/// Running totals, printed at part boundaries and at the end.
#[derive(Default)]
struct Tally {
    got: u32,
    possible: u32,
    passed: usize,
    failed: usize,
}

/// The report as it is built, case by case in table order: the lines each case prints, the
/// recap of failures and the totals printed at the end, and the `--results` file's lines.
pub struct Report {
    paint: Paint,
    total: Tally,
    part: Tally,
    recap: Vec<String>,
    results: String,
}

impl Report {
    pub fn new(paint: Paint) -> Report {
        Report {
            paint,
            total: Tally::default(),
            part: Tally::default(),
            recap: Vec::new(),
            results: String::new(),
        }
    }

    /// Judges one case against its run's output and returns the lines to print: the QEMU
    /// command (with -v), the status line, a failure's details, and after a part's last case
    /// the part's score and a blank line. `saved` says where the output is (`save_output`).
    pub fn case(
        &mut self,
        case: &Case,
        out: &Outcome,
        command: Option<&str>,
        saved: &str,
        end_of_part: bool,
    ) -> Vec<String> {
        let text = String::from_utf8_lossy(&out.output);
        let lines = matcher::splitlines(&text);
        let t = case.test;
        let mut verdict = matcher::check(&lines, t.expect, t.no, t.count);
        matcher::check_same(&lines, t.same, &mut verdict);
        let mut print: Vec<String> = command.map(|cmd| format!("$ {cmd}")).into_iter().collect();
        let ok = verdict.passed();
        print.push(status_line(&case.name, ok, out.secs, self.paint));
        if !ok {
            let mut details = failure_details(&lines, &verdict, out.timed_out, saved, self.paint);
            // Before the last line (where the output is saved): where the run stopped, and
            // the test's hint.
            let at = details.len().saturating_sub(1);
            let mut extra = Vec::new();
            if let Some(stop) = first_stop(&lines)
                && !details.iter().any(|d| d.ends_with(stop))
            {
                extra.push(format!("    {} {stop}", self.paint.red("STOPPED")));
            }
            if !t.hint.is_empty() {
                extra.push(format!("    HINT {}", t.hint));
            }
            details.splice(at..at, extra);
            print.extend(details);
            self.recap
                .push(recap_line(&case.name, &verdict, out.timed_out));
        }
        let status = if ok { "OK" } else { "FAIL" };
        self.results
            .push_str(&format!("{status}\t{}\t{}\n", case.part, case.name));
        for t in [&mut self.total, &mut self.part] {
            t.possible += case.points;
            if ok {
                t.got += case.points;
                t.passed += 1;
            } else {
                t.failed += 1;
            }
        }
        if end_of_part {
            print.push(part_score(case.part, self.part.got, self.part.possible));
            print.push(String::new());
            self.part = Tally::default();
        }
        print
    }

    /// The `--results` file: one `OK|FAIL<TAB>part<TAB>name` line per case (for the course kit).
    pub fn results(&self) -> &str {
        &self.results
    }

    /// The lines after the last case: the recap of failures, if any, then the totals.
    pub fn closing(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.recap.is_empty() {
            lines.push("Failed:".to_string());
            lines.extend(self.recap.iter().cloned());
            lines.push(String::new());
        }
        let t = &self.total;
        lines.extend(summary(t.got, t.possible, t.passed, t.failed));
        lines
    }

    pub fn all_passed(&self) -> bool {
        self.total.failed == 0
    }
}

/// Saves a run's output for the student to read (obj/grade/<name>.out) and returns where it
/// went, for the failure details; a failed save is reported there instead of ending the grade.
pub fn save_output(name: &str, output: &[u8]) -> String {
    let path = out_path(name);
    match std::fs::write(&path, output) {
        Ok(()) => path,
        Err(e) => format!("nowhere ({path}: {e})"),
    }
}

/// Output file for a test; characters unfriendly to shells become `_`.
fn out_path(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("obj/grade/{safe}.out")
}

#[cfg(test)]
mod unit {
    use super::*;
    use crate::matcher::check;
    use crate::tests::{DEFAULT, Tcg, Test};

    const PLAIN: Paint = Paint(false);

    #[test]
    fn status_lines() {
        assert_eq!(
            status_line("faultread", true, 0.61, PLAIN),
            "faultread: OK (0.6s) "
        );
        assert_eq!(status_line("hello", false, 0.05, PLAIN), "hello: FAIL ");
        assert_eq!(
            status_line("x", true, 2.0, Paint(true)),
            "x: \x1b[32mOK\x1b[0m (2.0s) "
        );
    }

    #[test]
    fn fail_with_missing_line() {
        let lines = [
            "a",
            "b",
            "[00001000] new env 00001001",
            "c",
            "d",
            "e",
            "f",
            "g",
            "h",
        ];
        let v = check(&lines, &[".$E1. new env $E2", "gone"], &[], &[]);
        let got = failure_details(&lines, &v, true, "obj/grade/x.out", PLAIN);
        let want = [
            "         a",
            "         b",
            "    GOOD [00001000] new env 00001001",
            "         c",
            "         d",
            "         e",
            "         f",
            "         g",
            "         h",
            "    MISSING 'gone'",
            "    Timeout!",
            "    QEMU output saved to obj/grade/x.out",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn fail_with_bad_line_and_gaps() {
        let lines: Vec<String> = (0..20).map(|i| format!("line {i}")).collect();
        let mut lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        lines[10] = "Registers in UTrapframe MISMATCH";
        let v = check(
            &lines,
            &["line 1"],
            &["Registers in UTrapframe MISMATCH"],
            &[],
        );
        let got = failure_details(&lines, &v, false, "o", PLAIN);
        let want = [
            "         line 0",
            "    GOOD line 1",
            "         line 2",
            "         line 3",
            "    ...",
            "         line 8",
            "         line 9",
            "    BAD  Registers in UTrapframe MISMATCH",
            "         line 11",
            "         line 12",
            "    ...",
            "    unexpected lines in output",
            "    QEMU output saved to o",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn short_count() {
        let lines = ["ebp 1"];
        let v = check(&lines, &[], &[], &[("ebp", 8)]);
        let got = failure_details(&lines, &v, false, "o", PLAIN);
        assert_eq!(got[1], "    MISSING 8 lines matching 'ebp' (found 1)");
    }

    #[test]
    fn recap_names_every_reason() {
        let lines = ["x ran on two CPUs", "ebp 1"];
        let v = check(&lines, &["hello"], &["x ran"], &[("ebp", 2)]);
        assert_eq!(
            recap_line("t", &v, true),
            "  t: timeout; missing 'hello'; 1 of 2 lines matching 'ebp'; 1 unexpected line(s)"
        );
    }

    #[test]
    fn closing_lines() {
        assert_eq!(
            part_score("Lab 4 Part C", 20, 25),
            "Lab 4 Part C score: 20/25"
        );
        assert_eq!(
            summary(75, 80, 15, 1),
            ["Score: 75/80", "15 passed, 1 failed"]
        );
    }

    #[test]
    fn output_paths() {
        assert_eq!(out_path("primes"), "obj/grade/primes.out");
        assert_eq!(
            out_path("Page management 2"),
            "obj/grade/Page_management_2.out"
        );
    }

    static HELLO: Test = Test {
        name: "hello",
        part: "Lab 9",
        points: 5,
        expect: &["hello, world"],
        ..DEFAULT
    };

    fn case(name: &str, part: &'static str) -> Case {
        Case {
            name: name.to_string(),
            part,
            points: HELLO.points,
            cpus: 1,
            tcg: Tcg::Single,
            test: &HELLO,
        }
    }

    fn outcome(text: &str) -> Outcome {
        Outcome {
            output: text.as_bytes().to_vec(),
            secs: 0.5,
            timed_out: false,
        }
    }

    #[test]
    fn report_of_a_run() {
        let mut r = Report::new(PLAIN);
        let good = outcome("booting\nhello, world\n");
        // A pass prints its status line, with the QEMU command first under -v.
        assert_eq!(
            r.case(&case("a", "Lab 9"), &good, Some("qemu -smp 1"), "o", false),
            ["$ qemu -smp 1", "a: OK (0.5s) "]
        );
        // A failure prints its details; the part's last case its score and a blank line.
        let lines = r.case(&case("b", "Lab 9"), &outcome("booting\n"), None, "o", true);
        assert_eq!(lines[0], "b: FAIL (0.5s) ");
        assert!(lines.contains(&"    MISSING 'hello, world'".to_string()));
        assert_eq!(lines[lines.len() - 2..], ["Lab 9 score: 5/10", ""]);
        // The next part starts from zero; the totals do not.
        assert_eq!(
            r.case(&case("c", "Project"), &good, None, "o", true),
            ["c: OK (0.5s) ", "Project score: 5/5", ""]
        );
        assert_eq!(
            r.results(),
            "OK\tLab 9\ta\nFAIL\tLab 9\tb\nOK\tProject\tc\n"
        );
        assert!(!r.all_passed());
        assert_eq!(
            r.closing(),
            [
                "Failed:",
                "  b: missing 'hello, world'",
                "",
                "Score: 10/15",
                "2 passed, 1 failed"
            ]
        );
    }

    #[test]
    fn a_failure_names_the_first_stub() {
        let mut r = Report::new(PLAIN);
        // The run stops at a stub, then prints a trap frame and the monitor: the excerpt shows
        // the last lines, so the stub's line is added.
        let mut text = String::from(
            "booting\nkernel panic on CPU 0 at kern/pmap.rs:1: \
                                     not yet implemented: LAB 2: page_alloc\n",
        );
        for i in 0..20 {
            text.push_str(&format!("  reg {i}\n"));
        }
        text.push_str("K> \n");
        let lines = r.case(&case("b", "Lab 9"), &outcome(&text), None, "o", false);
        assert!(
            lines.contains(
                &"    STOPPED kernel panic on CPU 0 at kern/pmap.rs:1: not yet implemented: \
                  LAB 2: page_alloc"
                    .to_string()
            ),
            "{lines:?}"
        );
        assert_eq!(
            lines.last().map(String::as_str),
            Some("    QEMU output saved to o")
        );
        assert_eq!(
            first_stop(&[
                "a",
                "[00001000] user panic in x at lib.rs:1: LAB 4: fork",
                "b"
            ]),
            Some("[00001000] user panic in x at lib.rs:1: LAB 4: fork")
        );
        assert_eq!(first_stop(&["a", "b"]), None);
    }

    #[test]
    fn report_without_failures() {
        let mut r = Report::new(PLAIN);
        r.case(
            &case("a", "Lab 9"),
            &outcome("hello, world\n"),
            None,
            "o",
            true,
        );
        assert!(r.all_passed());
        assert_eq!(r.closing(), ["Score: 5/5", "1 passed, 0 failed"]);
    }
}
