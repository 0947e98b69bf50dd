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

use kit::{Cut, Stubbed};
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
        Some("list") => list(),
        Some("handout") => parse_lab(&args[1..]).and_then(|o| {
            let out = o
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("{HANDOUT_DIR}/lab{}", o.lab)));
            handout(o.lab, o.solved, &out).map(|_| ())
        }),
        Some("verify") => parse_lab(&args[1..]).and_then(|o| {
            let file = o.rest.first().ok_or("verify needs a results file")?;
            let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
            verify(o.lab, o.solved, &text).map(|summary| println!("{summary}"))
        }),
        Some("check-handouts") => check_handouts(&args[1..]),
        _ => Err(
            "usage: kit list | handout --lab N [--solved] [--out DIR] | \
                  verify --lab N [--solved] RESULTS | check-handouts [--labs 1,2,..] [--solved N]"
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
    out: Option<PathBuf>,
    rest: Vec<String>,
}

fn parse_lab(args: &[String]) -> Result<LabOpts, String> {
    let mut o = LabOpts {
        lab: 0,
        solved: false,
        out: None,
        rest: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--lab" => o.lab = lab_number(it.next())?,
            "--solved" => o.solved = true,
            "--out" => o.out = Some(it.next().ok_or("--out needs a directory")?.into()),
            _ => o.rest.push(a.clone()),
        }
    }
    if o.lab == 0 {
        return Err("--lab N (1..4) is required".into());
    }
    Ok(o)
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
fn cut_tree(files: &[String], cut: Cut) -> Result<Vec<(String, Option<Stubbed>)>, String> {
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

fn list() -> Result<(), String> {
    let files = tree_files()?;
    let mut rows = Vec::new();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let regions = kit::parse(&text).map_err(|e| format!("{f}:{}: {}", e.line, e.msg))?;
        for r in regions.into_iter().filter(|r| r.lab != 0) {
            rows.push((r.lab, format!("{f}:{}", r.line()), r.name, r.end - r.body));
        }
    }
    rows.sort();
    for (lab, at, name, n) in &rows {
        println!("LAB {lab}  {name:<28} {at:<28} {n:>4} lines");
    }
    for lab in LABS {
        let n = rows.iter().filter(|r| r.0 == lab).count();
        println!("lab {lab}: {n} regions");
    }
    Ok(())
}

/// Write the handout for `lab` into `out` (and `out`.tar.gz). With `solved`, only the regions
/// of later labs are stubbed: the tree a student has once lab `lab` is done.
fn handout(lab: u32, solved: bool, out: &Path) -> Result<PathBuf, String> {
    let files = tree_files()?;
    let cut = Cut {
        from: if solved { lab + 1 } else { lab },
    };
    let tree = cut_tree(&files, cut)?;

    // No solution may survive: checked before anything is written.
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

    if out.exists() {
        if !out.join(STAMP).exists() {
            return Err(format!(
                "{} exists and is not a handout: not touching it",
                out.display()
            ));
        }
        std::fs::remove_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    let w = |path: &Path, data: &[u8]| -> Result<(), String> {
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        std::fs::write(path, data).map_err(|e| format!("{}: {e}", path.display()))
    };
    let mut stubbed = 0;
    for (f, s) in &tree {
        let dst = out.join(f);
        match s {
            Some(s) => {
                let text = match f.as_str() {
                    "README.md" => readme_banner(&s.text, lab, solved),
                    "Cargo.lock" => drop_lock_package(&s.text, "kit"),
                    _ => s.text.clone(),
                };
                w(&dst, text.as_bytes())?;
                stubbed += s.stubbed.len();
            }
            None => w(&dst, &std::fs::read(f).map_err(|e| format!("{f}: {e}"))?)?,
        }
        let perm = std::fs::metadata(f)
            .map_err(|e| format!("{f}: {e}"))?
            .permissions();
        std::fs::set_permissions(&dst, perm).map_err(|e| format!("{}: {e}", dst.display()))?;
    }
    // JOS's conf/lab.mk: the Makefile's `grade` runs the tests of labs 1..LAB.
    w(
        &out.join("conf/lab.mk"),
        format!("# Written by the course kit: `make grade` runs labs 1..LAB.\nLAB={lab}\n")
            .as_bytes(),
    )?;
    w(&out.join(STAMP), b"")?;

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
    println!(
        "kit: lab {lab}{} handout in {} ({} files, {stubbed} regions stubbed, none of their \
         {nsecret} solution lines left), {}",
        if solved { " (solved)" } else { "" },
        out.display(),
        tree.len() + 1,
        tarball.display()
    );
    Ok(out.to_path_buf())
}

/// Cargo.lock without package `name`'s entry (the kit is not in the handout's workspace;
/// cargo would drop the entry itself at the first build, changing the student's lock file).
fn drop_lock_package(lock: &str, name: &str) -> String {
    let entry = format!("[[package]]\nname = \"{name}\"\n");
    lock.split_inclusive("\n\n")
        .filter(|block| !block.starts_with(&entry))
        .collect()
}

/// The handout's README starts by saying what it is.
fn readme_banner(text: &str, lab: u32, solved: bool) -> String {
    let labs = if lab == 1 {
        "lab 1".to_string()
    } else {
        format!("labs 1..{lab}")
    };
    let what = if solved {
        format!("the tree of a student who has finished lab {lab}")
    } else {
        format!(
            "the **lab {lab} handout**: the functions you write in this lab say \
             `LAB {lab}: Your code here` and stop the kernel with a `todo!` panic until you do; \
             `grep -rn \"LAB {lab}:\" kern lib` lists them"
        )
    };
    let banner = format!(
        "\n> This is {what}. `make grade` runs the tests of {labs} (`conf/lab.mk`); the parts of \
         this README about later labs describe where the course is going.\n"
    );
    match text.split_once('\n') {
        Some((first, rest)) => format!("{first}\n{banner}{rest}"),
        None => format!("{text}\n{banner}"),
    }
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

/// `make check-handouts`: for each lab, cut the handout, build it as a student would
/// (`make`), run its `make grade`, and verify the results. Handouts share one cargo target
/// directory (obj/handout/target) so the standard library is built once.
fn check_handouts(args: &[String]) -> Result<(), String> {
    let mut labs: Vec<u32> = LABS.to_vec();
    let mut solved: Vec<u32> = Vec::new();
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
            _ => return Err(format!("unknown option {a}")),
        }
    }
    let start = Instant::now();
    let target = Path::new(HANDOUT_DIR).join("target");
    std::fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
    let mut failures = Vec::new();
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
        let r = check_one(lab, solved, &dir);
        let secs = t.elapsed().as_secs();
        match r {
            Ok(summary) => println!("check-handouts: {name}: OK ({summary}) [{secs}s]"),
            Err(e) => {
                println!("check-handouts: {name}: FAIL [{secs}s]\n  {e}");
                failures.push(name);
            }
        }
    }
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

fn check_one(lab: u32, solved: bool, out: &Path) -> Result<String, String> {
    handout(lab, solved, out)?;
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
    let make = |args: &[&str]| -> Result<std::process::Output, String> {
        Command::new("make")
            .args(args)
            .current_dir(dir)
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .env_remove("MAKELEVEL")
            .output()
            .map_err(|e| format!("make: {e}"))
    };
    let built = make(&["-s"])?;
    let log = out.with_extension("log");
    let mut text = built.stdout.clone();
    text.extend_from_slice(&built.stderr);
    if !built.status.success() {
        return Err(format!(
            "the handout does not build:\n{}",
            String::from_utf8_lossy(&text)
        ));
    }
    let warnings = distinct_warnings(&String::from_utf8_lossy(&text));
    let results = std::fs::canonicalize(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .join("obj/grade-results.txt");
    let _ = std::fs::remove_file(&results);
    // The student's command; it fails (some tests fail by design), so only the results count.
    let graded = make(&[
        "grade",
        &format!("GRADEFLAGS=--results {}", results.display()),
    ])?;
    // The build and grade output, beside the handout, for whoever looks into a failure.
    text.extend_from_slice(&graded.stdout);
    text.extend_from_slice(&graded.stderr);
    std::fs::write(&log, &text).map_err(|e| format!("{}: {e}", log.display()))?;
    let results = std::fs::read_to_string(&results).map_err(|_| {
        format!(
            "make grade wrote no results (see {}):\n{}",
            log.display(),
            String::from_utf8_lossy(&graded.stdout)
        )
    })?;
    verify(lab, solved, &results).map(|s| format!("{s}; {warnings} build warnings"))
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
