//! The lab book (`book/`, mdBook): its exercise cards, and the check that everything it names
//! exists.
//!
//! An exercise is a heading `### Exercise L.N: title` (lab L) followed by two lines:
//!
//! ```text
//! Regions: `page_alloc`, `page_free`
//! Tests: `Physical page allocator`          (or: Tests: none)
//! ```
//!
//! A `### Challenge L.N: title` heading has the same two lines (its regions are CHALLENGE
//! regions, its tests usually of the grader's Project part). `check` requires: every lab
//! region in exactly one exercise and every challenge region in a challenge; every test named
//! exists, an exercise's in its own lab; every file the book names in backquotes (a path with
//! a `/` or a known extension) and every function (`name()`, `Type::name()`) exists in the
//! tree. File paths and functions are checked mechanically so that a file that moves (env.rs
//! split into rooms) shows up as a failing check, not as a stale book.

use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone)]
pub struct Exercise {
    pub lab: u32,
    /// "2.1"
    pub id: String,
    pub challenge: bool,
    pub regions: Vec<String>,
    pub tests: Vec<String>,
}

pub struct Book {
    /// (path under book/src, text), in SUMMARY order, SUMMARY.md first.
    pub chapters: Vec<(String, String)>,
    pub exercises: Vec<Exercise>,
}

/// The backquoted spans of a line.
fn spans(line: &str) -> Vec<&str> {
    line.split('`').skip(1).step_by(2).collect()
}

impl Book {
    pub fn load(dir: &Path) -> Result<Book, String> {
        let src = dir.join("src");
        let summary = std::fs::read_to_string(src.join("SUMMARY.md"))
            .map_err(|e| format!("{}: {e}", src.join("SUMMARY.md").display()))?;
        let mut chapters = vec![("SUMMARY.md".to_string(), summary.clone())];
        for l in summary.lines() {
            let Some(target) = l.split("](").nth(1).and_then(|t| t.split(')').next()) else {
                continue;
            };
            let text = std::fs::read_to_string(src.join(target))
                .map_err(|e| format!("book/src/{target} (in SUMMARY.md): {e}"))?;
            chapters.push((target.to_string(), text));
        }
        let mut exercises = Vec::new();
        for (name, text) in &chapters {
            let lines: Vec<&str> = text.lines().collect();
            for (i, l) in lines.iter().enumerate() {
                let (challenge, rest) = if let Some(r) = l.strip_prefix("### Exercise ") {
                    (false, r)
                } else if let Some(r) = l.strip_prefix("### Challenge ") {
                    (true, r)
                } else {
                    continue;
                };
                let id = rest.split(':').next().unwrap_or("").trim().to_string();
                let lab: u32 = id
                    .split('.')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or(format!("book/src/{name}:{}: bad exercise id {id}", i + 1))?;
                let field = |key: &str| -> Result<Vec<String>, String> {
                    let line = lines[i + 1..]
                        .iter()
                        .take(3)
                        .find(|x| x.starts_with(key))
                        .ok_or(format!(
                            "book/src/{name}:{}: exercise {id} has no `{key}` line",
                            i + 1
                        ))?;
                    Ok(spans(line).into_iter().map(String::from).collect())
                };
                let (regions, tests) = (field("Regions:")?, field("Tests:")?);
                exercises.push(Exercise {
                    lab,
                    id,
                    challenge,
                    regions,
                    tests,
                });
            }
        }
        Ok(Book {
            chapters,
            exercises,
        })
    }
}

/// Whether a backquoted span names a file or directory of the tree.
fn is_path(s: &str) -> bool {
    const DIRS: [&str; 10] = [
        "kern/", "lib/", "user/", "inc/", "grade/", "boot/", "book/", "conf/", ".ci/", "kit/",
    ];
    const EXTS: [&str; 6] = [".rs", ".toml", ".ld", ".json", ".mk", ".md"];
    !s.contains(' ')
        && !s.contains('<')
        && !s.contains('*')
        && (DIRS.iter().any(|d| s.starts_with(d))
            || (EXTS.iter().any(|x| s.ends_with(x)) && s.contains('/')))
}

/// Whether a span names a function: `name()` or `Path::name()`.
fn function_name(s: &str) -> Option<&str> {
    let inner = s.strip_suffix("()")?;
    let name = inner.rsplit("::").next()?;
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && inner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    ok.then_some(name)
}

/// The grader's tests: (name, lab) for the lab parts, (name, 0) for Project and Hostile.
fn grader_tests() -> Result<Vec<(String, u32)>, String> {
    let out = Command::new("cargo")
        .args(["run", "--release", "-q", "-p", "grade", "--", "--list"])
        .output()
        .map_err(|e| format!("grade --list: {e}"))?;
    if !out.status.success() {
        return Err("grade --list failed".into());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            // `name<2+ spaces>part<2+ spaces>N pts ...`
            let mut cols = l.split("  ").map(str::trim).filter(|c| !c.is_empty());
            let name = cols.next()?.to_string();
            let part = cols.next()?;
            let lab = part
                .strip_prefix("Lab ")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            Some((name, lab))
        })
        .collect())
}

/// Every `fn name` of the tree's Rust files, and every global assembly label.
fn tree_functions(files: &[String]) -> std::collections::HashSet<String> {
    let mut names = std::collections::HashSet::new();
    for f in files.iter().filter(|f| f.ends_with(".rs")) {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for w in text.split("fn ").skip(1) {
            let n: String = w
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            names.insert(n);
        }
        for l in text.lines() {
            let t = l.trim().trim_start_matches('"');
            if let Some(label) = t.split(':').next()
                && t.contains(':')
                && !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                names.insert(label.to_string());
            }
        }
    }
    names
}

/// Everything the book names exists; the cards cover every region. With `build`, also build
/// it with mdbook when mdbook is installed (the Makefile's `book` target installs it).
pub fn check(book: &Book, build: bool) -> Result<String, String> {
    let files = crate::tree_files()?;
    let regions = crate::all_regions()?;
    let tests = grader_tests()?;
    let functions = tree_functions(&files);
    let mut wrong = Vec::new();
    for (r_file, r) in &regions {
        let n = book
            .exercises
            .iter()
            .filter(|e| e.challenge == r.challenge && e.regions.contains(&r.name))
            .count();
        if n != 1 {
            wrong.push(format!(
                "region {} ({r_file}) is in {n} {} of the book (must be 1)",
                r.name,
                if r.challenge {
                    "challenges"
                } else {
                    "exercises"
                }
            ));
        }
    }
    for e in &book.exercises {
        for name in &e.regions {
            match regions.iter().find(|(_, r)| r.name == *name) {
                None => wrong.push(format!("exercise {}: no region {name}", e.id)),
                Some((_, r)) if r.lab != e.lab || r.challenge != e.challenge => wrong.push(
                    format!("exercise {}: region {name} is of lab {}", e.id, r.lab),
                ),
                _ => {}
            }
        }
        for t in &e.tests {
            match tests.iter().find(|(n, _)| n == t) {
                None => wrong.push(format!("exercise {}: no grader test {t}", e.id)),
                Some((_, l)) if !e.challenge && *l != e.lab => wrong.push(format!(
                    "exercise {}: test {t} is not a lab {} test",
                    e.id, e.lab
                )),
                _ => {}
            }
        }
    }
    // The README's count of regions is the kit's (`kit list --summary`), not a hand count.
    let rows: Vec<(bool, u32, String, String, usize)> = regions
        .iter()
        .map(|(f, r)| (r.challenge, r.lab, f.clone(), r.name.clone(), 0))
        .collect();
    let count = crate::summary(&rows);
    let readme = std::fs::read_to_string("README.md").map_err(|e| format!("README.md: {e}"))?;
    if !readme.contains(&count) {
        wrong.push(format!(
            "README.md does not say `{count}` (kit list --summary)"
        ));
    }
    let mut npaths = 0;
    let mut nfns = 0;
    for (name, text) in &book.chapters {
        for (i, l) in text.lines().enumerate() {
            for s in spans(l) {
                if is_path(s) {
                    npaths += 1;
                    let p = s.trim_end_matches('/');
                    let generated = p == "conf/lab.mk";
                    if !generated && !Path::new(p).exists() {
                        wrong.push(format!("book/src/{name}:{}: no file {s}", i + 1));
                    }
                } else if let Some(f) = function_name(s) {
                    nfns += 1;
                    if !functions.contains(f) {
                        wrong.push(format!("book/src/{name}:{}: no function {s}", i + 1));
                    }
                }
            }
        }
    }
    let built = if build {
        build_html()?
    } else {
        "not built".to_string()
    };
    if !wrong.is_empty() {
        return Err(wrong.join("\n  "));
    }
    Ok(format!(
        "{} chapters, {} exercises and challenges covering {} regions, {npaths} file and \
         {nfns} function names checked; {built}",
        book.chapters.len() - 1,
        book.exercises.len(),
        regions.len()
    ))
}

/// Build the book with mdbook if it is installed.
fn build_html() -> Result<String, String> {
    let have = Command::new("mdbook")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        if std::env::var_os("CI").is_some() {
            return Err(
                "mdbook is not installed (CI must build the book: .ci/install-tools --book)".into(),
            );
        }
        return Ok("not built (no mdbook: `make book` installs it)".into());
    }
    // An absolute destination: mdbook 0.5 takes -d relative to the current directory.
    let dest = std::env::current_dir()
        .map_err(|e| format!("{e}"))?
        .join("obj/book");
    let out = Command::new("mdbook")
        .args(["build", "book", "-d"])
        .arg(&dest)
        .output()
        .map_err(|e| format!("mdbook: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "mdbook build failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok("built with mdbook into obj/book".into())
}

/// `kit book [--build]`: check the book (and build it).
pub fn check_cmd(args: &[String]) -> Result<(), String> {
    let book = Book::load(Path::new("book"))?;
    let build = args.iter().any(|a| a == "--build");
    println!("kit book: {}", check(&book, build)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_path("kern/pmap.rs") && is_path("lib/src/") && is_path("book/src/lab2.md"));
        assert!(!is_path("page_alloc") && !is_path("make run-<prog>-nox") && !is_path("obj/x"));
        assert_eq!(function_name("page_alloc()"), Some("page_alloc"));
        assert_eq!(function_name("FreeList::push()"), Some("push"));
        assert_eq!(function_name("f(x)"), None);
        assert_eq!(spans("a `b` c `d e`"), ["b", "d e"]);
    }
}
