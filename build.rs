//! Kernel build script: link with kern/kernel.ld and embed the user programs.
//!
//! The Makefile builds the user programs first and passes their directory in `JOS_USER_DIR`;
//! every program of user/src/bin/ is then embedded (JOS's `ld -b binary`), each as a
//! `(name, bytes)` entry of the generated `USER_PROGRAMS` table. Without `JOS_USER_DIR` (e.g.
//! `cargo kclippy`) the table is empty.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let ld = root.join("kern/kernel.ld");
    println!("cargo:rustc-link-arg-bin=kernel=-T{}", ld.display());
    println!("cargo:rustc-link-arg-bin=kernel=-zmax-page-size=4096");
    println!("cargo:rerun-if-changed={}", ld.display());
    println!("cargo:rerun-if-env-changed=JOS_USER_DIR");
    println!("cargo:rerun-if-changed=user/src/bin");

    let mut names: Vec<String> = std::fs::read_dir(root.join("user/src/bin"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let p = e.path();
                    (p.extension()? == "rs").then(|| p.file_stem()?.to_str().map(String::from))?
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();

    let mut table = String::from("pub static USER_PROGRAMS: &[(&str, &[u8])] = &[\n");
    if let Ok(dir) = std::env::var("JOS_USER_DIR") {
        for name in &names {
            let bin = Path::new(&dir).join(name);
            if !bin.exists() {
                panic!(
                    "user program {} is missing: run `make` (it builds user/ first)",
                    bin.display()
                );
            }
            println!("cargo:rerun-if-changed={}", bin.display());
            writeln!(
                table,
                "    ({name:?}, include_bytes!({:?})),",
                bin.display().to_string()
            )
            .unwrap();
        }
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("user_programs.rs");
    std::fs::write(out, table).unwrap();
}
