//! The report, in gradelib's format: `name: OK (1.2s) `, failure details indented four spaces,
//! per-part and total scores; plus the closing `N passed, M failed` line.
#![forbid(unsafe_code)]

use crate::matcher::Verdict;

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

#[cfg(test)]
mod unit {
    use super::*;
    use crate::matcher::check;

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
}
