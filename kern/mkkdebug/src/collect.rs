//! Reads what a backtrace needs from the unstripped kernel ELF: the functions (ELF symbol
//! table) and the address → file:line map (DWARF line programs), in the shape the table
//! encoder in `kern_logic::kdebug` takes.

use std::collections::HashMap;

use gimli::{EndianSlice, LittleEndian};
use kern_logic::kdebug::{FuncSym, LineRow, Tables};

use crate::elf::{self, Elf};
use crate::paths;

/// The collected tables, owning their strings.
#[derive(Debug, Default)]
pub struct Collected {
    pub funcs: Vec<FuncSym>,
    pub names: Vec<String>,
    pub files: Vec<String>,
    pub lines: Vec<LineRow>,
}

impl Collected {
    /// Runs `f` with the borrowed view the encoder takes.
    pub fn with_tables<T>(&self, f: impl FnOnce(&Tables<'_>) -> T) -> T {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        let files: Vec<&str> = self.files.iter().map(String::as_str).collect();
        f(&Tables {
            funcs: &self.funcs,
            names: &names,
            files: &files,
            lines: &self.lines,
        })
    }
}

/// A deduplicating string list: repeated names (generic functions demangle to the same text
/// once the hash is gone) are stored once.
#[derive(Default)]
struct Interner {
    list: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

fn addr32(addr: u64, what: &str) -> Result<u32, String> {
    u32::try_from(addr)
        .map_err(|_| format!("{what} at {addr:#x} is beyond 32 bits: not an i386 kernel?"))
}

/// Address ranges of the executable sections, by section index: only code there gets
/// functions and lines.
fn text_ranges(elf: &Elf<'_>) -> HashMap<usize, (u64, u64)> {
    elf.sections
        .iter()
        .enumerate()
        .filter(|(_, s)| s.flags & elf::SHF_EXECINSTR != 0 && s.size > 0)
        .map(|(i, s)| {
            (
                i,
                (u64::from(s.addr), u64::from(s.addr) + u64::from(s.size)),
            )
        })
        .collect()
}

/// Demangles a Rust symbol without its `::h0123…` hash (`{:#}`); other names pass unchanged.
pub fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

/// The functions: FUNC symbols in executable sections, plus untyped labels there (assembly
/// entry points such as the trap handlers, which `global_asm!` leaves as NOTYPE without a
/// size: they extend to the next symbol).
fn functions(elf: &Elf<'_>, names: &mut Interner) -> Result<Vec<FuncSym>, String> {
    let text = text_ranges(elf);
    // (address, preference rank, size, section end, name); lower rank wins among aliases.
    let mut syms = Vec::new();
    for sym in elf.symbols()? {
        let Some(&(_, sec_end)) = text.get(&usize::from(sym.shndx)) else {
            continue;
        };
        let kind_rank = match sym.kind {
            elf::STT_FUNC => 0,
            elf::STT_NOTYPE => 2,
            _ => continue,
        };
        let name = sym.name;
        // Assembler-local labels and mapping symbols say nothing to a reader.
        if name.is_empty() || name.starts_with(".L") || name.starts_with('$') {
            continue;
        }
        let rank = kind_rank + u8::from(sym.bind == elf::STB_LOCAL);
        syms.push((
            u64::from(sym.value),
            rank,
            u64::from(sym.size),
            sec_end,
            name,
        ));
    }
    syms.sort_by(|a, b| (a.0, a.1, a.4).cmp(&(b.0, b.1, b.4)));
    syms.dedup_by_key(|s| s.0);

    let mut funcs = Vec::with_capacity(syms.len());
    for (i, &(addr, _, size, sec_end, name)) in syms.iter().enumerate() {
        let size = if size > 0 {
            size
        } else {
            // An unsized label runs to the next symbol or the end of its section.
            let next = syms.get(i + 1).map_or(sec_end, |s| s.0.min(sec_end));
            next.saturating_sub(addr)
        };
        if size == 0 {
            continue;
        }
        let start = addr32(addr, "function")?;
        let size = u32::try_from(size).map_err(|_| format!("function {name} is too large"))?;
        funcs.push(FuncSym {
            start,
            size,
            name: names.intern(&demangle(name)),
        });
    }
    Ok(funcs)
}

/// One DWARF line sequence: rows (address, file, line) and the address where it ends.
struct Sequence {
    rows: Vec<(u64, u32, u32)>,
    end: u64,
}

type Reader<'a> = EndianSlice<'a, LittleEndian>;

/// The full path of file `index` of a line program, joined as DWARF says: the file's name,
/// under its include directory, under the compilation directory.
fn file_path(
    dwarf: &gimli::Dwarf<Reader<'_>>,
    unit: &gimli::Unit<Reader<'_>>,
    header: &gimli::LineProgramHeader<Reader<'_>>,
    index: u64,
) -> Option<String> {
    let file = header.file(index)?;
    let text = |v| {
        dwarf
            .attr_string(unit, v)
            .ok()
            .map(|r: Reader<'_>| r.to_string_lossy().into_owned())
    };
    let name = text(file.path_name())?;
    let dir = file.directory(header).and_then(text).unwrap_or_default();
    let comp_dir = unit
        .comp_dir
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    Some(paths::join(&[&comp_dir, &dir, &name]))
}

fn sequences(
    elf: &Elf<'_>,
    root: Option<&str>,
    files: &mut Interner,
) -> Result<Vec<Sequence>, String> {
    let load = |id: gimli::SectionId| -> Result<Reader<'_>, String> {
        let data = match elf.section_by_name(id.name()) {
            Some(s) if s.flags & elf::SHF_COMPRESSED != 0 => {
                return Err(format!(
                    "{} is compressed: link without --compress-debug-sections",
                    id.name()
                ));
            }
            Some(s) => elf.data(s)?,
            None => &[],
        };
        Ok(EndianSlice::new(data, LittleEndian))
    };
    let dwarf = gimli::Dwarf::load(load)?;
    let err = |e: gimli::Error| format!("DWARF: {e}");

    let mut seqs = Vec::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next().map_err(err)? {
        let unit = dwarf.unit(header).map_err(err)?;
        let Some(program) = unit.line_program.clone() else {
            continue;
        };
        // File indices are per unit; resolve each once.
        let mut file_ids: HashMap<u64, u32> = HashMap::new();
        let mut rows = program.rows();
        let mut current = Vec::new();
        while let Some((header, row)) = rows.next_row().map_err(err)? {
            if row.end_sequence() {
                let rows = std::mem::take(&mut current);
                if !rows.is_empty() {
                    seqs.push(Sequence {
                        rows,
                        end: row.address(),
                    });
                }
                continue;
            }
            let line = row
                .line()
                .map_or(0, |l| u32::try_from(l.get()).unwrap_or(u32::MAX));
            let file = if line == 0 {
                0
            } else if let Some(&id) = file_ids.get(&row.file_index()) {
                id
            } else {
                let path = file_path(&dwarf, &unit, header, row.file_index())
                    .map_or_else(|| "<unknown>".to_string(), |p| paths::shorten(&p, root));
                let id = files.intern(&path);
                file_ids.insert(row.file_index(), id);
                id
            };
            current.push((row.address(), file, line));
        }
    }
    Ok(seqs)
}

/// Appends a row, letting a later row at the same address replace the earlier one (DWARF's
/// zero-length rows, and a sequence starting where the previous one's end marker sits).
fn push_row(out: &mut Vec<LineRow>, row: LineRow) {
    while out.last().is_some_and(|last| last.addr >= row.addr) {
        out.pop();
    }
    out.push(row);
}

/// Flattens the sequences into one address-sorted row list: drops sequences outside the
/// executable sections (the linker leaves discarded functions' sequences at tombstone
/// addresses such as 0 or -1), ends each sequence with a line-0 row so the gap after it maps
/// to nothing, then keeps only rows whose location differs from the previous row's.
fn line_rows(text: &[(u64, u64)], mut seqs: Vec<Sequence>) -> Result<Vec<LineRow>, String> {
    let in_text = |a: u64| text.iter().any(|&(lo, hi)| (lo..hi).contains(&a));
    seqs.retain(|s| in_text(s.rows[0].0) && s.end > s.rows[0].0);
    seqs.sort_by_key(|s| s.rows[0].0);

    let mut resolved = Vec::new();
    for seq in &seqs {
        for &(addr, file, line) in &seq.rows {
            push_row(
                &mut resolved,
                LineRow {
                    addr: addr32(addr, "line row")?,
                    file,
                    line,
                },
            );
        }
        push_row(
            &mut resolved,
            LineRow {
                addr: addr32(seq.end, "line row")?,
                file: 0,
                line: 0,
            },
        );
    }

    let mut out: Vec<LineRow> = Vec::with_capacity(resolved.len());
    for row in resolved {
        let same = out
            .last()
            .is_some_and(|last| last.line == row.line && (row.line == 0 || last.file == row.file));
        if !same {
            out.push(row);
        }
    }
    Ok(out)
}

/// Collects functions and line rows from an ELF image. `root` is the workspace root used to
/// print the kernel's files repository-relative.
pub fn collect(data: &[u8], root: Option<&str>) -> Result<Collected, String> {
    let elf = Elf::parse(data)?;
    let mut names = Interner::default();
    let mut files = Interner::default();
    let funcs = functions(&elf, &mut names)?;
    let seqs = sequences(&elf, root, &mut files)?;
    let text: Vec<(u64, u64)> = text_ranges(&elf).into_values().collect();
    let lines = line_rows(&text, seqs)?;
    Ok(Collected {
        funcs,
        names: names.list,
        files: files.list,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demangles_without_hash() {
        assert_eq!(
            demangle("_ZN6kernel7monitor7monitor17h0123456789abcdefE"),
            "kernel::monitor::monitor"
        );
        assert_eq!(demangle("readline"), "readline");
        assert_eq!(
            demangle("_RNvCs1234_6kernel9i386_init"),
            "kernel::i386_init"
        );
    }

    fn row(addr: u32, file: u32, line: u32) -> LineRow {
        LineRow { addr, file, line }
    }

    #[test]
    fn later_rows_at_an_address_win() {
        let mut out = Vec::new();
        push_row(&mut out, row(10, 1, 5));
        push_row(&mut out, row(10, 1, 6));
        push_row(&mut out, row(12, 0, 0));
        push_row(&mut out, row(12, 2, 9));
        assert_eq!(out, [row(10, 1, 6), row(12, 2, 9)]);
    }

    #[test]
    fn sequences_flatten_sorted_deduplicated_and_gapped() {
        let seq = |rows: &[(u64, u32, u32)], end| Sequence {
            rows: rows.to_vec(),
            end,
        };
        let seqs = vec![
            // Second function, listed first: sorting puts it after the first.
            seq(&[(0x120, 1, 40), (0x124, 1, 40), (0x128, 1, 41)], 0x130),
            // A function the linker discarded: its sequence sits at the tombstone address 0.
            seq(&[(0x0, 1, 7), (0x8, 1, 8)], 0x10),
            // First function: ends exactly where the second starts (no gap row survives),
            // includes a line-0 row and a repeated location.
            seq(
                &[
                    (0x100, 0, 10),
                    (0x104, 0, 10),
                    (0x108, 0, 0),
                    (0x10c, 0, 11),
                ],
                0x120,
            ),
            // Tombstone -1 style (lld's for some sections) in a 32-bit image.
            seq(&[(0xffff_fff0, 1, 1)], 0xffff_fff8),
        ];
        let rows = line_rows(&[(0x100, 0x200)], seqs).unwrap();
        assert_eq!(
            rows,
            [
                row(0x100, 0, 10),
                row(0x108, 0, 0),
                row(0x10c, 0, 11),
                row(0x120, 1, 40),
                row(0x128, 1, 41),
                row(0x130, 0, 0),
            ]
        );
    }
}
