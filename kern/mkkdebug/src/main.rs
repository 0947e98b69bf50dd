//! `mkkdebug`: fills the kernel's `.kdebug` section with the symbol and line table that the
//! kernel's `backtrace` decodes (format and decoder: `kern_logic::kdebug`).
//!
//! The kernel image on disk is a `--strip-debug` copy and the boot loader loads only PT_LOAD
//! segments, so the kernel cannot read its own DWARF. After linking, this tool reads the
//! unstripped ELF (symbol table, DWARF line programs), encodes a compact table and writes it
//! over the bytes of the `.kdebug` section the linker script reserved, in place: no size,
//! address or other byte of the file changes. Running it twice writes the same bytes.
//!
//! ```text
//! mkkdebug [--root DIR] KERNEL          patch KERNEL's .kdebug in place
//! mkkdebug --dump KERNEL [HEXADDR...]   decode KERNEL's .kdebug; look addresses up
//! ```
#![forbid(unsafe_code)]

mod collect;
mod elf;
mod paths;

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use elf::Elf;
use kern_logic::kdebug::{self, DebugInfo};

/// The section the kernel's linker script reserves for the table.
const SECTION: &str = ".kdebug";

const USAGE: &str =
    "usage: mkkdebug [--root DIR] KERNEL\n       mkkdebug --dump KERNEL [HEXADDR...]";

/// File offset and size of `.kdebug`, checked to be file-backed and loaded.
fn kdebug_range(elf: &Elf<'_>) -> Result<(u64, usize), String> {
    let sec = elf.section_by_name(SECTION).ok_or_else(|| {
        format!("no {SECTION} section: the kernel's linker script must reserve it")
    })?;
    if sec.kind == elf::SHT_NOBITS {
        return Err(format!(
            "{SECTION} has no bytes in the file (NOBITS): it must be a loaded PROGBITS \
             section, e.g. with BYTE(0) or FILL in the linker script"
        ));
    }
    let (offset, size) = (u64::from(sec.offset), u64::from(sec.size));
    // The table is useless if the boot loader does not copy it into memory.
    let loaded = elf.segments.iter().any(|seg| {
        let (start, len) = (u64::from(seg.offset), u64::from(seg.filesz));
        seg.kind == elf::PT_LOAD && start <= offset && offset + size <= start + len
    });
    if !loaded {
        return Err(format!(
            "{SECTION} is not inside a PT_LOAD segment: the kernel would not see it"
        ));
    }
    elf.data(sec)?;
    Ok((offset, sec.size as usize))
}

fn patch(path: &Path, root: Option<PathBuf>) -> Result<(), String> {
    let data = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let elf = Elf::parse(&data).map_err(|e| format!("{}: {e}", path.display()))?;
    let (offset, capacity) = kdebug_range(&elf)?;

    // Source paths in DWARF are absolute, so compare against an absolute root.
    let root = match root {
        Some(r) => Some(
            r.canonicalize()
                .map_err(|e| format!("{}: {e}", r.display()))?,
        ),
        None => paths::find_root(path),
    };
    let root = root.map(|r| paths::normalize(&r.to_string_lossy()));
    let tables = collect::collect(&data, root.as_deref())?;

    let mut section = vec![0u8; capacity];
    let len = tables
        .with_tables(|t| kdebug::encode(t, &mut section))
        .map_err(|e| match e {
            kdebug::EncodeError::TooLarge { .. } => format!(
                "{}: {e}: enlarge the {SECTION} reservation in the kernel",
                path.display()
            ),
            _ => format!("{}: {e}", path.display()),
        })?;
    // The decoder is what the kernel runs: make sure it accepts what we are about to write.
    if kdebug::parse(&section).is_none() {
        return Err("internal error: the encoded table does not parse".to_string());
    }

    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all_at(&section, offset)
        .map_err(|e| format!("{}: {e}", path.display()))?;

    println!(
        "mkkdebug: {}: {SECTION} table {len} of {capacity} bytes ({}%): {} functions, {} names, \
         {} files, {} line rows",
        path.display(),
        len * 100 / capacity.max(1),
        tables.funcs.len(),
        tables.names.len(),
        tables.files.len(),
        tables.lines.len(),
    );
    Ok(())
}

/// One lookup, printed as the kernel's backtrace prints its second line.
fn describe(info: &DebugInfo<'_>, eip: u32) -> String {
    match info.lookup(eip) {
        Some(i) => format!("{}:{}: {}+{}", i.file, i.line, i.fn_name, i.fn_offset(eip)),
        None => format!("{}:0: {}+0", kdebug::UNKNOWN, kdebug::UNKNOWN),
    }
}

fn dump(path: &Path, addrs: &[String]) -> Result<(), String> {
    let data = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let elf = Elf::parse(&data).map_err(|e| format!("{}: {e}", path.display()))?;
    let (offset, size) = kdebug_range(&elf)?;
    let section = &data[offset as usize..offset as usize + size];
    let info = kdebug::parse(section).ok_or_else(|| {
        format!(
            "{}: {SECTION} holds no valid table (was mkkdebug run on it?)",
            path.display()
        )
    })?;
    println!(
        "{SECTION}: {size} bytes, {} functions, {} files, {} line rows",
        info.func_count(),
        info.file_count(),
        info.row_count()
    );
    for addr in addrs {
        let digits = addr.trim_start_matches("0x");
        let eip = u32::from_str_radix(digits, 16).map_err(|_| format!("bad hex address {addr}"))?;
        println!("{eip:08x}: {}", describe(&info, eip));
    }
    Ok(())
}

fn run(args: &[String]) -> Result<(), String> {
    match args {
        [flag, elf, addrs @ ..] if flag == "--dump" => dump(Path::new(elf), addrs),
        [flag, root, elf] if flag == "--root" => patch(Path::new(elf), Some(PathBuf::from(root))),
        [elf] if !elf.starts_with('-') => patch(Path::new(elf), None),
        _ => Err(USAGE.to_string()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mkkdebug: error: {e}");
            ExitCode::FAILURE
        }
    }
}
