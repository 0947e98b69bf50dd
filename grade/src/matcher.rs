//! Output matching with gradelib's `assert_lines_match` semantics: Python `str.splitlines()`,
//! `re.match` (anchored at line start only), unordered expected patterns, `no` patterns.
#![forbid(unsafe_code)]

use regex::Regex;

/// Expands gradelib's `$E<n>` to the n-th env id, `%08x` of `0x1000 + n - 1` (`$E1` = 00001000).
pub fn expand_envs(pat: &str) -> String {
    let mut out = String::with_capacity(pat.len());
    let mut rest = pat;
    while let Some(at) = rest.find("$E") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match after[..digits].parse::<u32>() {
            Ok(n) if n > 0 => {
                out.push_str(&format!("{:08x}", 0x1000 + n - 1));
                rest = &after[digits..];
            }
            // Not an env reference: keep the text as written.
            _ => {
                out.push_str("$E");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Compiles a table pattern the way Python's `re.match` applies it: anchored at the start only.
/// The group keeps a top-level `a|b` anchored on both sides.
pub fn compile(pat: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{})", expand_envs(pat)))
}

/// Python's `str.splitlines()`: splits on \n, \r, \r\n, \v, \f, \x1c-\x1e, \x85, U+2028, U+2029;
/// a trailing line break does not produce an empty last line.
pub fn splitlines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let end = match c {
            '\r' => match chars.peek() {
                Some(&(j, '\n')) => {
                    chars.next();
                    j + 1
                }
                _ => i + 1,
            },
            '\n' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}'
            | '\u{2029}' => i + c.len_utf8(),
            _ => continue,
        };
        lines.push(&text[start..i]);
        start = end;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// The outcome of matching one output against one test's patterns.
#[derive(Debug, Default, PartialEq)]
pub struct Verdict {
    /// Expected patterns (expanded) that matched no line.
    pub missing: Vec<String>,
    /// (pattern, wanted, found) for count checks that fell short.
    pub short: Vec<(String, usize, usize)>,
    /// (pattern, detail) for `same` checks that failed: no line matched, or the two captured
    /// values differ.
    pub unequal: Vec<(String, String)>,
    /// Indices of lines that satisfied an expected pattern (for the failure context).
    pub good: Vec<usize>,
    /// Indices of lines that matched a `no` pattern.
    pub bad: Vec<usize>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.missing.is_empty()
            && self.short.is_empty()
            && self.bad.is_empty()
            && self.unequal.is_empty()
    }
}

/// Checks `lines` as gradelib does. A pattern that does not compile counts as missing (the
/// table's unit test keeps that from happening).
pub fn check(lines: &[&str], expect: &[&str], no: &[&str], count: &[(&str, usize)]) -> Verdict {
    let mut v = Verdict::default();
    let mut remaining: Vec<(String, Option<Regex>)> = expect
        .iter()
        .map(|p| (expand_envs(p), compile(p).ok()))
        .collect();
    let no: Vec<Regex> = no.iter().filter_map(|p| compile(p).ok()).collect();
    for (i, line) in lines.iter().enumerate() {
        let before = remaining.len();
        // One line may satisfy several patterns at once, as in gradelib.
        remaining.retain(|(_, re)| !re.as_ref().is_some_and(|re| re.is_match(line)));
        if remaining.len() < before {
            v.good.push(i);
        }
        if no.iter().any(|re| re.is_match(line)) {
            v.bad.push(i);
        }
    }
    v.missing = remaining.into_iter().map(|(p, _)| p).collect();
    for &(p, want) in count {
        let found = compile(p).map_or(0, |re| lines.iter().filter(|l| re.is_match(l)).count());
        if found < want {
            v.short.push((expand_envs(p), want, found));
        }
    }
    v
}

/// `same` checks: each pattern has two capture groups; the last line it matches must have
/// them equal (e.g. a free-page count now and before the first env: no leak).
pub fn check_same(lines: &[&str], same: &[&str], v: &mut Verdict) {
    for &p in same {
        let Ok(re) = compile(p) else {
            v.unequal
                .push((p.to_string(), "pattern does not compile".to_string()));
            continue;
        };
        match lines.iter().rev().find_map(|l| re.captures(l)) {
            None => v
                .unequal
                .push((p.to_string(), "no line matched".to_string())),
            Some(c) => {
                let (a, b) = (c.get(1).map(|m| m.as_str()), c.get(2).map(|m| m.as_str()));
                if a.is_none() || a != b {
                    v.unequal.push((
                        p.to_string(),
                        format!("{:?} != {:?}", a.unwrap_or(""), b.unwrap_or("")),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn same_groups() {
        let p = r"free pages: (\d+) \(before the first env: (\d+)\)";
        let mut v = Verdict::default();
        check_same(&["free pages: 10 (before the first env: 10)"], &[p], &mut v);
        assert!(v.passed());
        let mut v = Verdict::default();
        check_same(&["free pages: 9 (before the first env: 10)"], &[p], &mut v);
        assert_eq!(v.unequal.len(), 1);
        assert!(!v.passed());
        let mut v = Verdict::default();
        check_same(&["nothing"], &[p], &mut v);
        assert_eq!(v.unequal[0].1, "no line matched");
    }

    #[test]
    fn splitlines_like_python() {
        assert_eq!(splitlines(""), Vec::<&str>::new());
        assert_eq!(splitlines("a"), ["a"]);
        assert_eq!(splitlines("a\n"), ["a"]);
        assert_eq!(splitlines("a\n\nb"), ["a", "", "b"]);
        assert_eq!(splitlines("a\n\n"), ["a", ""]);
        assert_eq!(splitlines("a\r\nb\rc\n"), ["a", "b", "c"]);
        assert_eq!(splitlines("a\r\rb"), ["a", "", "b"]);
        assert_eq!(
            splitlines("a\x0bb\x0cc\x1cd\u{85}e\u{2028}f"),
            ["a", "b", "c", "d", "e", "f"]
        );
        assert_eq!(splitlines("K> "), ["K> "]);
    }

    #[test]
    fn env_expansion() {
        assert_eq!(
            expand_envs(".$E1. new env $E2"),
            ".00001000. new env 00001001"
        );
        assert_eq!(expand_envs("$E289"), "00001120");
        assert_eq!(expand_envs("a$E b$"), "a$E b$");
    }

    #[test]
    fn anchored_at_line_start_only() {
        let lines = ["xx hello, world", "[00001000] free env 00001000 trailing"];
        let v = check(&lines, &["hello, world"], &[], &[]);
        assert_eq!(v.missing, ["hello, world"]);
        // Only the start is anchored: trailing text is fine, `.` matches the brackets.
        assert!(check(&lines, &[".00001000. free env 0000100"], &[], &[]).passed());
        // A top-level alternation must not escape the anchor.
        assert!(!check(&lines, &["nope|hello"], &[], &[]).passed());
        assert!(check(&lines, &["nope|xx"], &[], &[]).passed());
    }

    #[test]
    fn unordered_and_shared_lines() {
        let lines = ["b", "a"];
        let v = check(&lines, &["a", "b", "."], &[], &[]);
        assert!(v.passed());
        assert_eq!(v.good, [0, 1]);
    }

    #[test]
    fn no_patterns_fail() {
        let lines = ["ok", "I read 00000000 from location 0!"];
        let v = check(&lines, &["ok"], &["I read ........ from location 0."], &[]);
        assert!(!v.passed());
        assert_eq!(v.bad, [1]);
        assert!(v.missing.is_empty());
        // A `no` pattern that matches only mid-line does not count.
        assert!(check(&["x ran on two CPUs"], &[], &["ran on two"], &[]).passed());
        assert!(!check(&["x ran on two CPUs"], &[], &[".*ran on two"], &[]).passed());
    }

    #[test]
    fn counts() {
        let lines = ["  ebp f0 1", "  ebp f0 2", "other"];
        assert!(check(&lines, &[], &[], &[(" *ebp", 2)]).passed());
        let v = check(&lines, &[], &[], &[(" *ebp", 3)]);
        assert_eq!(v.short, [(" *ebp".to_string(), 3, 2)]);
    }
}
