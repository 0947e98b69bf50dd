//! Source paths as a backtrace should print them: the kernel's own files relative to the
//! repository root (`kern/monitor.rs`, as JOS prints `kern/monitor.c`), the standard library's
//! from `library/` on, registry crates from their `name-version/` directory on. Short paths
//! keep the table small and the backtrace readable; they are display text, never opened.

use std::path::{Path, PathBuf};

/// Lexically normalizes a `/`-separated path: drops empty and `.` components and folds `..`
/// into its parent (DWARF paths are `comp_dir` + `include dir` + `file`, which can produce
/// `a/./b` or `a/x/../b`). Never touches the file system.
pub fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            // Above the root `..` is the root; in a relative path it must be kept.
            ".." if absolute => {}
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// Shortens a normalized absolute source path for display (see the module header). `root` is
/// the workspace root, normalized, without a trailing `/`.
pub fn shorten(path: &str, root: Option<&str>) -> String {
    let path = normalize(path);
    if let Some(rest) = root
        .and_then(|r| path.strip_prefix(r))
        .and_then(|r| r.strip_prefix('/'))
    {
        return rest.to_string();
    }
    // The standard library: `/rustc/<commit>/library/core/src/..` in a prebuilt sysroot,
    // `<sysroot>/lib/rustlib/src/rust/library/core/src/..` with build-std.
    if let Some(i) = path.find("/library/") {
        return path[i + 1..].to_string();
    }
    // Registry crates: `~/.cargo/registry/src/<index-hash>/<crate>-<version>/src/..`.
    if let Some(i) = path.find("/registry/src/") {
        let after_index = &path[i + "/registry/src/".len()..];
        if let Some(j) = after_index.find('/') {
            return after_index[j + 1..].to_string();
        }
    }
    // Git dependencies: `~/.cargo/git/checkouts/<name-hash>/<rev>/..`.
    if let Some(i) = path.find("/git/checkouts/") {
        return path[i + "/git/checkouts/".len()..].to_string();
    }
    path
}

/// Joins DWARF path pieces: each later piece replaces everything before it when absolute.
pub fn join(pieces: &[&str]) -> String {
    let mut out = String::new();
    for piece in pieces.iter().filter(|p| !p.is_empty()) {
        if piece.starts_with('/') || out.is_empty() {
            out = piece.to_string();
        } else {
            if !out.ends_with('/') {
                out.push('/');
            }
            out.push_str(piece);
        }
    }
    out
}

/// Whether `dir/Cargo.toml` declares a `[workspace]`.
fn is_workspace_root(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|toml| toml.lines().any(|l| l.trim() == "[workspace]"))
}

/// The workspace root the kernel was built in: the nearest ancestor of the ELF holding a
/// workspace `Cargo.toml` (the ELF lives in `target/…` or `obj/…` inside the repository),
/// else this tool's own workspace (the tool is built from the same repository).
pub fn find_root(elf: &Path) -> Option<PathBuf> {
    let elf = elf.canonicalize().ok()?;
    let from_elf = elf.ancestors().skip(1).find(|d| is_workspace_root(d));
    from_elf.map(Path::to_path_buf).or_else(|| {
        let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let built_in = built_in.canonicalize().ok()?;
        is_workspace_root(&built_in).then_some(built_in)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(normalize("/a/./b//c/../d"), "/a/b/d");
        assert_eq!(normalize("/../a"), "/a");
        assert_eq!(normalize("../a/../../b"), "../../b");
        assert_eq!(normalize("kern/./monitor.rs"), "kern/monitor.rs");
        assert_eq!(normalize("/"), "/");
    }

    #[test]
    fn workspace_files_become_repo_relative() {
        let root = Some("/work/main");
        assert_eq!(
            shorten("/work/main/kern/monitor.rs", root),
            "kern/monitor.rs"
        );
        assert_eq!(
            shorten("/work/main/kern/../inc/src/mmu.rs", root),
            "inc/src/mmu.rs"
        );
        // A sibling directory sharing the prefix is not inside the root.
        assert_eq!(shorten("/work/mainline/x.rs", root), "/work/mainline/x.rs");
        assert_eq!(shorten("/elsewhere/x.c", root), "/elsewhere/x.c");
        assert_eq!(shorten("/elsewhere/x.c", None), "/elsewhere/x.c");
    }

    #[test]
    fn library_and_registry_paths() {
        let root = Some("/work/main");
        assert_eq!(
            shorten(
                "/rustc/e50aa6fba4e63ab34c72bf9acfd2c307c1155d1a/library/core/src/fmt/mod.rs",
                root
            ),
            "library/core/src/fmt/mod.rs"
        );
        assert_eq!(
            shorten(
                "/root/.rustup/toolchains/nightly-2026-05-20-x86_64-unknown-linux-gnu/lib/rustlib/src/rust/library/core/src/panicking.rs",
                root
            ),
            "library/core/src/panicking.rs"
        );
        assert_eq!(
            shorten(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/spin-0.12.3/src/mutex.rs",
                root
            ),
            "spin-0.12.3/src/mutex.rs"
        );
        assert_eq!(
            shorten(
                "/root/.cargo/git/checkouts/x86-0123abcd/4567ef0/src/io.rs",
                root
            ),
            "x86-0123abcd/4567ef0/src/io.rs"
        );
    }

    #[test]
    fn joins_dwarf_pieces() {
        assert_eq!(
            join(&["/work/main", "kern/monitor.rs"]),
            "/work/main/kern/monitor.rs"
        );
        assert_eq!(
            join(&["/work/main", "kern", "monitor.rs"]),
            "/work/main/kern/monitor.rs"
        );
        assert_eq!(
            join(&["/work/main", "/rustc/x/library", "core/src/lib.rs"]),
            "/rustc/x/library/core/src/lib.rs"
        );
        assert_eq!(join(&["/work/main/", "", "a.rs"]), "/work/main/a.rs");
        assert_eq!(join(&["", "a.rs"]), "a.rs");
    }

    #[test]
    fn finds_this_workspace() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/paths.rs");
        let root = find_root(&here).unwrap();
        assert!(root.join("kern/mkkdebug").is_dir(), "{}", root.display());
    }
}
