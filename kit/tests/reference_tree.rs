//! The markers of the reference tree itself, checked on every `cargo test` (fast, no QEMU):
//! they parse, every lab has regions, and no handout would leak a solution line. (`make
//! check-handouts` goes on to build and grade the handouts.)

use std::path::{Path, PathBuf};

/// The tree's source and build files (what a handout is cut from, but found without git).
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable tree") {
        let p = e.expect("dir entry").path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if !["target", "obj", "kit", ".git"].contains(&name) {
                files(&p, out);
            }
        } else if [".rs", ".toml", ".md", ".ld", ".S"]
            .iter()
            .any(|x| name.ends_with(x))
            || ["Makefile", "run"].contains(&name)
        {
            out.push(p);
        }
    }
}

#[test]
fn reference_markers_cut_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut paths = Vec::new();
    files(&root, &mut paths);
    let texts: Vec<(String, String)> = paths
        .iter()
        .filter_map(|p| Some((p.display().to_string(), std::fs::read_to_string(p).ok()?)))
        .collect();
    let mut per_lab = [0usize; 5];
    for (name, text) in &texts {
        let regions = kit::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        for r in regions {
            per_lab[r.lab as usize] += 1;
        }
    }
    for (lab, n) in per_lab.iter().enumerate().skip(1) {
        assert!(*n > 0, "lab {lab} has no regions");
    }
    // Each handout: stubs as many regions as the labs >= n hold (minus those nested in
    // another stubbed region), and no solution line survives.
    for from in 1..=5 {
        let cut = kit::Cut::from(from);
        let stubbed: Vec<(String, kit::Stubbed)> = texts
            .iter()
            .map(|(n, t)| (n.clone(), kit::stub(t, &cut).expect("parsed above")))
            .collect();
        let leaks = kit::leaks(&stubbed);
        assert!(leaks.is_empty(), "lab {from} handout leaks: {leaks:?}");
        let n: usize = stubbed.iter().map(|(_, s)| s.stubbed.len()).sum();
        assert_eq!(n > 0, from <= 4, "lab {from}: {n} regions stubbed");
        if from <= 4 {
            assert!(!kit::secrets(&stubbed).is_empty());
        }
    }
}
