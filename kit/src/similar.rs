//! The similarity check: does code a handout gives away come close to a solution it stubs?
//!
//! The leak check (`crate::leaks`) catches a solution line copied verbatim. Given code can
//! still solve an exercise with other names or another layout: `sfork` is `fork` with a
//! different loop body, a helper holds the exercise's key call. So every function of the
//! handout is compared with every stubbed region's solution, as token sequences:
//!
//! - tokens: Rust's identifiers, literals and punctuation, comments dropped; a local name (a
//!   lower-case identifier that is not called, not a path segment, not a keyword) becomes
//!   `_`, so renaming variables does not hide a copy;
//! - `containment`: the share of the solution's 6-token shingles that the function holds
//!   (how much of the solution is there, whatever else the function does);
//! - `run`: the longest run of tokens the two have in common (one key step copied whole).
//!
//! A pair is a leak when containment >= [`CONTAINMENT`] or run >= [`RUN`] (the thresholds and
//! the measurements behind them are in the constants' comments). Solutions shorter than
//! [`MIN_TOKENS`] are left to the exact-line check: a 1-line body (`sys_exofork`) is too short
//! to tell a copy from a call any code makes.
#![forbid(unsafe_code)]

use std::collections::HashSet;

/// Shingle length in tokens.
const K: usize = 6;
/// A function holding this share of a solution's shingles gives the solution away. Measured
/// on the four handouts before the challenge code was marked (`kit similar --lab N --all`):
/// the known leaks are sfork_raw ~ fork 0.73, sys_page_copy ~ sys_page_alloc 0.73,
/// trap_from_kernel ~ timer-irq 0.65, set_exception_handler ~ set_pgfault_handler 0.55,
/// sys_env_set_exception_upcall ~ sys_env_set_pgfault_upcall 0.48; the highest innocent
/// pairs are env_destroy ~ set_status 0.39 and env_alloc ~ exofork 0.34 (the lifecycle
/// calls every env function makes), and user programs below 0.30. 0.45 lies between.
pub const CONTAINMENT: f64 = 0.45;
/// One run of this many common tokens is a copied step. Measured the same way: sfork_raw ~
/// fork 64, sys_page_copy ~ sys_page_map 44, dumbfork ~ fork 34 (JOS ships dumbfork), the
/// kdebug function search ~ the line search 27 (JOS gives the function search); innocent
/// runs reach 23 (mkkdebug's describe ~ mon_backtrace, both formatting a frame), so 24. The
/// COW step in sfork's sharepage is a run of 21 against fork's pgfault: a run that short
/// cannot be told from innocent ones by length (sharepage is challenge code, marked and gone
/// from the handouts; see the README). Since mon_backtrace reads each frame through
/// read_word's `Option` (a `let Some(..) = .. else` and a formatted print), innocent runs
/// against it reach 29 (mkkdebug's ELF parse 29, dyingcalls 28, the fuzzer's checks 27, the
/// bench table 25: the same error-formatting idiom), so 30; the copies above stay above it
/// (and above the containment threshold, which catches them first).
pub const RUN: usize = 30;
/// Solutions shorter than this (in tokens) are not compared: a 16-token body such as
/// mp_main's `let k = lock_kernel(); sched_yield(k);` is what i386_init does too, and a
/// copy that short is the exact-line check's.
pub const MIN_TOKENS: usize = 20;

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "false", "fn", "for", "if", "impl", "in",
    "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "Self", "static",
    "struct", "true", "unsafe", "use", "where", "while", "crate", "super", "dyn",
];

/// The tokens of Rust source `text`, comments dropped, local names normalized.
pub fn tokens(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut raw: Vec<String> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if text[i..].starts_with("//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if text[i..].starts_with("/*") {
            i = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
        } else if c == b'"' {
            let s = i;
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
            raw.push(text[s..i].to_string());
        } else if c.is_ascii_alphanumeric() || c == b'_' {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            raw.push(text[s..i].to_string());
        } else if c == b'\'' && i + 2 < b.len() && b[i + 2] != b'\'' && b[i + 1] != b'\\' {
            // A lifetime or label: one token.
            let s = i;
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            raw.push(text[s..i].to_string());
        } else {
            let two = text.get(i..i + 2).unwrap_or("");
            if [
                "::", "->", "=>", "==", "!=", "<=", ">=", "&&", "||", "+=", "-=", "|=", "&=", "..",
            ]
            .contains(&two)
            {
                raw.push(two.to_string());
                i += 2;
            } else {
                let ch = text[i..].chars().next().unwrap_or(' ');
                raw.push(ch.to_string());
                i += ch.len_utf8();
            }
        }
    }
    // Normalize local names: lower-case identifiers that are neither called (`f(`, `m!`),
    // nor path segments (`a::b`), nor fields or methods after a dot, nor keywords.
    let n = raw.len();
    (0..n)
        .map(|j| {
            let t = &raw[j];
            let first = t.as_bytes()[0];
            let ident = first.is_ascii_lowercase() || first == b'_';
            if !ident || KEYWORDS.contains(&t.as_str()) {
                return t.clone();
            }
            let next = raw.get(j + 1).map(String::as_str);
            let prev = if j > 0 {
                Some(raw[j - 1].as_str())
            } else {
                None
            };
            let named =
                matches!(next, Some("(" | "!" | "::")) || matches!(prev, Some("::" | "." | "fn"));
            if named { t.clone() } else { "_".to_string() }
        })
        .collect()
}

/// The functions of Rust source `text`: (name, 1-based line, tokens of the whole item).
pub fn functions(text: &str) -> Vec<(String, usize, Vec<String>)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut n = 0;
    while n < lines.len() {
        let t = lines[n].trim_start();
        let is_fn = t.starts_with("fn ")
            || t.starts_with("pub fn ")
            || t.starts_with("pub(crate) fn ")
            || t.starts_with("unsafe fn ")
            || t.starts_with("pub unsafe fn ")
            || t.starts_with("const fn ")
            || t.starts_with("pub const fn ")
            || t.starts_with("extern \"C\" fn ")
            || t.starts_with("pub extern \"C\" fn ");
        if !is_fn {
            n += 1;
            continue;
        }
        let name = t[t.find("fn ").unwrap_or(0) + 3..]
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("")
            .to_string();
        // The body: from here to the line that closes the first `{` (line-based: rustfmt
        // puts an item's closing brace alone at the item's indentation).
        let indent = lines[n].len() - t.len();
        let mut end = n;
        let mut opened = false;
        while end < lines.len() {
            let l = lines[end];
            if l.contains('{') {
                opened = true;
            }
            if l.trim_end().ends_with(';') && !opened && end == n {
                break; // a declaration without a body
            }
            if opened
                && end > n
                && l.len() - l.trim_start().len() == indent
                && l.trim_start().starts_with('}')
            {
                break;
            }
            if opened && end == n && l.trim_end().ends_with('}') {
                break; // a one-line fn
            }
            end += 1;
        }
        let end = end.min(lines.len().saturating_sub(1));
        out.push((name, n + 1, tokens(&lines[n..=end].join("\n"))));
        n += 1;
    }
    out
}

fn shingles(t: &[String]) -> HashSet<&[String]> {
    t.windows(K).collect()
}

/// (containment of `solution` in `given`, longest common run of tokens).
pub fn score(solution: &[String], given: &[String]) -> (f64, usize) {
    let s = shingles(solution);
    let g = shingles(given);
    let contained = if s.is_empty() {
        0.0
    } else {
        s.iter().filter(|x| g.contains(*x)).count() as f64 / s.len() as f64
    };
    // Longest common substring of tokens (dynamic programming over one row).
    let mut best = 0;
    let mut prev = vec![0usize; given.len() + 1];
    for a in solution {
        let mut row = vec![0usize; given.len() + 1];
        for (j, b) in given.iter().enumerate() {
            if a == b {
                row[j + 1] = prev[j] + 1;
                best = best.max(row[j + 1]);
            }
        }
        prev = row;
    }
    (contained, best)
}

/// One comparison over the thresholds, or (with `all`) any comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Similar {
    pub file: String,
    pub function: String,
    pub line: usize,
    pub region: String,
    pub containment: f64,
    pub run: usize,
}

impl Similar {
    pub fn leak(&self) -> bool {
        self.containment >= CONTAINMENT || self.run >= RUN
    }
}

/// Compare every function of the handout's Rust files (`files`: name, handout text) with
/// every solution (`solutions`: region name, reference body). Returns the leaks, or with
/// `all` every pair, highest first.
pub fn check(
    files: &[(String, String)],
    solutions: &[(String, String)],
    all: bool,
) -> Vec<Similar> {
    let sols: Vec<(&String, Vec<String>)> = solutions
        .iter()
        .map(|(n, body)| (n, tokens(body)))
        .filter(|(_, t)| t.len() >= MIN_TOKENS)
        .collect();
    let mut out = Vec::new();
    for (file, text) in files.iter().filter(|(f, _)| f.ends_with(".rs")) {
        for (function, line, toks) in functions(text) {
            for (region, sol) in &sols {
                let (containment, run) = score(sol, &toks);
                let s = Similar {
                    file: file.clone(),
                    function: function.clone(),
                    line,
                    region: (*region).clone(),
                    containment,
                    run,
                };
                if all || s.leak() {
                    out.push(s);
                }
            }
        }
    }
    out.sort_by(|a, b| {
        (b.containment, b.run)
            .partial_cmp(&(a.containment, a.run))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renamed_locals_still_match() {
        let a =
            tokens("let page = round_down(addr, PGSIZE); sys_page_copy(0, page, page, Pte::P);");
        let b = tokens("let va = round_down(x, PGSIZE); sys_page_copy(0, va, va, Pte::P); // c");
        assert_eq!(a, b);
        assert!(tokens("x.len()").contains(&"len".to_string()));
    }

    #[test]
    fn functions_and_scores() {
        let src = "fn a(x: u32) -> u32 {\n    let y = x + 1;\n    y * 2\n}\n\npub fn b() {}\n";
        let f = functions(src);
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].0.as_str(), f[0].1), ("a", 1));
        assert_eq!(f[1].0, "b");
        let sol = tokens("let y = x + 1; y * 2");
        let (c, run) = score(&sol, &f[0].2);
        assert_eq!(c, 1.0);
        assert_eq!(run, sol.len());
        let (c, run) = score(&sol, &f[1].2);
        assert_eq!((c, run), (0.0, 0));
    }

    #[test]
    fn a_copy_with_other_names_is_a_leak_and_other_code_is_not() {
        let sol = "let envid = match sys_exofork() { Ok(0) => { set_thisenv(); return 0; } \
                   Ok(id) => id, Err(e) => return -e.code(), }; walk(envid); start(envid)";
        let copy = "fn sfork_raw() -> i32 {\n    let child = match sys_exofork() { Ok(0) => { \
                    set_thisenv(); return 0; } Ok(c) => c, Err(err) => return -err.code(), };\n    \
                    other(child);\n}\n";
        let other = "fn unrelated(n: u32) -> u32 {\n    let mut s = 0;\n    for i in 0..n { s += i; }\n    s\n}\n";
        let files = vec![
            ("a.rs".to_string(), copy.to_string()),
            ("b.rs".to_string(), other.to_string()),
        ];
        let leaks = check(&files, &[("fork".to_string(), sol.to_string())], false);
        assert_eq!(leaks.len(), 1);
        assert_eq!(leaks[0].function, "sfork_raw");
        assert!(leaks[0].leak());
    }
}
