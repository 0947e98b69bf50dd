//! `kit`: cut per-lab student handouts from the reference tree and prove them with the grader.
//!
//! ```text
//! kit list                                  the marked regions, by lab
//! kit handout --lab N [--solved] [--out D]  write the lab N handout (default obj/handout/labN)
//!                                           and D.tar.gz; --solved stubs only labs > N
//! kit verify --lab N [--solved] RESULTS     judge a handout's grade results (see `verify`)
//! kit check-handouts [--labs 1,2] [--solved N]...   generate, build, grade, verify
//! ```
//!
//! Run from the repository root (the Makefile's `handout` and `check-handouts` targets do).
#![forbid(unsafe_code)]

mod book;
mod repo;

use kit::{Cut, Stubbed};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// Where handouts go, and the stamp that marks a directory as one (so that regenerating only
/// ever deletes a directory this tool wrote).
const HANDOUT_DIR: &str = "obj/handout";
const STAMP: &str = ".kit-handout";
/// The labs there are.
const LABS: [u32; 4] = [1, 2, 3, 4];

/// Tests of a lab that exercise only code the handout gives (or earlier labs' code), so they
/// pass before the student writes anything: (lab, test, why). `verify` requires them to pass
/// in their lab's handout instead of failing. The README's "Course kit" section lists them.
const GIVEN: &[(u32, &str, &str)] = &[
    (
        1,
        "printf",
        "the %o conversion is core::fmt's {:o}: this port has no printfmt to finish",
    ),
    (
        1,
        "monitor",
        "the monitor's banner is given, as in JOS's lab 1",
    ),
    (
        1,
        "kerninfo",
        "the kerninfo command is given, as in JOS's lab 1",
    ),
    (
        4,
        "faultread",
        "a fault without a user handler: lab 3's page_fault_handler, already done",
    ),
    (
        4,
        "faultwrite",
        "a fault without a user handler: lab 3's page_fault_handler, already done",
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("list") => list(&args[1..]),
        Some("handout") => parse_lab(&args[1..]).and_then(|o| {
            let out = o
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("{HANDOUT_DIR}/lab{}", o.lab)));
            handout(&o.spec(), &out).map(|_| ())
        }),
        Some("similar") => parse_lab(&args[1..]).and_then(|o| similar(&o)),
        Some("fill") => fill(&args[1..]),
        Some("handout-repo") => repo::handout_repo(&args[1..]),
        Some("book") => book::check_cmd(&args[1..]),
        Some("verify") => parse_lab(&args[1..]).and_then(|o| {
            let file = o.rest.first().ok_or("verify needs a results file")?;
            let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
            verify(o.lab, o.solved, &text).map(|summary| println!("{summary}"))
        }),
        Some("check-handouts") => check_handouts(&args[1..]),
        _ => Err(
            "usage: kit list [--summary] | handout --lab N [--solved] [--fill r1,r2] \
                  [--out DIR] | similar --lab N [--all] | fill --regions r1,r2|--labs 1,2 DIR \
                  | handout-repo [--with-solutions] [--out DIR] | book [--check] | \
                  verify --lab N [--solved] RESULTS | check-handouts [--labs 1,2,..] \
                  [--solved N] [--exercises all|sample|none] [--no-repo] [--repo-grade]"
                .into(),
        ),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kit: {e}");
            ExitCode::FAILURE
        }
    }
}

struct LabOpts {
    lab: u32,
    solved: bool,
    fill: Vec<String>,
    out: Option<PathBuf>,
    rest: Vec<String>,
}

impl LabOpts {
    fn spec(&self) -> Spec {
        Spec {
            lab: self.lab,
            solved: self.solved,
            all_stubbed: false,
            fill: self.fill.clone(),
        }
    }
}

fn parse_lab(args: &[String]) -> Result<LabOpts, String> {
    let mut o = LabOpts {
        lab: 0,
        solved: false,
        fill: Vec::new(),
        out: None,
        rest: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--lab" => o.lab = lab_number(it.next())?,
            "--solved" => o.solved = true,
            "--fill" => {
                o.fill = it
                    .next()
                    .ok_or("--fill needs region names")?
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            "--out" => o.out = Some(it.next().ok_or("--out needs a directory")?.into()),
            _ => o.rest.push(a.clone()),
        }
    }
    if o.lab == 0 {
        return Err("--lab N (1..4) is required".into());
    }
    Ok(o)
}

/// `kit fill --regions a,b DIR` / `kit fill --labs 1,2 DIR`: what a student does, done from
/// the reference: every file of DIR that holds one of those regions gets it filled in (the
/// file as a tree with everything else stubbed would have it). Used to simulate a student in
/// `handout-repo`'s merge check, and by hand to try an exercise's tests.
fn fill(args: &[String]) -> Result<(), String> {
    let mut names: Vec<String> = Vec::new();
    let mut dir = None;
    let mut it = args.iter();
    let regions = all_regions()?;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--regions" => names.extend(
                it.next()
                    .ok_or("--regions needs names")?
                    .split(',')
                    .map(String::from),
            ),
            "--labs" => {
                for l in it.next().ok_or("--labs needs a list")?.split(',') {
                    let l = lab_number(Some(&l.to_string()))?;
                    names.extend(
                        regions
                            .iter()
                            .filter(|(_, r)| r.lab == l && !r.challenge)
                            .map(|(_, r)| r.name.clone()),
                    );
                }
            }
            d => dir = Some(PathBuf::from(d)),
        }
    }
    let dir = dir.ok_or("fill needs a directory")?;
    let n = fill_into(&names, &regions, &dir)?;
    println!(
        "kit: filled {} regions into {n} files of {}",
        names.len(),
        dir.display()
    );
    Ok(())
}

/// Fill regions `names` into the tree at `dir` (every other region stubbed, as in a tree
/// that stubs every lab): returns the number of files written.
fn fill_into(
    names: &[String],
    regions: &[(String, kit::Region)],
    dir: &Path,
) -> Result<usize, String> {
    for n in names {
        if !regions.iter().any(|(_, r)| r.name == *n) {
            return Err(format!("no region {n}"));
        }
    }
    let cut = Cut {
        from: 1,
        fill: names.to_vec(),
        ..Cut::default()
    };
    let mut files: Vec<&String> = regions
        .iter()
        .filter(|(_, r)| names.contains(&r.name))
        .map(|(f, _)| f)
        .collect();
    files.dedup();
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?;
        let s = kit::stub(&text, &cut).map_err(|e| format!("{f}:{}: {}", e.line, e.msg))?;
        write(&dir.join(f), s.text.as_bytes())?;
    }
    Ok(files.len())
}

fn lab_number(s: Option<&String>) -> Result<u32, String> {
    match s.and_then(|s| s.parse::<u32>().ok()) {
        Some(n) if LABS.contains(&n) => Ok(n),
        _ => Err(format!("a lab is one of {LABS:?}")),
    }
}

/// The files of the reference tree a handout starts from: what git tracks or would track
/// (new files count before they are committed), minus the kit itself.
fn tree_files() -> Result<Vec<String>, String> {
    if !Path::new("kit/Cargo.toml").exists() {
        return Err("run kit from the root of the reference tree".into());
    }
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .map_err(|e| format!("git: {e}"))?;
    if !out.status.success() {
        return Err("git ls-files failed".into());
    }
    let mut files: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|f| !f.is_empty() && !f.starts_with("kit/") && Path::new(f).is_file())
        .map(String::from)
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// The stubbed text of every text file (binary files are `None`: copied as they are).
fn cut_tree(files: &[String], cut: &Cut) -> Result<Vec<(String, Option<Stubbed>)>, String> {
    files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).map_err(|e| format!("{f}: {e}"))?;
            match String::from_utf8(bytes) {
                Ok(text) => kit::stub(&text, cut)
                    .map(|s| (f.clone(), Some(s)))
                    .map_err(|e| format!("{f}:{}: {}", e.line, e.msg)),
                Err(_) => Ok((f.clone(), None)),
            }
        })
        .collect()
}

/// Every region of the tree: (file, region), in file order.
fn all_regions() -> Result<Vec<(String, kit::Region)>, String> {
    let mut out = Vec::new();
    for f in tree_files()? {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let regions = kit::parse(&text).map_err(|e| format!("{f}:{}: {}", e.line, e.msg))?;
        out.extend(
            regions
                .into_iter()
                .filter(|r| r.lab != 0)
                .map(|r| (f.clone(), r)),
        );
    }
    Ok(out)
}

/// `kit list [--summary]`: the regions by lab (exercises), then the challenge regions; with
/// `--summary` only the counts, one line (what the README's count must say).
fn list(args: &[String]) -> Result<(), String> {
    let mut rows: Vec<(bool, u32, String, String, usize)> = all_regions()?
        .into_iter()
        .map(|(f, r)| {
            (
                r.challenge,
                r.lab,
                format!("{f}:{}", r.line()),
                r.name,
                r.end - r.body,
            )
        })
        .collect();
    rows.sort();
    if args.first().map(String::as_str) != Some("--summary") {
        for (challenge, lab, at, name, n) in &rows {
            let what = if *challenge {
                "CHALLENGE".to_string()
            } else {
                format!("LAB {lab}")
            };
            println!("{what:<9}  {name:<28} {at:<34} {n:>4} lines");
        }
    }
    println!("{}", summary(&rows));
    Ok(())
}

fn summary(rows: &[(bool, u32, String, String, usize)]) -> String {
    let per: Vec<String> = LABS
        .iter()
        .map(|&l| {
            let n = rows.iter().filter(|r| !r.0 && r.1 == l).count();
            format!("{n} in lab {l}")
        })
        .collect();
    let exercises = rows.iter().filter(|r| !r.0).count();
    let challenges = rows.iter().filter(|r| r.0).count();
    format!(
        "{exercises} regions: {}; {challenges} challenge regions",
        per.join(", ")
    )
}

/// What a handout is: the lab, and which regions it stubs.
#[derive(Clone, Default)]
struct Spec {
    lab: u32,
    /// The tree of a student who finished `lab`: only later labs stubbed.
    solved: bool,
    /// Every lab's regions stubbed, earlier labs' too (a branch of `handout-repo`: the
    /// student's own earlier work comes in by `git merge`).
    all_stubbed: bool,
    /// Regions filled back from the reference although their lab is stubbed.
    fill: Vec<String>,
}

impl Spec {
    fn cut(&self) -> Cut {
        let from = if self.all_stubbed {
            1
        } else if self.solved {
            self.lab + 1
        } else {
            self.lab
        };
        Cut {
            from,
            fill: self.fill.clone(),
            ..Cut::default()
        }
    }
}

/// The lab a book chapter belongs to: `book/src/labN.md` (or a directory `book/src/labN/`).
fn chapter_lab(f: &str) -> Option<u32> {
    let rest = f.strip_prefix("book/src/lab")?;
    let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let after = &rest[n.len()..];
    if after == ".md" || after.starts_with('/') {
        n.parse().ok()
    } else {
        None
    }
}

/// The book's table of contents without the chapters of labs after `lab`.
fn summary_upto(text: &str, lab: u32) -> String {
    text.lines()
        .filter(|l| {
            !l.split(['(', ')'])
                .any(|p| chapter_lab(&format!("book/src/{p}")).is_some_and(|n| n > lab))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Cut a handout into memory: (file, text or None for binary), after the checks that no
/// solution survives (exact lines, then the similarity check).
/// A cut tree: every file, with its handout text (None: a binary file, copied as it is).
type Tree = Vec<(String, Option<Stubbed>)>;

fn cut_checked(spec: &Spec) -> Result<(Tree, usize), String> {
    let files = tree_files()?;
    let cut = spec.cut();
    let tree: Vec<(String, Option<Stubbed>)> = cut_tree(&files, &cut)?
        .into_iter()
        .filter(|(f, _)| chapter_lab(f).is_none_or(|n| n <= spec.lab))
        .collect();
    let mut tree = tree;
    allow_unused(&mut tree)?;
    let texts: Vec<(String, Stubbed)> = tree
        .iter()
        .filter_map(|(f, s)| s.as_ref().map(|s| (f.clone(), s.clone())))
        .collect();
    let nsecret = kit::secrets(&texts).len();
    let leaks = kit::leaks(&texts);
    if !leaks.is_empty() {
        let list: Vec<String> = leaks
            .iter()
            .map(|l| format!("  {}:{}: {}", l.file, l.line, l.text))
            .collect();
        return Err(format!(
            "the handout would contain lines of stubbed solutions:\n{}",
            list.join("\n")
        ));
    }
    let similar = similar_leaks(&texts, &cut, false)?;
    if !similar.is_empty() {
        let list: Vec<String> = similar.iter().map(similar_line).collect();
        return Err(format!(
            "given code in the handout is too close to a stubbed solution (kit similar):\n{}",
            list.join("\n")
        ));
    }
    Ok((tree, nsecret))
}

/// Identifier counts of a text's code (line comments, doc comments included, left out).
fn words(text: &str) -> std::collections::HashMap<&str, usize> {
    let mut m = std::collections::HashMap::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for w in code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if !w.is_empty() {
                *m.entry(w).or_insert(0) += 1;
            }
        }
    }
    m
}

/// An item of a Rust file: a function or a const/static, its line range (0-based, inclusive)
/// and whether nothing needs to reference it for it to count as used (an exported or
/// `no_mangle` entry point, a test).
struct Item {
    name: String,
    start: usize,
    end: usize,
    root: bool,
    /// Indented: a method or an associated item, which `.name(` may call (a free function
    /// is never called so: `cpu.set_status(..)` is no use of a free `set_status`).
    method: bool,
}

/// The items of Rust source `lines` (line-based, as rustfmt lays them out).
fn items(lines: &[&str], library: bool) -> Vec<Item> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        let indent = lines[i].len() - t.len();
        // Exported: `pub` (a `pub(crate)` item is used only if its crate uses it).
        let public = t.starts_with("pub ");
        let head = t
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub ")
            .trim_start_matches("const unsafe ")
            .trim_start_matches("unsafe ")
            .trim_start_matches("extern \"C\" ");
        let (kind, rest) = if let Some(r) = head.strip_prefix("fn ") {
            ("fn", r)
        } else if let Some(r) = head.strip_prefix("const fn ") {
            ("fn", r)
        } else if let Some(r) = head.strip_prefix("const ") {
            ("const", r)
        } else if let Some(r) = head.strip_prefix("static ") {
            ("const", r.trim_start_matches("mut "))
        } else {
            i += 1;
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() || name == "_" {
            i += 1;
            continue;
        }
        // Its attributes, just above: an entry point or a test is used by definition.
        let attrs: String = lines[..i]
            .iter()
            .rev()
            .take_while(|l| l.trim_start().starts_with("#[") || l.trim_start().starts_with("//"))
            .copied()
            .collect();
        let root = attrs.contains("no_mangle")
            || attrs.contains("#[test]")
            || t.contains("extern \"C\" fn")
            || (library && public);
        // The end: a one-line item, or the line that closes it at its own indentation.
        let mut end = i;
        let one_line = (kind == "fn" && t.trim_end().ends_with('}')) || t.trim_end().ends_with(';');
        if !one_line {
            end = i + 1;
            while end < lines.len() {
                let l = lines[end];
                let lt = l.trim_start();
                if l.len() - lt.len() == indent
                    && (lt.starts_with('}') || lt.starts_with(");") || lt.starts_with("];"))
                {
                    break;
                }
                if kind == "const" && l.len() - lt.len() == indent && l.trim_end().ends_with(';') {
                    break;
                }
                end += 1;
            }
        }
        let end = end.min(lines.len() - 1);
        out.push(Item {
            name,
            start: i,
            end,
            root,
            method: indent > 0,
        });
        i = if kind == "fn" { i + 1 } else { end + 1 };
    }
    out
}

/// The names a set of Rust files uses: a fixpoint from the code outside any item (tables,
/// macro calls, `impl` headers), the entry points and the exported items of libraries, through
/// the bodies of what is used. By name: two items with one name are both used if one is.
fn used_names(files: &[(String, String)]) -> HashSet<(String, String)> {
    let mut all = HashSet::new();
    let mut crates: Vec<&str> = files.iter().map(|(f, _)| crate_of(f)).collect();
    crates.sort_unstable();
    crates.dedup();
    for c in crates {
        let mine: Vec<(String, String)> = files
            .iter()
            .filter(|(f, _)| crate_of(f) == c)
            .cloned()
            .collect();
        all.extend(used_in_crate(&mine).into_iter().map(|n| (c.to_string(), n)));
    }
    all
}

/// The crate a file belongs to (names are resolved per crate: the kernel's `sys_cputs` is
/// not the library's). User programs use the library's exported items, which are roots.
fn crate_of(f: &str) -> &str {
    for c in [
        "kern/logic/",
        "kern/mkkdebug/",
        "kern/",
        "lib/",
        "user/",
        "inc/",
        "grade/",
        "boot/",
    ] {
        if f.starts_with(c) {
            return c;
        }
    }
    ""
}

fn used_in_crate(files: &[(String, String)]) -> HashSet<String> {
    let mut bodies: Vec<(String, bool, HashSet<String>)> = Vec::new();
    let mut used: HashSet<String> = HashSet::new();
    for (f, text) in files {
        let library =
            f.starts_with("lib/") || f.starts_with("kern/logic/") || f.starts_with("inc/");
        let lines: Vec<&str> = text.lines().collect();
        let its = items(&lines, library);
        let mut inside = vec![false; lines.len()];
        for it in &its {
            // Nested functions belong to the outermost item's body.
            if inside[it.start] {
                continue;
            }
            inside[it.start..=it.end].fill(true);
            let words: HashSet<String> = refs(&lines[it.start + 1..=it.end].join("\n"));
            let mut w = words;
            // The first line's words other than its own name (a const's type and value).
            for x in refs(lines[it.start]) {
                if x != it.name {
                    w.insert(x);
                }
            }
            if it.root {
                used.insert(it.name.clone());
            }
            bodies.push((it.name.clone(), it.method, w));
        }
        for (k, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            let decl = ["use ", "pub use ", "mod ", "pub mod ", "pub(crate) mod "];
            if !inside[k] && !decl.iter().any(|d| t.starts_with(d)) {
                used.extend(refs(l));
            }
        }
    }
    loop {
        let before = used.len();
        for (name, method, w) in &bodies {
            if is_used(&used, name, *method) {
                let add: Vec<String> = w.iter().filter(|x| !used.contains(*x)).cloned().collect();
                used.extend(add);
            }
        }
        if used.len() == before {
            return used;
        }
    }
}

/// Whether an item `name` (a method if `method`) is used, by the names [`refs`] found.
fn is_used(used: &HashSet<String>, name: &str, method: bool) -> bool {
    used.contains(name) || (method && used.contains(&format!(".{name}")))
}

/// The names a text's code may refer to an item by, for [`used_names`]: its identifiers,
/// without comments, string literals (an assembler directive `.set` is no use of a `set`)
/// and field accesses (`self.handoff[..]` is no use of a method `handoff`: a method call is
/// followed by `(`); a method call `.name(` is `.name`, a use of methods only.
fn refs(text: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    for line in text.lines() {
        // Strings out first (a `//` inside one is no comment), then the comment.
        let mut code = String::with_capacity(line.len());
        let mut in_str = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (in_str, c) {
                (true, '\\') => {
                    chars.next();
                }
                (_, '"') => {
                    in_str = !in_str;
                    code.push(' ');
                }
                (true, _) => {}
                (false, _) => code.push(c),
            }
        }
        let code = code.split("//").next().unwrap_or("");
        let b = code.as_bytes();
        let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let mut i = 0;
        while i < b.len() {
            if !ident(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && ident(b[i]) {
                i += 1;
            }
            // (`.name(` and `.name::<T>(` are calls.)
            let call = b.get(i) == Some(&b'(') || code[i..].starts_with("::");
            match (start > 0 && b[start - 1] == b'.', call) {
                // A method call: only a method may be what it calls.
                (true, true) => out.insert(format!(".{}", &code[start..i])),
                // A field.
                (true, false) => false,
                _ => out.insert(code[start..i].to_string()),
            };
        }
    }
    out
}

/// What the stubs leave unused, allowed where it is: a `use` whose names only the removed
/// solutions used gets `#[allow(unused_imports)]`, an item (function, const, static) that only
/// they used, directly or through other such items, gets `#[allow(dead_code)]` (unused in the
/// handout by [`used_names`], used in the reference). No crate-wide allow: the student's own
/// unused code still warns.
fn allow_unused(tree: &mut [(String, Option<Stubbed>)]) -> Result<(), String> {
    let rs = |f: &String| f.ends_with(".rs");
    let handout: Vec<(String, String)> = tree
        .iter()
        .filter(|(f, _)| rs(f))
        .filter_map(|(f, s)| s.as_ref().map(|s| (f.clone(), s.text.clone())))
        .collect();
    let mut reference = Vec::new();
    for (f, _) in &handout {
        reference.push((
            f.clone(),
            std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?,
        ));
    }
    let (live_here, live_there) = (used_names(&handout), used_names(&reference));
    for (f, s) in tree.iter_mut() {
        let Some(s) = s.as_mut().filter(|_| rs(f)) else {
            continue;
        };
        let library =
            f.starts_with("lib/") || f.starts_with("kern/logic/") || f.starts_with("inc/");
        let lines: Vec<&str> = s.text.lines().collect();
        // An import outside the tests must be used outside them (`mod tests` is compiled in
        // test builds only): from `#[cfg(test)]` on, the names are the tests'.
        let tests_at = lines
            .iter()
            .position(|l| l.trim() == "#[cfg(test)]")
            .unwrap_or(lines.len());
        let all_words = words(&s.text);
        let code = lines[..tests_at].join("\n");
        let code_words = words(&code);
        let dead: HashSet<usize> = items(&lines, library)
            .into_iter()
            .filter(|it| {
                let key = (crate_of(f).to_string(), it.name.clone());
                let live = |set: &HashSet<(String, String)>| {
                    set.contains(&key)
                        || (it.method && set.contains(&(key.0.clone(), format!(".{}", key.1))))
                };
                !it.root && !live(&live_here) && live(&live_there)
            })
            .map(|it| it.start)
            .collect();
        let mut out = String::with_capacity(s.text.len());
        let mut i = 0;
        while i < lines.len() {
            let t = lines[i].trim_start();
            let indent = &lines[i][..lines[i].len() - t.len()];
            if t.starts_with("use ") && !s.stubbed.is_empty() {
                let file_words = if i < tests_at {
                    &code_words
                } else {
                    &all_words
                };
                // The whole statement (rustfmt may spread it over lines).
                let mut j = i;
                while j < lines.len() && !lines[j].trim_end().ends_with(';') {
                    j += 1;
                }
                let j = j.min(lines.len() - 1);
                let stmt = lines[i..=j].join("\n");
                let used_words = words(&stmt);
                // An imported name: the last segment of each path (or its `as` name); a glob
                // may be what only a solution used.
                let mut unused = stmt.contains('*');
                for p in stmt.split([',', '{', '}', ';']) {
                    let p = p.trim();
                    let name = p
                        .rsplit(" as ")
                        .next()
                        .unwrap_or("")
                        .rsplit("::")
                        .next()
                        .unwrap_or("")
                        .trim();
                    if !name.is_empty() && name != "self" && name != "*" {
                        unused |= file_words.get(name).copied().unwrap_or(0)
                            <= used_words.get(name).copied().unwrap_or(0);
                    }
                }
                if unused {
                    out.push_str(&format!("{indent}#[allow(unused_imports)] // the stubs'\n"));
                }
                for l in &lines[i..=j] {
                    out.push_str(l);
                    out.push('\n');
                }
                i = j + 1;
                continue;
            }
            if dead.contains(&i) {
                out.push_str(&format!("{indent}#[allow(dead_code)] // the stubs'\n"));
            }
            out.push_str(lines[i]);
            out.push('\n');
            i += 1;
        }
        s.text = out;
    }
    Ok(())
}

/// Pairs over the similarity thresholds that are not leaks: (function, region, why). JOS's
/// handouts give the same code (`kit similar --all` prints them as KNOWN).
const KNOWN_SIMILAR: &[(&str, &str, &str)] = &[
    (
        "dumbfork",
        "fork",
        "user/dumbfork is JOS's own example of sys_exofork, given in JOS too",
    ),
    (
        "function",
        "debuginfo-line",
        "the function search of debuginfo_eip is given in JOS too; the line search is lab 1's",
    ),
    (
        "user_exception",
        "page_fault_upcall",
        "a run of 24: the destroy-and-resume idiom (k.cpu(), env::table, env_destroy, \
         sched::resume) of every fatal path, given in page_fault_handler too",
    ),
];

fn similar_line(s: &kit::similar::Similar) -> String {
    format!(
        "  {}:{}: fn {} ~ region {}: containment {:.2}, common run {} tokens",
        s.file, s.line, s.function, s.region, s.containment, s.run
    )
}

/// The similarity check over a cut tree: every function the handout gives vs every stubbed
/// solution. Functions that hold a kept region (an earlier lab's solution: in the JOS
/// workflow the student's own code) are not compared. Without `all`, only the leaks that are
/// not known.
fn similar_leaks(
    texts: &[(String, Stubbed)],
    cut: &Cut,
    all: bool,
) -> Result<Vec<kit::similar::Similar>, String> {
    let mut own: Vec<(String, String)> = Vec::new();
    for (f, _) in texts.iter().filter(|(f, _)| f.ends_with(".rs")) {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?;
        let lines: Vec<&str> = text.lines().collect();
        for r in kit::parse(&text).map_err(|e| format!("{f}: {e}"))? {
            // Earlier labs' exercises and filled ones (the student's own code), not challenges.
            if r.lab == 0 || r.challenge || (r.lab >= cut.from && !cut.fill.contains(&r.name)) {
                continue;
            }
            if let Some(name) = lines[..r.begin].iter().rev().find_map(|l| {
                let t = l.trim_start();
                let at = t.find("fn ")?;
                (at == 0 || t[..at].ends_with(' ')).then_some(())?;
                Some(
                    t[at + 3..]
                        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()?
                        .to_string(),
                )
            }) {
                own.push((f.clone(), name));
            }
        }
    }
    let files: Vec<(String, String)> = texts
        .iter()
        .map(|(f, s)| (f.clone(), s.text.clone()))
        .collect();
    // Exercises only: a given function close to a challenge's solution gives no exercise
    // away (dumbfork is close to sfork, as to fork).
    let solutions: Vec<(String, String)> = texts
        .iter()
        .flat_map(|(_, s)| {
            s.bodies
                .iter()
                .zip(&s.stubbed)
                .filter(|(_, r)| !r.challenge)
                .map(|(b, _)| b.clone())
        })
        .collect();
    Ok(kit::similar::check(&files, &solutions, all)
        .into_iter()
        .filter(|s| !own.iter().any(|(f, n)| *f == s.file && *n == s.function))
        .filter(|s| {
            all || !KNOWN_SIMILAR
                .iter()
                .any(|(f, r, _)| *f == s.function && *r == s.region)
        })
        .collect())
}

/// `kit similar --lab N [--all]`: the similarity check's findings in handout N (with
/// `--all`, every comparison, highest first: the measurements behind the thresholds).
fn similar(o: &LabOpts) -> Result<(), String> {
    let spec = Spec {
        lab: o.lab,
        ..Spec::default()
    };
    let files = tree_files()?;
    let texts: Vec<(String, Stubbed)> = cut_tree(&files, &spec.cut())?
        .into_iter()
        .filter_map(|(f, s)| s.map(|s| (f, s)))
        .collect();
    let all = o.rest.iter().any(|a| a == "--all");
    let found = similar_leaks(&texts, &spec.cut(), true)?;
    let mut n = 0;
    for s in &found {
        if all || s.leak() {
            let known = KNOWN_SIMILAR
                .iter()
                .find(|(f, r, _)| *f == s.function && *r == s.region);
            let tag = match (s.leak(), known) {
                (true, Some(_)) => "KNOWN",
                (true, None) => "LEAK ",
                _ => "     ",
            };
            println!("{tag}{}", similar_line(s));
            n += 1;
            if all && n >= 100000 {
                break;
            }
        }
    }
    let over: Vec<_> = found.iter().filter(|s| s.leak()).collect();
    let known = over
        .iter()
        .filter(|s| {
            KNOWN_SIMILAR
                .iter()
                .any(|(f, r, _)| *f == s.function && *r == s.region)
        })
        .count();
    println!(
        "kit similar: lab {} handout: {} leaks over the thresholds (containment >= {}, run >= {}); \
         {known} known pairs, not leaks (JOS gives the same code)",
        o.lab,
        over.len() - known,
        kit::similar::CONTAINMENT,
        kit::similar::RUN
    );
    Ok(())
}

/// Write the handout `spec` into `out` (and `out`.tar.gz).
fn handout(spec: &Spec, out: &Path) -> Result<PathBuf, String> {
    let lab = spec.lab;
    let (tree, nsecret) = cut_checked(spec)?;
    write_tree(spec, &tree, out)?;

    let tarball = out.with_extension("tar.gz");
    let (parent, name) = (
        out.parent().unwrap_or(Path::new(".")),
        out.file_name().ok_or("bad --out")?,
    );
    let st = Command::new("tar")
        .arg("-czf")
        .arg(tarball.file_name().ok_or("bad --out")?)
        .arg("--exclude")
        .arg(STAMP)
        .arg(name)
        .current_dir(parent)
        .status()
        .map_err(|e| format!("tar: {e}"))?;
    if !st.success() {
        return Err("tar failed".into());
    }
    let stubbed: usize = tree
        .iter()
        .filter_map(|(_, s)| s.as_ref())
        .map(|s| s.stubbed.len())
        .sum();
    println!(
        "kit: lab {lab}{} handout in {} ({} files, {stubbed} regions stubbed, none of their \
         {nsecret} solution lines left, no given function close to one), {}",
        if spec.solved { " (solved)" } else { "" },
        out.display(),
        tree.len() + 1,
        tarball.display()
    );
    Ok(out.to_path_buf())
}

/// Write a cut tree into `out` (which must be a handout directory this tool wrote, or
/// absent), with the handout's README, conf/lab.mk and stamp.
fn write_tree(spec: &Spec, tree: &[(String, Option<Stubbed>)], out: &Path) -> Result<(), String> {
    if out.exists() {
        if !out.join(STAMP).exists() {
            return Err(format!(
                "{} exists and is not a handout: not touching it",
                out.display()
            ));
        }
        std::fs::remove_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    write_files(spec, tree, out)?;
    write(&out.join(STAMP), b"")
}

fn write(path: &Path, data: &[u8]) -> Result<(), String> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    std::fs::write(path, data).map_err(|e| format!("{}: {e}", path.display()))
}

/// The files of a cut tree, written under `out` (over what is there).
fn write_files(spec: &Spec, tree: &[(String, Option<Stubbed>)], out: &Path) -> Result<(), String> {
    let lab = spec.lab;
    for (f, s) in tree {
        let dst = out.join(f);
        match s {
            Some(s) => {
                let text = match f.as_str() {
                    "README.md" => handout_readme(spec),
                    "Cargo.lock" => drop_lock_package(&s.text, "kit"),
                    "book/src/SUMMARY.md" => summary_upto(&s.text, lab),
                    _ => s.text.clone(),
                };
                write(&dst, text.as_bytes())?;
            }
            None => write(&dst, &std::fs::read(f).map_err(|e| format!("{f}: {e}"))?)?,
        }
        let perm = std::fs::metadata(f)
            .map_err(|e| format!("{f}: {e}"))?
            .permissions();
        std::fs::set_permissions(&dst, perm).map_err(|e| format!("{}: {e}", dst.display()))?;
    }
    // JOS's conf/lab.mk: the Makefile's `grade` runs the tests of labs 1..LAB.
    write(
        &out.join("conf/lab.mk"),
        format!("# Written by the course kit: `make grade` runs labs 1..LAB.\nLAB={lab}\n")
            .as_bytes(),
    )
}

/// Cargo.lock without package `name`'s entry (the kit is not in the handout's workspace;
/// cargo would drop the entry itself at the first build, changing the student's lock file).
fn drop_lock_package(lock: &str, name: &str) -> String {
    let entry = format!("[[package]]\nname = \"{name}\"\n");
    lock.split_inclusive("\n\n")
        .filter(|block| !block.starts_with(&entry))
        .collect()
}

/// The handout's README: what this tree is, where the lab book is, how the work is scored.
/// (The project's README describes the reference tree, its challenges and the kit: a
/// handout's reader needs the book instead.)
fn handout_readme(spec: &Spec) -> String {
    let lab = spec.lab;
    let labs = if lab == 1 {
        "lab 1".to_string()
    } else {
        format!("labs 1 to {lab}")
    };
    let what = if spec.solved {
        format!("the tree of a student who has finished lab {lab}")
    } else {
        format!("the lab {lab} handout")
    };
    let chapters: String = (1..=lab)
        .map(|l| format!("- `book/src/lab{l}.md`: lab {l}\n"))
        .collect();
    format!(
        "# JOS in Rust: {what}\n\n\
         This is a Rust port of MIT 6.828's JOS teaching kernel (i386, SMP). The functions you \
         write are marked `LAB n: Your code here` and stop the kernel with a `not yet \
         implemented: LAB n: ...` panic until you do (`grep -rn \"Your code here\" kern lib` \
         lists them).\n\n\
         ## The lab book\n\n\
         Read the book first: it says what to read in the tree, the exercises in order, the \
         questions to answer and the optional challenges.\n\n\
         - `book/src/intro.md`: how to use the tree, the workflow, the Rust you need, debugging\n\
         {chapters}\n\
         `make book` builds it as HTML in `obj/book/` (it needs `mdbook`; without it the \
         chapters read fine as Markdown).\n\n\
         ## Your score\n\n\
         `make grade` is your score: it boots the kernel under QEMU for every test of {labs} \
         (`conf/lab.mk` says which lab this is) and prints each test's result and `Score: \
         N/M`. A failing test shows the first `not yet implemented` or `panic` line of its run \
         and where the whole output is saved.\n\n\
         `make test` runs the host unit tests of {labs} first (those of later labs are \
         skipped), then `make grade`.\n\n\
         ## Commands\n\n\
         | command | what it does |\n\
         |---|---|\n\
         | `make` | build `obj/kern/kernel.img` |\n\
         | `make qemu-nox` | boot on the terminal (Ctrl-a x quits) |\n\
         | `make run-<prog>-nox` | boot with user program `<prog>` first, e.g. `make run-hello-nox` |\n\
         | `make qemu-nox-gdb`, then `make gdb` in another terminal | debug |\n\
         | `make grade` | your score |\n\
         | `make test` | host tests of {labs}, then `make grade` |\n\
         | `make book` | the lab book as HTML |\n\n\
         A fresh machine first installs the pinned Rust toolchain and QEMU \
         (`.ci/install-tools` says what to run when it cannot).\n"
    )
}

/// The lab of a grader part ("Lab 4 Part B" -> 4); other parts (Project, Hostile) are none.
fn part_lab(part: &str) -> Option<u32> {
    part.strip_prefix("Lab ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Judge a handout's grade results (the grader's `--results` file: `OK|FAIL<TAB>part<TAB>name`
/// per test). A handout for lab N: every test of labs < N passes, every test of lab N fails
/// (but the `GIVEN` ones, which must pass), and each lab 1..N has tests. Solved: every test
/// of labs 1..N passes. Returns a summary, or what is wrong.
fn verify(lab: u32, solved: bool, results: &str) -> Result<String, String> {
    let mut wrong = Vec::new();
    let mut per_lab = [(0usize, 0usize); 5];
    for line in results.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split('\t');
        let (Some(status), Some(part), Some(name)) = (f.next(), f.next(), f.next()) else {
            return Err(format!("bad results line: {line}"));
        };
        let ok = match status {
            "OK" => true,
            "FAIL" => false,
            _ => return Err(format!("bad results line: {line}")),
        };
        let Some(l) = part_lab(part).filter(|&l| (1..=lab).contains(&l)) else {
            wrong.push(format!(
                "{name} ({part}) should not run in a lab {lab} handout"
            ));
            continue;
        };
        let given = GIVEN.iter().any(|&(gl, g, _)| gl == l && g == name);
        let want_ok = solved || l < lab || given;
        if ok {
            per_lab[l as usize].0 += 1;
        } else {
            per_lab[l as usize].1 += 1;
        }
        if ok != want_ok {
            let why = if want_ok {
                "fails".to_string()
            } else {
                "passes before the student wrote anything (a stub does not bite)".to_string()
            };
            wrong.push(format!("{name} ({part}) {why}"));
        }
    }
    for l in 1..=lab {
        let (p, f) = per_lab[l as usize];
        if p + f == 0 {
            wrong.push(format!("no test of lab {l} ran"));
        }
    }
    let summary: Vec<String> = (1..=lab)
        .map(|l| {
            let (p, f) = per_lab[l as usize];
            format!("lab {l}: {p} passed, {f} failed")
        })
        .collect();
    if wrong.is_empty() {
        Ok(summary.join("; "))
    } else {
        Err(format!(
            "lab {lab}{} handout: {}\n  {}",
            if solved { " (solved)" } else { "" },
            summary.join("; "),
            wrong.join("\n  ")
        ))
    }
}

/// Which exercises `check-handouts` fills back one after the other (`--exercises`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Exercises {
    None,
    /// The first exercise of each lab that has tests of its own (one incremental build and
    /// grade run per lab).
    Sample,
    All,
}

/// `make check-handouts`: the book (it builds with mdbook when there is one; every region,
/// function, file and test it names exists; it covers every region), then for each lab: cut
/// the handout (the exact-line and similarity checks run first), build it as a student would
/// (`make`), run its host tests and its `make grade`, verify the results, and fill the book's
/// exercises back one after the other, checking that each turns green exactly the tests the
/// book names for it; then the handout repository and its merge. Scratch directories are
/// removed at the end (they hold a cargo target directory each: hundreds of MB).
fn check_handouts(args: &[String]) -> Result<(), String> {
    let mut labs: Vec<u32> = LABS.to_vec();
    let mut solved: Vec<u32> = Vec::new();
    let mut exercises = Exercises::Sample;
    let mut repo_check = true;
    let mut repo_grade = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--labs" => {
                labs = it
                    .next()
                    .ok_or("--labs needs a list")?
                    .split(',')
                    .map(|s| lab_number(Some(&s.to_string())))
                    .collect::<Result<_, _>>()?;
            }
            "--solved" => solved.push(lab_number(it.next())?),
            "--exercises" => {
                exercises = match it.next().map(String::as_str) {
                    Some("all") => Exercises::All,
                    Some("sample") => Exercises::Sample,
                    Some("none") => Exercises::None,
                    _ => return Err("--exercises all|sample|none".into()),
                }
            }
            "--no-repo" => repo_check = false,
            "--repo-grade" => repo_grade = true,
            _ => return Err(format!("unknown option {a}")),
        }
    }
    let start = Instant::now();
    let mut failures = Vec::new();
    let mut step = |name: &str, r: Result<String, String>, t: Instant| {
        let secs = t.elapsed().as_secs();
        match r {
            Ok(summary) => println!("check-handouts: {name}: OK ({summary}) [{secs}s]"),
            Err(e) => {
                println!("check-handouts: {name}: FAIL [{secs}s]\n  {e}");
                failures.push(name.to_string());
            }
        }
    };
    let t = Instant::now();
    let book = book::Book::load(Path::new("book"));
    let cards = book
        .as_ref()
        .map(|b| b.exercises.clone())
        .unwrap_or_default();
    step("book", book.and_then(|b| book::check(&b, true)), t);

    let runs = labs
        .iter()
        .map(|&l| (l, false))
        .chain(solved.iter().map(|&l| (l, true)));
    for (lab, solved) in runs {
        let t = Instant::now();
        let name = if solved {
            format!("lab{lab}-solved")
        } else {
            format!("lab{lab}")
        };
        let dir = Path::new(HANDOUT_DIR).join(&name);
        let spec = Spec {
            lab,
            solved,
            ..Spec::default()
        };
        step(&name, check_one(&spec, &dir), t);
        if !solved && exercises != Exercises::None {
            let t = Instant::now();
            let r = check_exercises(lab, &cards, exercises);
            step(&format!("lab{lab} exercises"), r, t);
        }
    }
    if repo_check {
        let t = Instant::now();
        step("handout-repo", repo::check_merge(&scratch(), repo_grade), t);
    }
    let _ = std::fs::remove_dir_all(scratch());
    println!(
        "check-handouts: {} in {}s",
        if failures.is_empty() {
            "all handouts OK".to_string()
        } else {
            format!("failed: {}", failures.join(", "))
        },
        start.elapsed().as_secs()
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err("check-handouts failed".into())
    }
}

/// Where `check-handouts` unpacks and builds the tarballs: outside the reference tree, because
/// cargo merges the `.cargo/config.toml` of every enclosing directory, and the reference's
/// aliases would be appended to the handout's (`cargo kbuild` would say `build build`). One
/// directory per checkout (named by a hash of its path), so two checkouts on one machine (two
/// CI runs, a CI run and a developer) never build in each other's directory.
fn scratch() -> PathBuf {
    use std::hash::{Hash, Hasher};
    if let Some(dir) = std::env::var_os("KIT_SCRATCH") {
        return PathBuf::from(dir);
    }
    let here = std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .unwrap_or_default();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    here.hash(&mut h);
    std::env::temp_dir().join(format!("jos-kit-{:016x}", h.finish()))
}

/// Run `make args` in `dir` as a student would (the reference's make variables left out).
fn make(dir: &Path, args: &[&str]) -> Result<std::process::Output, String> {
    Command::new("make")
        .args(args)
        .current_dir(dir)
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .map_err(|e| format!("make: {e}"))
}

fn output_text(o: &std::process::Output) -> String {
    let mut t = String::from_utf8_lossy(&o.stdout).into_owned();
    t.push_str(&String::from_utf8_lossy(&o.stderr));
    t
}

/// Build the tree at `dir` (`make -s`), returning the build's output.
fn build(dir: &Path) -> Result<String, String> {
    let built = make(dir, &["-s"])?;
    let text = output_text(&built);
    if !built.status.success() {
        return Err(format!("the handout does not build:\n{text}"));
    }
    Ok(text)
}

/// `make grade` in `dir` with `flags`; the results file's text and the run's output.
fn grade(dir: &Path, flags: &str) -> Result<(String, String), String> {
    let results = std::fs::canonicalize(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .join("obj/grade-results.txt");
    let _ = std::fs::remove_file(&results);
    // The student's command; it fails (some tests fail by design), so only the results count.
    let graded = make(
        dir,
        &[
            "grade",
            &format!("GRADEFLAGS=--results {} {flags}", results.display()),
        ],
    )?;
    let out = output_text(&graded);
    let text = std::fs::read_to_string(&results)
        .map_err(|_| format!("make grade wrote no results:\n{out}"))?;
    Ok((text, out))
}

fn check_one(spec: &Spec, out: &Path) -> Result<String, String> {
    let (lab, solved) = (spec.lab, spec.solved);
    handout(spec, out)?;
    // Build what a student gets: the tarball, unpacked.
    let name = out.file_name().ok_or("bad handout directory")?;
    let scratch = scratch();
    let dir = scratch.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(scratch.join("target")).map_err(|e| format!("{e}"))?;
    let tarball = std::fs::canonicalize(out.with_extension("tar.gz")).map_err(|e| e.to_string())?;
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .current_dir(&scratch)
        .status()
        .map_err(|e| format!("tar: {e}"))?;
    if !st.success() {
        return Err("tar -x failed".into());
    }
    // One cargo target directory for all handouts: the standard library is built once.
    std::os::unix::fs::symlink("../target", dir.join("target"))
        .map_err(|e| format!("symlink: {e}"))?;
    let dir = dir.as_path();
    let log = out.with_extension("log");
    let mut text = build(dir)?;
    let warnings = distinct_warnings(&text);
    // The host tests: labs up to this one run, later labs' are skipped; only this lab's may
    // fail (none in a solved tree).
    let host = make(dir, &["-s", "test-host"])?;
    let host_out = output_text(&host);
    text.push_str(&host_out);
    let later = later_host_tests(if solved { lab + 1 } else { lab })?;
    let host_summary = verify_host(lab, solved, later, host.status.success(), &host_out);
    let graded = grade(dir, "");
    let (Ok((_, out)) | Err(out)) = &graded;
    text.push_str(out);
    // The build, host test and grade output, beside the handout, for whoever looks into a
    // failure.
    std::fs::write(&log, &text).map_err(|e| format!("{}: {e}", log.display()))?;
    let (results, _) = graded.map_err(|e| format!("{e}\n(see {})", log.display()))?;
    let host_summary = host_summary?;
    verify(lab, solved, &results)
        .map(|s| format!("{s}; host tests: {host_summary}; {warnings} build warnings"))
}

/// Judge a handout's `make test-host` output (`cargo test -q`: a failure is a `name ---
/// FAILED` line, each binary ends with `test result: ... N passed; M failed; ... K filtered
/// out`): a failing host test must be one of the lab's own (named `labN_...`, N the handout's
/// lab; none in a solved tree), and exactly the `later` tests of later labs must have been
/// filtered out.
fn verify_host(
    lab: u32,
    solved: bool,
    later: usize,
    ok: bool,
    out: &str,
) -> Result<String, String> {
    let mut failed = Vec::new();
    let (mut passed, mut filtered) = (0usize, 0usize);
    let count = |l: &str, what: &str| -> usize {
        l.split(';')
            .find_map(|p| {
                p.trim()
                    .strip_suffix(what)?
                    .trim()
                    .rsplit(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    };
    for l in out.lines() {
        if let Some(name) = l.trim().strip_suffix(" --- FAILED") {
            failed.push((name.to_string(), test_lab(name)));
        } else if l.starts_with("test result:") {
            passed += count(l, "passed");
            filtered += count(l, "filtered out");
        }
    }
    let wrong: Vec<String> = failed
        .iter()
        .filter(|(_, l)| solved || *l != Some(lab))
        .map(|(n, _)| n.clone())
        .collect();
    let mut why = Vec::new();
    if !wrong.is_empty() {
        why.push(format!("host tests failing outside lab {lab}: {wrong:?}"));
    }
    if !ok && failed.is_empty() {
        why.push(format!("make test-host failed:\n{out}"));
    }
    if filtered != later {
        why.push(format!(
            "{filtered} host tests skipped, but the tree has {later} tests of later labs"
        ));
    }
    if passed == 0 {
        why.push("no host test passed".to_string());
    }
    if !why.is_empty() {
        return Err(why.join("; "));
    }
    Ok(format!(
        "{passed} passed, {} failed (lab {lab}'s own), {filtered} of later labs skipped",
        failed.len()
    ))
}

/// The number of host tests of labs after `lab` in the tree (`fn labN_...` with N > lab): the
/// ones a handout's `make test-host` skips.
fn later_host_tests(lab: u32) -> Result<usize, String> {
    let mut n = 0;
    for f in tree_files()?.iter().filter(|f| f.ends_with(".rs")) {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?;
        for w in text.split("fn lab").skip(1) {
            let (num, rest) = w.split_at(w.find(|c: char| !c.is_ascii_digit()).unwrap_or(0));
            if rest.starts_with('_') && num.parse::<u32>().is_ok_and(|m| m > lab) {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// The lab of a host test, from its name: `labN_...` (a path segment or a function name).
fn test_lab(name: &str) -> Option<u32> {
    name.split("::").find_map(|seg| {
        let rest = seg.strip_prefix("lab")?;
        let (n, tail) = rest.split_once('_')?;
        let _ = tail;
        n.parse().ok()
    })
}

/// Fill the book's exercises of `lab` back into the lab's handout one after the other (each
/// on top of the ones before it, in the book's order: the kernel stops at the first stub, so
/// an exercise cannot show its tests before the earlier ones are done) and check that each
/// turns green exactly the lab's tests the book names for it, the tests of earlier exercises
/// staying green.
fn check_exercises(lab: u32, cards: &[book::Exercise], which: Exercises) -> Result<String, String> {
    let mine: Vec<&book::Exercise> = cards
        .iter()
        .filter(|c| c.lab == lab && !c.challenge)
        .collect();
    if mine.is_empty() {
        return Err(format!("the book has no exercise of lab {lab}"));
    }
    // Which prefixes to build: all, or a sample (the first exercise with tests).
    let with_tests: Vec<usize> = (0..mine.len())
        .filter(|&i| !mine[i].tests.is_empty())
        .collect();
    let steps: Vec<usize> = match which {
        Exercises::All => (0..mine.len()).collect(),
        _ => with_tests.iter().take(1).copied().collect(),
    };
    // The handout's own build directory (check_one built it): each step rewrites only the
    // files it changes, so the builds are incremental.
    let dir = scratch().join(format!("lab{lab}"));
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for &k in &steps {
        let fill: Vec<String> = mine[..=k].iter().flat_map(|c| c.regions.clone()).collect();
        let spec = Spec {
            lab,
            fill,
            ..Spec::default()
        };
        let (tree, _) = cut_checked(&spec)?;
        // Written over the last step's tree: only changed files get new times, so the build
        // is incremental.
        sync_tree(&spec, &tree, &dir)?;
        build(&dir).map_err(|e| format!("exercise {}: {e}", mine[k].id))?;
        let (results, _) = grade(&dir, &format!("lab {lab}"))?;
        let want: Vec<&String> = mine[..=k].iter().flat_map(|c| c.tests.iter()).collect();
        let mut wrong = Vec::new();
        for line in results.lines() {
            let mut f = line.split('\t');
            let (Some(status), Some(part), Some(name)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if part_lab(part) != Some(lab) {
                continue;
            }
            let given = GIVEN.iter().any(|&(gl, g, _)| gl == lab && g == name);
            let expect = given || want.iter().any(|w| *w == name);
            if (status == "OK") != expect {
                wrong.push(format!(
                    "{name} {}",
                    if expect { "fails" } else { "passes too early" }
                ));
            }
        }
        // Every step is checked, also after a wrong one (the tests that turn green later
        // are each step's own).
        if wrong.is_empty() {
            done.push(mine[k].id.clone());
        } else {
            errors.push(format!(
                "after exercise {}: {}",
                mine[k].id,
                wrong.join("; ")
            ));
        }
    }
    if !errors.is_empty() {
        let right = if done.is_empty() {
            "none".to_string()
        } else {
            done.join(", ")
        };
        return Err(format!("{}\n  right: {right}", errors.join("\n  ")));
    }
    Ok(format!(
        "exercises {} turn their tests green",
        done.join(", ")
    ))
}

/// Write a cut tree over `dir`, touching only files whose content changes (cargo rebuilds by
/// modification time).
fn sync_tree(spec: &Spec, tree: &[(String, Option<Stubbed>)], dir: &Path) -> Result<(), String> {
    let tmp = dir.with_extension("new");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    }
    write_files(spec, tree, &tmp)?;
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::os::unix::fs::symlink("../target", dir.join("target"))
            .map_err(|e| format!("symlink: {e}"))?;
    }
    let mut files: Vec<String> = tree.iter().map(|(f, _)| f.clone()).collect();
    files.push("conf/lab.mk".into());
    for f in files {
        let new = std::fs::read(tmp.join(&f)).map_err(|e| format!("{f}: {e}"))?;
        let dst = dir.join(&f);
        if std::fs::read(&dst).ok().as_deref() != Some(&new[..]) {
            write(&dst, &new)?;
            let perm = std::fs::metadata(tmp.join(&f))
                .map_err(|e| format!("{f}: {e}"))?
                .permissions();
            std::fs::set_permissions(&dst, perm).map_err(|e| format!("{}: {e}", dst.display()))?;
        }
    }
    std::fs::remove_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))
}

/// The number of distinct compiler warnings (message and place) in a build's output: cargo
/// prints a crate's warnings again for every binary that includes a shared module.
fn distinct_warnings(build: &str) -> usize {
    let lines: Vec<&str> = build.lines().collect();
    let mut seen = std::collections::HashSet::new();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("warning:") && !l.contains(" generated ") {
            let at = lines[i + 1..]
                .iter()
                .take(3)
                .find(|l| l.trim_start().starts_with("-->"))
                .copied();
            seen.insert((*l, at));
        }
    }
    seen.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The similarity check finds the leaks the lab 4 handout had before the challenge code
    /// was marked: cut with the CHALLENGE regions kept (and the idle CPU's timer arm, now a
    /// lab 4 region, filled back), it must report each of them.
    #[test]
    fn similarity_finds_the_known_leaks() {
        std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).unwrap();
        let cut = Cut {
            from: 4,
            fill: vec!["timer-irq-idle".into()],
            keep_challenges: true,
        };
        let files = tree_files().unwrap();
        let texts: Vec<(String, Stubbed)> = cut_tree(&files, &cut)
            .unwrap()
            .into_iter()
            .filter_map(|(f, s)| s.map(|s| (f, s)))
            .collect();
        // All pairs over the thresholds, without similar_leaks' exclusions (trap_from_kernel
        // holds the filled timer arm).
        let files_text: Vec<(String, String)> = texts
            .iter()
            .map(|(f, s)| (f.clone(), s.text.clone()))
            .collect();
        let solutions: Vec<(String, String)> = texts
            .iter()
            .flat_map(|(_, s)| {
                s.bodies
                    .iter()
                    .zip(&s.stubbed)
                    .filter(|(_, r)| !r.challenge)
                    .map(|(b, _)| b.clone())
            })
            .collect();
        let found = kit::similar::check(&files_text, &solutions, false);
        let has = |f: &str, r: &str| found.iter().any(|s| s.function == f && s.region == r);
        // (Two leaks the check was first proved on are gone at the source: sfork shares
        // fork's code path instead of copying it, and an idle CPU's timer goes through the
        // one IRQ handler, whose timer arm is a region of its own.)
        for (f, r) in [
            ("set_exception_handler", "set_pgfault_handler"),
            ("sys_env_set_exception_upcall", "sys_env_set_pgfault_upcall"),
            ("sys_page_copy", "sys_page_map"),
            ("sys_page_map_copy", "sys_page_map"),
            ("copy_into", "page_map_checked"),
            ("sys_ipc_send_recv", "sys_ipc_recv"),
        ] {
            assert!(has(f, r), "{f} ~ {r} not found: {found:?}");
        }
        // And the marked tree has none left.
        let cut = Cut::from(4);
        let texts: Vec<(String, Stubbed)> = cut_tree(&files, &cut)
            .unwrap()
            .into_iter()
            .filter_map(|(f, s)| s.map(|s| (f, s)))
            .collect();
        assert_eq!(similar_leaks(&texts, &cut, false).unwrap(), vec![]);
    }

    #[test]
    fn host_test_verdicts() {
        let out = "running 3 tests\n..F\npagelist::tests::lab2_walk --- FAILED\n\
                   test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 4 filtered out\n";
        // Lab 2's own test fails in the lab 2 handout: fine; later labs' were skipped.
        assert!(verify_host(2, false, 4, false, out).is_ok());
        // In the lab 3 handout, or a solved tree, it must not fail.
        assert!(verify_host(3, false, 4, false, out).is_err());
        assert!(verify_host(2, true, 4, false, out).is_err());
        // Later labs' tests must all be skipped: none ran, or too many were.
        let none_skipped = out.replace("4 filtered out", "0 filtered out");
        assert!(verify_host(2, false, 4, false, &none_skipped).is_err());
        assert!(verify_host(2, false, 3, false, out).is_err());
        assert!(verify_host(3, false, 0, false, &none_skipped.replace("lab2_", "lab3_")).is_ok());
        assert_eq!(test_lab("kdebug::tests::lab1_empty_tables"), Some(1));
        assert_eq!(test_lab("kdebug::tests::empty_tables"), None);
    }

    #[test]
    fn warnings_counted_once() {
        let out = "warning: unused variable: `va`\n  --> kern/pmap.rs:10:5\n   |\n\
                   warning: unused variable: `va`\n  --> kern/pmap.rs:10:5\n\
                   warning: unused variable: `va`\n  --> kern/pmap.rs:20:5\n\
                   warning: `kernel` (bin \"kernel\") generated 2 warnings\n";
        assert_eq!(distinct_warnings(out), 2);
    }

    #[test]
    fn lock_entry_dropped() {
        let lock = "version = 4\n\n[[package]]\nname = \"grade\"\nversion = \"0.1.0\"\n\n\
                    [[package]]\nname = \"kit\"\nversion = \"0.1.0\"\n\n\
                    [[package]]\nname = \"kitten\"\nversion = \"0.1.0\"\n";
        let out = drop_lock_package(lock, "kit");
        assert!(!out.contains("name = \"kit\"\n"));
        assert!(out.contains("name = \"grade\"") && out.contains("name = \"kitten\""));
        assert_eq!(
            out.len(),
            lock.len() - "[[package]]\nname = \"kit\"\nversion = \"0.1.0\"\n\n".len()
        );
    }

    #[test]
    fn parts() {
        assert_eq!(part_lab("Lab 4 Part B"), Some(4));
        assert_eq!(part_lab("Lab 1"), Some(1));
        assert_eq!(part_lab("Hostile"), None);
        assert_eq!(part_lab("Project"), None);
    }

    #[test]
    fn verdicts() {
        let r = "OK\tLab 1\tbacktrace count\nOK\tLab 1\tprintf\nFAIL\tLab 2\tPage management\n";
        assert!(verify(2, false, r).is_ok());
        // A lab 2 test that passes in the lab 2 handout: the stubs do not bite.
        let bad = r.replace("FAIL\tLab 2", "OK\tLab 2");
        assert!(
            verify(2, false, &bad)
                .unwrap_err()
                .contains("does not bite")
        );
        // An earlier lab's failure.
        let bad = r.replace("OK\tLab 1\tbacktrace", "FAIL\tLab 1\tbacktrace");
        assert!(
            verify(2, false, &bad)
                .unwrap_err()
                .contains("backtrace count (Lab 1) fails")
        );
        // Given tests must pass even in their own lab's handout.
        assert!(
            verify(
                1,
                false,
                "OK\tLab 1\tprintf\nFAIL\tLab 1\tbacktrace count\n"
            )
            .is_ok()
        );
        assert!(verify(1, false, "FAIL\tLab 1\tprintf\n").is_err());
        // ... of that lab only.
        let r4 = "OK\tLab 1\tx\nOK\tLab 2\tx\nOK\tLab 3\tx\nOK\tLab 4 Part B\t";
        assert!(verify(4, false, &format!("{r4}faultread\n")).is_ok());
        assert!(verify(4, false, &format!("{r4}printf\n")).is_err());
        // Solved: everything passes.
        assert!(verify(2, true, r).is_err());
        assert!(verify(2, true, &r.replace("FAIL", "OK")).is_ok());
        // Every lab must have run, and no later lab may.
        assert!(
            verify(3, false, r)
                .unwrap_err()
                .contains("no test of lab 3")
        );
        assert!(verify(1, false, r).unwrap_err().contains("should not run"));
        assert!(verify(1, false, "OK\tProject\tyield3\n").is_err());
        assert!(verify(1, false, "").is_err());
        assert!(verify(1, false, "maybe\tLab 1\tx\n").is_err());
    }
}
