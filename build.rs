//! Kernel build script: link with kern/kernel.ld and embed the user programs.
//!
//! The Makefile builds the user programs first and passes their directory in `JOS_USER_DIR`;
//! every program of user/src/bin/ is then embedded (JOS's `ld -b binary`), each as a
//! `(name, bytes)` entry of the generated `USER_PROGRAMS` table (the bytes in section
//! `.userprogs`, after the kernel's bss). Without `JOS_USER_DIR` (e.g.
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

    // Each program is a static in section `.userprogs`, which kern/kernel.ld places after the
    // bss: the kernel's own data (the boot stack among it) keeps its low JOS addresses however
    // many programs are embedded (lab 1's backtrace patterns expect ebp f01xxxxx).
    let mut statics = String::new();
    let mut table = String::from("pub static USER_PROGRAMS: &[(&str, &[u8])] = &[\n");
    if let Ok(dir) = std::env::var("JOS_USER_DIR") {
        for (k, name) in names.iter().enumerate() {
            let bin = Path::new(&dir).join(name);
            let Ok(meta) = std::fs::metadata(&bin) else {
                panic!(
                    "user program {} is missing: run `make` (it builds user/ first)",
                    bin.display()
                );
            };
            println!("cargo:rerun-if-changed={}", bin.display());
            writeln!(
                statics,
                "#[unsafe(link_section = \".userprogs\")]\nstatic USER_PROGRAM_{k}: [u8; {}] = *include_bytes!({:?});",
                meta.len(),
                bin.display().to_string()
            )
            .unwrap();
            writeln!(table, "    ({name:?}, &USER_PROGRAM_{k}),").unwrap();
        }
    }
    table.push_str("];\n");
    table.insert_str(0, &statics);
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("user_programs.rs");
    std::fs::write(out, table).unwrap();
}
