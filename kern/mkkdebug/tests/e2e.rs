//! End to end: link a small i386 ELF with debug info and a reserved `.kdebug` section (gcc -m32
//! and GNU ld, as the kernel's real build is not needed for this), patch it with mkkdebug, and
//! check `mkkdebug --dump` against binutils' addr2line for every byte of its code.
//!
//! Skipped (with a note) on a machine without gcc's 32-bit code generation or GNU ld.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SOURCE: &str = r#"
static int helper(int x)
{
	return x * 3 + 1;
}

int compute(int n)
{
	int s = 0;
	for (int i = 0; i < n; i++)
		s += helper(i);
	return s;
}

void entry(void)
{
	volatile int r = compute(5);
	(void)r;
	for (;;)
		;
}
"#;

/// A kernel-shaped link: code at 0xF0100000, then a loaded `.kdebug` of `capacity` bytes.
/// `contents` is what the section holds for the linker (`BYTE(0)` makes GNU ld emit PROGBITS).
fn linker_script(capacity: usize, contents: &str) -> String {
    format!(
        "ENTRY(entry)
SECTIONS {{
  . = 0xF0100000;
  .text : AT(0x100000) {{ *(.text .text.*) }}
  .rodata : {{ *(.rodata .rodata.*) }}
  . = ALIGN(0x1000);
  .kdebug : {{ __kdebug_start = .; {contents} . = __kdebug_start + {capacity:#x}; __kdebug_end = .; }}
  .data : {{ *(.data) }}
  .bss : {{ *(.bss) }}
  /DISCARD/ : {{ *(.eh_frame .note.GNU-stack .comment) }}
}}"
    )
}

/// A scratch workspace: `Cargo.toml` with `[workspace]`, `kern/t.c`, the object compiled from
/// inside it (so DWARF names `kern/t.c` under that directory, like a cargo build), and the
/// linked ELF at `obj/kern/kernel`. None if the toolchain is missing.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Option<Self> {
        let dir = std::env::temp_dir().join(format!("mkkdebug-e2e-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("kern")).unwrap();
        fs::create_dir_all(dir.join("obj/kern")).unwrap();
        fs::write(dir.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
        fs::write(dir.join("kern/t.c"), SOURCE).unwrap();
        let cc = Command::new("gcc")
            .current_dir(&dir)
            .args([
                "-m32",
                "-g",
                "-O1",
                "-ffreestanding",
                "-nostdinc",
                "-fno-pic",
            ])
            .args([
                "-fno-asynchronous-unwind-tables",
                "-c",
                "kern/t.c",
                "-o",
                "obj/kern/t.o",
            ])
            .output();
        if !cc.is_ok_and(|o| o.status.success()) {
            eprintln!("note: gcc -m32 unavailable, skipping the end-to-end test");
            let _ = fs::remove_dir_all(&dir);
            return None;
        }
        Some(Self { dir })
    }

    fn kernel(&self) -> PathBuf {
        self.dir.join("obj/kern/kernel")
    }

    /// Links the kernel; false if GNU ld is missing.
    fn link(&self, capacity: usize, contents: &str) -> bool {
        fs::write(
            self.dir.join("kernel.ld"),
            linker_script(capacity, contents),
        )
        .unwrap();
        let ld = Command::new("ld")
            .current_dir(&self.dir)
            .args([
                "-m",
                "elf_i386",
                "-T",
                "kernel.ld",
                "obj/kern/t.o",
                "-o",
                "obj/kern/kernel",
            ])
            .output();
        let ok = ld.is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("note: ld -m elf_i386 unavailable, skipping the end-to-end test");
        }
        ok
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn mkkdebug(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mkkdebug"))
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// `.text`'s address range, from `objdump -h` (binutils, like the linker used here).
fn text_range(elf: &Path) -> (u32, u32) {
    let out = Command::new("objdump")
        .args(["-h"])
        .arg(elf)
        .output()
        .unwrap();
    let line = text(&out.stdout)
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(".text"))
        .expect("objdump -h lists .text")
        .to_string();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let size = u32::from_str_radix(fields[2], 16).unwrap();
    let vma = u32::from_str_radix(fields[3], 16).unwrap();
    (vma, vma + size)
}

/// The FUNC symbols (start, size, name), from `nm -S`.
fn function_symbols(elf: &Path) -> Vec<(u32, u32, String)> {
    let out = Command::new("nm").arg("-S").arg(elf).output().unwrap();
    text(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (addr, size, kind, name) = (f.first()?, f.get(1)?, f.get(2)?, f.get(3)?);
            matches!(*kind, "T" | "t").then(|| {
                let hex = |s: &str| u32::from_str_radix(s, 16).unwrap();
                (hex(addr), hex(size), name.to_string())
            })
        })
        .collect()
}

#[test]
fn patches_and_matches_addr2line() {
    let Some(s) = Scratch::new("match") else {
        return;
    };
    if !s.link(0x10000, "BYTE(0);") {
        return;
    }
    let kernel = s.kernel();
    let k = kernel.to_str().unwrap();

    let before = fs::read(&kernel).unwrap();
    let out = mkkdebug(&["--dump", k]);
    assert!(
        !out.status.success(),
        "an unpatched (zero) section has no table"
    );
    assert!(
        text(&out.stderr).contains("holds no valid table"),
        "{}",
        text(&out.stderr)
    );

    let out = mkkdebug(&[k]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.contains("of 65536 bytes") && report.contains("2 functions"),
        "{report}"
    );

    // Only the section's bytes changed, and a second run writes the same bytes.
    let after = fs::read(&kernel).unwrap();
    assert_eq!(before.len(), after.len());
    let changed: Vec<usize> = (0..after.len())
        .filter(|&i| before[i] != after[i])
        .collect();
    assert!(!changed.is_empty());
    assert!(
        changed.iter().all(|&i| (0x2000..0x12000).contains(&i)),
        "bytes outside .kdebug changed"
    );
    assert!(mkkdebug(&[k]).status.success());
    assert_eq!(fs::read(&kernel).unwrap(), after, "not idempotent");

    let (start, end) = text_range(&kernel);
    let addrs: Vec<String> = (start - 4..end + 4).map(|a| format!("{a:x}")).collect();
    let mut args = vec!["--dump", k];
    args.extend(addrs.iter().map(String::as_str));
    let out = mkkdebug(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ours: Vec<String> = text(&out.stdout)
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    assert_eq!(ours.len(), addrs.len());

    let symbols = function_symbols(&kernel);
    assert_eq!(symbols.len(), 2, "helper is inlined at -O1: {symbols:?}");
    let Ok(reference) = Command::new("addr2line")
        .args(["-f", "-e", k])
        .args(&addrs)
        .output()
    else {
        eprintln!("note: addr2line unavailable, compared nothing");
        return;
    };
    let reference = text(&reference.stdout);
    let reference: Vec<&str> = reference.lines().collect();
    for (i, line) in ours.iter().enumerate() {
        let (func, loc) = (reference[2 * i], reference[2 * i + 1]);
        // addr2line: `/tmp/…/kern/t.c:10 (discriminator 1)`, or `??:0` / `??:?`.
        let loc = loc.split(" (").next().unwrap();
        let (file, lineno) = loc.rsplit_once(':').unwrap();
        let (addr, rest) = line.split_once(": ").unwrap();
        if file == "??" {
            assert!(
                rest.starts_with("<unknown>:0: "),
                "{addr}: ours {rest}, addr2line {loc}"
            );
        } else {
            assert!(file.ends_with("kern/t.c"), "{file}");
            assert!(
                rest.starts_with(&format!("kern/t.c:{lineno}: ")),
                "{addr}: ours {rest}, addr2line {loc}"
            );
        }
        // addr2line names the innermost inlined function; the table names the enclosing
        // symbol (what a backtrace wants), so check against the symbol table instead.
        let _ = func;
        let eip = u32::from_str_radix(addr, 16).unwrap();
        let name = rest.split(": ").nth(1).unwrap();
        match symbols
            .iter()
            .find(|(lo, size, _)| eip >= *lo && eip - lo < *size)
        {
            Some((lo, _, sym)) => assert_eq!(name, format!("{sym}+{}", eip - lo), "{addr}"),
            None => assert_eq!(name, "<unknown>+0", "{addr}"),
        }
    }
    // The offset printed is from the function's start, as JOS's `monitor+106`.
    let (lo, _, _) = symbols.iter().find(|(_, _, n)| n == "compute").unwrap();
    let at = |eip: u32| {
        ours.iter()
            .find(|l| l.starts_with(&format!("{eip:08x}: ")))
            .unwrap()
    };
    assert!(at(*lo).ends_with(": compute+0"), "{}", at(*lo));
    assert!(at(lo + 5).ends_with(": compute+5"), "{}", at(lo + 5));
}

#[test]
fn refuses_a_section_too_small() {
    let Some(s) = Scratch::new("small") else {
        return;
    };
    if !s.link(0x40, "BYTE(0);") {
        return;
    }
    let kernel = s.kernel();
    let before = fs::read(&kernel).unwrap();
    let out = mkkdebug(&[kernel.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("but the section holds 64"), "{err}");
    assert_eq!(
        fs::read(&kernel).unwrap(),
        before,
        "a failed run must not touch the file"
    );
}

#[test]
fn refuses_nobits_and_missing_sections() {
    let Some(s) = Scratch::new("nobits") else {
        return;
    };
    // GNU ld makes a contents-less section NOBITS (rust-lld makes it PROGBITS).
    if !s.link(0x1000, "") {
        return;
    }
    let k = s.kernel();
    let out = mkkdebug(&[k.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("NOBITS"),
        "{}",
        text(&out.stderr)
    );

    let obj = s.dir.join("obj/kern/t.o");
    let out = mkkdebug(&[obj.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no .kdebug section"),
        "{}",
        text(&out.stderr)
    );

    let out = mkkdebug(&[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("usage"));
}
