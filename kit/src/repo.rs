//! `kit handout-repo`: the JOS workflow as a git repository, one branch per lab.
//!
//! Branch `lab1` holds the lab 1 handout; branch `labN` is committed on top of `lab(N-1)` and
//! adds what lab N brings: its chapter of the book, its `conf/lab.mk`, its README. A student
//! works on `lab1`, then `git checkout lab2 && git merge lab1` carries their own lab 1 code
//! into lab 2, as in JOS.
//!
//! By default (JOS's way) every branch stubs every lab, earlier ones included: the student's
//! earlier work arrives by the merge, and since the branches never touch the regions, the
//! merge is clean whatever the student wrote there. `--with-solutions` (a teacher's choice)
//! makes branch `labN` the lab N handout, with the reference solutions of labs < N: a student
//! who merges their own earlier code then gets a conflict in every region they wrote, and
//! takes either side.

use std::path::Path;
use std::process::Command;

use crate::{Spec, cut_checked, write_files};

const OUT: &str = "obj/handout-repo";
/// Marks a directory as a repository this tool wrote (inside .git: never committed).
const STAMP: &str = ".git/kit-handout-repo";

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "course kit")
        .env("GIT_AUTHOR_EMAIL", "kit@localhost")
        .env("GIT_COMMITTER_NAME", "course kit")
        .env("GIT_COMMITTER_EMAIL", "kit@localhost")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .map_err(|e| format!("git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {} failed in {}:\n{}{}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Write the repository into `out`: branches lab1..lab4.
pub fn write_repo(out: &Path, with_solutions: bool) -> Result<(), String> {
    if out.exists() {
        if !out.join(STAMP).exists() {
            return Err(format!(
                "{} exists and is not a handout repository: not touching it",
                out.display()
            ));
        }
        std::fs::remove_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    git(out, &["init", "-q"])?;
    std::fs::write(out.join(STAMP), b"").map_err(|e| format!("{e}"))?;
    for lab in crate::LABS {
        let spec = Spec {
            lab,
            all_stubbed: !with_solutions,
            ..Spec::default()
        };
        let (tree, _) = cut_checked(&spec)?;
        if lab == 1 {
            git(out, &["checkout", "-q", "-b", "lab1"])?;
        } else {
            git(out, &["checkout", "-q", "-b", &format!("lab{lab}")])?;
            // Files of the previous lab that this one does not have (none today: a lab only
            // adds its chapter) go.
            for f in git(out, &["ls-files"])?.lines() {
                if !tree.iter().any(|(t, _)| t == f) && f != "conf/lab.mk" {
                    git(out, &["rm", "-q", f])?;
                }
            }
        }
        write_files(&spec, &tree, out)?;
        git(out, &["add", "-A"])?;
        let msg = if lab == 1 {
            "Lab 1 handout".to_string()
        } else {
            format!("Lab {lab} handout: its chapter of the book, conf/lab.mk, README")
        };
        git(out, &["commit", "-q", "-m", &msg])?;
    }
    git(out, &["checkout", "-q", "lab1"])?;
    Ok(())
}

/// `kit handout-repo [--with-solutions] [--out DIR]`.
pub fn handout_repo(args: &[String]) -> Result<(), String> {
    let mut out = std::path::PathBuf::from(OUT);
    let mut with_solutions = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--with-solutions" => with_solutions = true,
            "--out" => out = it.next().ok_or("--out needs a directory")?.into(),
            _ => return Err(format!("unknown option {a}")),
        }
    }
    write_repo(&out, with_solutions)?;
    println!(
        "kit: handout repository in {} (branches lab1..lab4, {}); a student clones it, works \
         on lab1, then `git checkout lab2 && git merge lab1`",
        out.display(),
        if with_solutions {
            "each with the reference solutions of the earlier labs"
        } else {
            "every lab stubbed on every branch: earlier work comes by merging"
        }
    );
    Ok(())
}

/// The merge check: a simulated student fills lab 1 on `lab1` and commits; checks out `lab2`,
/// merges `lab1`, fills lab 2 and commits; checks out `lab3` and merges `lab2`. Both merges
/// must be clean and the result must be the lab 3 handout file for file, but for the kit's
/// warning allows (whose `make grade`
/// check-handouts runs: lab 1 and 2 pass there). With `grade`, the merged tree is also built
/// and its `make grade` must pass lab 2's tests (a build of its own: minutes).
pub fn check_merge(scratch: &Path, grade: bool) -> Result<String, String> {
    let dir = scratch.join("handout-repo");
    std::fs::create_dir_all(scratch).map_err(|e| format!("{e}"))?;
    write_repo(&dir, false)?;
    let regions = crate::all_regions()?;
    let labs = |ls: &[u32]| -> Vec<String> {
        regions
            .iter()
            .filter(|(_, r)| ls.contains(&r.lab) && !r.challenge)
            .map(|(_, r)| r.name.clone())
            .collect()
    };
    crate::fill_into(&labs(&[1]), &regions, &dir)?;
    git(&dir, &["commit", "-qam", "student: lab 1"])?;
    git(&dir, &["checkout", "-q", "lab2"])?;
    git(&dir, &["merge", "-q", "--no-edit", "lab1"])
        .map_err(|e| format!("merge lab1 into lab2: {e}"))?;
    crate::fill_into(&labs(&[1, 2]), &regions, &dir)?;
    git(&dir, &["commit", "-qam", "student: lab 2"])?;
    git(&dir, &["checkout", "-q", "lab3"])?;
    git(&dir, &["merge", "-q", "--no-edit", "lab2"])
        .map_err(|e| format!("merge lab2 into lab3: {e}"))?;

    // The merged tree is the lab 3 handout, byte for byte.
    let spec = Spec {
        lab: 3,
        ..Spec::default()
    };
    let (tree, _) = cut_checked(&spec)?;
    let want = scratch.join("handout-repo-lab3");
    if want.exists() {
        std::fs::remove_dir_all(&want).map_err(|e| format!("{e}"))?;
    }
    write_files(&spec, &tree, &want)?;
    // Compared without the kit's warning allows (`// the stubs'` lines): the branches carry
    // those of a tree with every lab stubbed, and a student's edit leaves them where they
    // are; they change no code.
    let code = |p: &Path| -> Option<Vec<String>> {
        let text = std::fs::read(p).ok()?;
        Some(
            String::from_utf8_lossy(&text)
                .lines()
                .filter(|l| !l.ends_with("// the stubs'"))
                .map(String::from)
                .collect(),
        )
    };
    let mut differ = Vec::new();
    for f in git(&dir, &["ls-files"])?.lines() {
        if code(&dir.join(f)) != code(&want.join(f)) {
            differ.push(f.to_string());
        }
    }
    let nfiles = git(&dir, &["ls-files"])?.lines().count();
    if nfiles != tree.len() + 1 {
        differ.push(format!(
            "{nfiles} files, the handout has {}",
            tree.len() + 1
        ));
    }
    if !differ.is_empty() {
        return Err(format!(
            "lab3 after the merges differs from the lab 3 handout: {}",
            differ.join(", ")
        ));
    }
    if !grade {
        return Ok(
            "lab1 -> lab2 -> lab3 merged cleanly, and the result is the lab 3 handout file for \
             file (but for the kit's warning allows)"
                .into(),
        );
    }
    std::os::unix::fs::symlink("../target", dir.join("target"))
        .map_err(|e| format!("symlink: {e}"))?;
    crate::build(&dir)?;
    let (results, _) = crate::grade(&dir, "lab 2")?;
    let mut lab2 = 0;
    for l in results.lines() {
        let mut f = l.split('\t');
        let (Some(status), Some(part), Some(name)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if part == "Lab 2" {
            if status != "OK" {
                return Err(format!("after the merges, lab 2's test {name} fails"));
            }
            lab2 += 1;
        }
    }
    if lab2 == 0 {
        return Err("no lab 2 test ran".into());
    }
    Ok(format!(
        "lab1 -> lab2 -> lab3 merged cleanly, the result is the lab 3 handout, {lab2} lab 2 \
         tests pass"
    ))
}
