//! Kernel symbol and line tables for `backtrace` (JOS's kern/kdebug.c, `debuginfo_eip`).
//!
//! JOS links its stabs into the loaded image and walks them at run time. Our kernel is built with
//! DWARF, but the disk image carries a `--strip-debug` copy and the boot loader loads only PT_LOAD
//! segments, so the kernel cannot see its DWARF. Instead the kernel reserves a read-only, loaded
//! section `.kdebug` of fixed capacity, and after linking the host tool `mkkdebug` reads the
//! unstripped ELF (symbol table + DWARF line program), encodes the compact table defined here and
//! writes it into that section's bytes in place. The kernel decodes it with [`parse`] and
//! [`DebugInfo::lookup`], without allocating.
//!
//! Both halves of the format live in this file so that they cannot drift apart: the encoder
//! ([`encode`]) also needs no allocator (it writes into the section-sized buffer it is given), so
//! it builds for the kernel target too, and the round trip is tested here on the host.
//!
//! # Table format, version 1 (all integers little-endian)
//!
//! ```text
//! header (HEADER_LEN = 40 bytes, u32 each)
//!   0 magic "JKDB"        4 version (1)        8 total_len (header included)
//!  12 checksum: FNV-1a 32 over bytes [HEADER_LEN, total_len)
//!  16 nfuncs   20 nnames   24 nfiles   28 nrows   32 str_len   36 reserved (0)
//! funcs        nfuncs x 12 bytes: start u32, size u32, name u32 (index into the names)
//!              strictly increasing `start`
//! str_offs     (nfiles + nnames + 1) x u32: string i is str_data[off[i]..off[i+1]];
//!              strings 0..nfiles are file names, nfiles.. are function names
//! blocks       ceil(nrows / ROWS_PER_BLOCK) x 8 bytes: first row's address u32, byte offset of
//!              the block in `rows` u32
//! str_data     str_len bytes of UTF-8
//! rows         the line rows, ROWS_PER_BLOCK per block (fewer in the last), strictly increasing
//!              addresses. Each block restarts the delta state (line 0, no file), so a lookup
//!              binary-searches the blocks and decodes at most ROWS_PER_BLOCK rows. A row is
//!              uleb(address - previous address) (omitted for a block's first row, whose address
//!              is in the block index), then uleb(zigzag(line - previous line) << 1 | file
//!              changed), then uleb(file) if the file changed. A row covers addresses up to the
//!              next row; line 0 means "no source line" (code without line info, or the end of
//!              a DWARF sequence).
//! ```
//!
//! The checksum lets [`parse`] reject a section that was never filled (all zeros: a build that
//! skipped `mkkdebug`) or that was damaged; on top of that every read is bounds-checked, so no
//! input can make the decoder panic.

use core::str;

/// `"JKDB"`: JOS Kernel DeBug.
pub const MAGIC: [u8; 4] = *b"JKDB";
/// Bumped whenever the layout below changes, so an old kernel never misreads a new table.
pub const VERSION: u32 = 1;
/// Bytes in the fixed header.
pub const HEADER_LEN: usize = 40;
/// Line rows per independently decodable block: the linear part of a line lookup.
pub const ROWS_PER_BLOCK: usize = 32;
const FUNC_LEN: usize = 12;
const BLOCK_LEN: usize = 8;

/// What JOS prints when it knows nothing (`"<unknown>"` in `debuginfo_eip`).
pub const UNKNOWN: &str = "<unknown>";

/// One function for the encoder: `[start, start + size)` belongs to `names[name]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncSym {
    pub start: u32,
    pub size: u32,
    /// Index into [`Tables::names`]; one name can serve many functions (monomorphizations
    /// demangle to the same text once the hash is gone).
    pub name: u32,
}

/// One line-table row for the encoder: code from `addr` up to the next row comes from
/// `files[file]:line`; `line == 0` means "no source line" (and `file` is then ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineRow {
    pub addr: u32,
    pub file: u32,
    pub line: u32,
}

/// Everything the encoder writes. `funcs` must have strictly increasing `start`, `lines`
/// strictly increasing `addr`.
#[derive(Clone, Copy, Debug)]
pub struct Tables<'s> {
    pub funcs: &'s [FuncSym],
    pub names: &'s [&'s str],
    pub files: &'s [&'s str],
    pub lines: &'s [LineRow],
}

/// Why [`encode`] refused its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// `funcs[index].start` is not above the previous function's.
    FuncsUnsorted { index: usize },
    /// `lines[index].addr` is not above the previous row's.
    LinesUnsorted { index: usize },
    /// `funcs[index].name` is not an index into `names`.
    BadName { index: usize },
    /// `lines[index].file` is not an index into `files` (for a row with a line).
    BadFile { index: usize },
    /// The table does not fit the section: `needed` bytes, `capacity` available.
    TooLarge { needed: usize, capacity: usize },
    /// A count or offset does not fit the format's u32 fields.
    Overflow,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::FuncsUnsorted { index } => {
                write!(f, "function {index} does not start after the previous one")
            }
            Self::LinesUnsorted { index } => {
                write!(f, "line row {index} does not start after the previous one")
            }
            Self::BadName { index } => write!(f, "function {index} has no name string"),
            Self::BadFile { index } => write!(f, "line row {index} names no file"),
            Self::TooLarge { needed, capacity } => write!(
                f,
                "debug table needs {needed} bytes but the section holds {capacity}"
            ),
            Self::Overflow => write!(f, "debug table too large for 32-bit offsets"),
        }
    }
}

/// FNV-1a, 32 bit: tiny, no tables, and plenty to tell a real table from zeros or noise.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn zigzag(delta: i32) -> u32 {
    ((delta << 1) ^ (delta >> 31)) as u32
}

fn unzigzag(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

/// Output cursor. With no buffer it only counts, so one routine both sizes and writes the table.
struct Sink<'b> {
    buf: Option<&'b mut [u8]>,
    pos: usize,
}

impl Sink<'_> {
    fn bytes(&mut self, data: &[u8]) {
        if let Some(buf) = self.buf.as_deref_mut() {
            buf[self.pos..self.pos + data.len()].copy_from_slice(data);
        }
        self.pos += data.len();
    }

    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }

    fn uleb(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.bytes(&[byte]);
                return;
            }
            self.bytes(&[byte | 0x80]);
        }
    }
}

fn to_u32(v: usize) -> Result<u32, EncodeError> {
    u32::try_from(v).map_err(|_| EncodeError::Overflow)
}

/// Checks the input and writes every part of the table after the header into `sink`; returns
/// the header fields that depend on the data (`str_len`).
fn write_body(t: &Tables<'_>, sink: &mut Sink<'_>) -> Result<u32, EncodeError> {
    for (i, f) in t.funcs.iter().enumerate() {
        if i > 0 && f.start <= t.funcs[i - 1].start {
            return Err(EncodeError::FuncsUnsorted { index: i });
        }
        if f.name as usize >= t.names.len() {
            return Err(EncodeError::BadName { index: i });
        }
        sink.u32(f.start);
        sink.u32(f.size);
        sink.u32(f.name);
    }

    let mut off = 0usize;
    sink.u32(0);
    for s in t.files.iter().chain(t.names.iter()) {
        off += s.len();
        sink.u32(to_u32(off)?);
    }
    let str_len = to_u32(off)?;

    // The block index needs each block's byte offset in the row stream, which is only known
    // after encoding the rows: encode them once into a counting sink to lay the index out.
    let mut rows = Sink { buf: None, pos: 0 };
    for (b, block) in t.lines.chunks(ROWS_PER_BLOCK).enumerate() {
        sink.u32(block[0].addr);
        sink.u32(to_u32(rows.pos)?);
        write_block(t, b * ROWS_PER_BLOCK, block, &mut rows)?;
    }

    for s in t.files.iter().chain(t.names.iter()) {
        sink.bytes(s.as_bytes());
    }

    for (b, block) in t.lines.chunks(ROWS_PER_BLOCK).enumerate() {
        write_block(t, b * ROWS_PER_BLOCK, block, sink)?;
    }
    Ok(str_len)
}

fn write_block(
    t: &Tables<'_>,
    first: usize,
    block: &[LineRow],
    sink: &mut Sink<'_>,
) -> Result<(), EncodeError> {
    let (mut addr, mut line, mut file) = (0u32, 0u32, None);
    for (k, row) in block.iter().enumerate() {
        let index = first + k;
        if index > 0 && row.addr <= t.lines[index - 1].addr {
            return Err(EncodeError::LinesUnsorted { index });
        }
        // A row without a line has no meaningful file: store it as file 0 (or as "unchanged")
        // so that it costs one byte more than the address delta.
        let row_file = if row.line == 0 {
            file.unwrap_or(0)
        } else if (row.file as usize) < t.files.len() {
            row.file
        } else {
            return Err(EncodeError::BadFile { index });
        };
        if k > 0 {
            sink.uleb(u64::from(row.addr - addr));
        }
        let changed = file != Some(row_file);
        let delta = zigzag(row.line.wrapping_sub(line) as i32);
        sink.uleb(u64::from(delta) << 1 | u64::from(changed));
        if changed {
            sink.uleb(u64::from(row_file));
        }
        (addr, line, file) = (row.addr, row.line, Some(row_file));
    }
    Ok(())
}

/// The exact size [`encode`] would produce for `t`, after checking the input.
pub fn encoded_len(t: &Tables<'_>) -> Result<usize, EncodeError> {
    let mut sink = Sink {
        buf: None,
        pos: HEADER_LEN,
    };
    write_body(t, &mut sink)?;
    Ok(sink.pos)
}

/// Encodes `t` into the start of `out` (the section's bytes) and zero-fills the rest of `out`,
/// so that re-running the tool on the same input writes identical bytes. Returns the table's
/// length. Fails without touching `out` if the input is malformed or does not fit.
pub fn encode(t: &Tables<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
    let needed = encoded_len(t)?;
    if needed > out.len() {
        return Err(EncodeError::TooLarge {
            needed,
            capacity: out.len(),
        });
    }
    let (table, rest) = out.split_at_mut(needed);
    rest.fill(0);
    let mut sink = Sink {
        buf: Some(table),
        pos: HEADER_LEN,
    };
    let str_len = write_body(t, &mut sink)?;
    debug_assert_eq!(sink.pos, needed);

    let checksum = fnv1a(&table[HEADER_LEN..]);
    let header = [
        u32::from_le_bytes(MAGIC),
        VERSION,
        to_u32(needed)?,
        checksum,
        to_u32(t.funcs.len())?,
        to_u32(t.names.len())?,
        to_u32(t.files.len())?,
        to_u32(t.lines.len())?,
        str_len,
        0,
    ];
    for (i, v) in header.iter().enumerate() {
        table[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    Ok(needed)
}

/// What [`DebugInfo::lookup`] knows about one instruction address (JOS's `struct Eipdebuginfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EipInfo<'a> {
    /// Source file of the line row covering the address, or [`UNKNOWN`].
    pub file: &'a str,
    /// Source line, or 0 if unknown.
    pub line: u32,
    /// Demangled function name without its hash, or [`UNKNOWN`].
    pub fn_name: &'a str,
    /// Start of the function; the address itself when the function is unknown (as JOS).
    pub fn_addr: u32,
}

impl EipInfo<'_> {
    /// Offset of `eip` from the function's start, the `+106` in `monitor+106`.
    pub fn fn_offset(&self, eip: u32) -> u32 {
        eip.wrapping_sub(self.fn_addr)
    }
}

fn read_u32(bytes: &[u8], off: usize) -> Option<u32> {
    let b = bytes.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a ULEB128 of at most 64 bits at `*pos`, advancing it; None on truncation or overflow.
fn read_uleb(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        let bits = u64::from(byte & 0x7f);
        if shift == 63 && bits > 1 {
            return None;
        }
        v |= bits << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Index of the first element for which `is_before` is false, over `n` elements where
/// `is_before` holds for a prefix (the slice `partition_point`, over records in raw bytes).
fn partition_point(n: usize, mut is_before: impl FnMut(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if is_before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// A validated view of a `.kdebug` table. Cheap to build and to copy; holds only slices.
#[derive(Clone, Copy, Debug)]
// Handouts: until lab 1's line search is written, nothing reads the line table's fields.
// HANDOUT: #[allow(dead_code)]
pub struct DebugInfo<'a> {
    funcs: &'a [u8],
    str_offs: &'a [u8],
    blocks: &'a [u8],
    str_data: &'a [u8],
    rows: &'a [u8],
    nfuncs: usize,
    nfiles: usize,
    nstrings: usize,
    nrows: usize,
    nblocks: usize,
}

/// Parses the bytes of a `.kdebug` section (see [`DebugInfo::parse`]).
pub fn parse(bytes: &[u8]) -> Option<DebugInfo<'_>> {
    DebugInfo::parse(bytes)
}

impl<'a> DebugInfo<'a> {
    /// Checks the header, the checksum and that every region lies inside `bytes` (which may be
    /// longer than the table: the whole section). None for a never-filled (zero) section, for
    /// a different format version, and for anything damaged.
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let hdr = |i: usize| read_u32(bytes, i * 4).map(|v| v as usize);
        if bytes.get(..4)? != MAGIC || hdr(1)? != VERSION as usize {
            return None;
        }
        let total = hdr(2)?;
        if total < HEADER_LEN || total > bytes.len() {
            return None;
        }
        let table = &bytes[..total];
        if fnv1a(&table[HEADER_LEN..]) != hdr(3)? as u32 {
            return None;
        }
        let (nfuncs, nnames, nfiles, nrows, str_len) =
            (hdr(4)?, hdr(5)?, hdr(6)?, hdr(7)?, hdr(8)?);
        let nstrings = nfiles.checked_add(nnames)?;
        let nblocks = nrows.div_ceil(ROWS_PER_BLOCK);

        // Carve the regions in order; each must lie inside the table.
        let mut rest = &table[HEADER_LEN..];
        let mut take = |len: usize| -> Option<&'a [u8]> {
            let (head, tail) = rest.split_at_checked(len)?;
            rest = tail;
            Some(head)
        };
        let funcs = take(nfuncs.checked_mul(FUNC_LEN)?)?;
        let str_offs = take(nstrings.checked_add(1)?.checked_mul(4)?)?;
        let blocks = take(nblocks.checked_mul(BLOCK_LEN)?)?;
        let str_data = take(str_len)?;
        // Whatever follows the strings, up to total_len, is the row stream.
        let rows = rest;
        Some(Self {
            funcs,
            str_offs,
            blocks,
            str_data,
            rows,
            nfuncs,
            nfiles,
            nstrings,
            nrows,
            nblocks,
        })
    }

    /// Number of functions in the table.
    pub fn func_count(&self) -> usize {
        self.nfuncs
    }

    /// Number of line rows in the table.
    pub fn row_count(&self) -> usize {
        self.nrows
    }

    /// Number of distinct source files in the table.
    pub fn file_count(&self) -> usize {
        self.nfiles
    }

    /// String `i` of the pool; None if its offsets are out of range or it is not UTF-8.
    fn string(&self, i: usize) -> Option<&'a str> {
        if i >= self.nstrings {
            return None;
        }
        let start = read_u32(self.str_offs, i * 4)? as usize;
        let end = read_u32(self.str_offs, (i + 1) * 4)? as usize;
        str::from_utf8(self.str_data.get(start..end)?).ok()
    }

    /// The function containing `eip`: its start address and name.
    pub fn function(&self, eip: u32) -> Option<(u32, &'a str)> {
        let start = |i: usize| read_u32(self.funcs, i * FUNC_LEN);
        let n = partition_point(self.nfuncs, |i| start(i).is_some_and(|s| s <= eip));
        let i = n.checked_sub(1)?;
        let rec = i * FUNC_LEN;
        let (start, size) = (read_u32(self.funcs, rec)?, read_u32(self.funcs, rec + 4)?);
        // `start <= eip` holds for a sorted table; checked_sub keeps a damaged one harmless.
        if eip.checked_sub(start)? >= size {
            return None;
        }
        let name = read_u32(self.funcs, rec + 8)? as usize;
        Some((start, self.string(self.nfiles.checked_add(name)?)?))
    }

    /// The source location of `eip`: the line row covering it. None if no row covers it or
    /// the covering row has no line (line 0).
    pub fn line(&self, eip: u32) -> Option<(&'a str, u32)> {
        // LAB 1: BEGIN debuginfo-line
        // HINT: The line table (see `encode`) is split in blocks of ROWS_PER_BLOCK rows, each
        // HINT: starting at an address given in `blocks`: binary-search the block
        // HINT: (partition_point), then decode its rows (uleb address deltas, zigzag line deltas, a
        // HINT: new file when bit 0 is set) up to eip.
        // STUB: let _ = eip;
        // STUB: todo!("LAB 1: debuginfo-line")
        let block_addr = |b: usize| read_u32(self.blocks, b * BLOCK_LEN);
        let n = partition_point(self.nblocks, |b| block_addr(b).is_some_and(|a| a <= eip));
        let b = n.checked_sub(1)?;
        let mut addr = block_addr(b)?;
        let mut pos = read_u32(self.blocks, b * BLOCK_LEN + 4)? as usize;
        let count = (self.nrows - b * ROWS_PER_BLOCK).min(ROWS_PER_BLOCK);

        let (mut line, mut file) = (0u32, 0u32);
        let mut found = None;
        for k in 0..count {
            if k > 0 {
                let delta = u32::try_from(read_uleb(self.rows, &mut pos)?).ok()?;
                addr = addr.checked_add(delta)?;
                if addr > eip {
                    break;
                }
            }
            let v = read_uleb(self.rows, &mut pos)?;
            line = line.wrapping_add(unzigzag(u32::try_from(v >> 1).ok()?) as u32);
            if v & 1 != 0 {
                file = u32::try_from(read_uleb(self.rows, &mut pos)?).ok()?;
            }
            found = Some((file, line));
        }
        let (file, line) = found?;
        if line == 0 {
            return None;
        }
        let file = file as usize;
        Some((
            if file < self.nfiles {
                self.string(file)?
            } else {
                return None;
            },
            line,
        ))
        // LAB 1: END debuginfo-line
    }

    /// JOS's `debuginfo_eip`: everything known about `eip`, with `"<unknown>"` fallbacks for
    /// the part that is not known; None only if neither a function nor a line covers it.
    pub fn lookup(&self, eip: u32) -> Option<EipInfo<'a>> {
        let func = self.function(eip);
        let line = self.line(eip);
        if func.is_none() && line.is_none() {
            return None;
        }
        let (fn_addr, fn_name) = func.unwrap_or((eip, UNKNOWN));
        let (file, line) = line.unwrap_or((UNKNOWN, 0));
        Some(EipInfo {
            file,
            line,
            fn_name,
            fn_addr,
        })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec;
    use std::vec::Vec;

    const NAMES: [&str; 3] = ["i386_init", "kernel::monitor::monitor", "core::fmt::write"];
    const FILES: [&str; 3] = [
        "kern/init.rs",
        "kern/monitor.rs",
        "library/core/src/fmt/mod.rs",
    ];

    fn funcs() -> Vec<FuncSym> {
        vec![
            FuncSym {
                start: 0xf010_0000,
                size: 0x40,
                name: 0,
            },
            FuncSym {
                start: 0xf010_0040,
                size: 0x100,
                name: 1,
            },
            // A gap of 0x10 bytes (alignment padding) before the next function.
            FuncSym {
                start: 0xf010_0150,
                size: 0x30,
                name: 2,
            },
            // A second monomorphization sharing the same demangled name.
            FuncSym {
                start: 0xf010_0180,
                size: 0x20,
                name: 2,
            },
        ]
    }

    fn lines() -> Vec<LineRow> {
        let mut rows = vec![
            LineRow {
                addr: 0xf010_0000,
                file: 0,
                line: 10,
            },
            LineRow {
                addr: 0xf010_0008,
                file: 0,
                line: 12,
            },
            LineRow {
                addr: 0xf010_0040,
                file: 1,
                line: 143,
            },
            LineRow {
                addr: 0xf010_0050,
                file: 1,
                line: 120,
            },
            LineRow {
                addr: 0xf010_0140,
                file: 0,
                line: 0,
            },
            LineRow {
                addr: 0xf010_0150,
                file: 2,
                line: 1000,
            },
        ];
        // Enough rows to span several blocks, with lines going up and down.
        for i in 0..200u32 {
            rows.push(LineRow {
                addr: 0xf010_0160 + i,
                file: i % 3,
                line: 500 + (i * 37) % 101,
            });
        }
        rows.push(LineRow {
            addr: 0xf010_0160 + 200,
            file: 0,
            line: 0,
        });
        rows
    }

    fn build(funcs: &[FuncSym], lines: &[LineRow], cap: usize) -> Vec<u8> {
        let t = Tables {
            funcs,
            names: &NAMES,
            files: &FILES,
            lines,
        };
        let mut out = vec![0xaau8; cap];
        let n = encode(&t, &mut out).unwrap();
        assert_eq!(n, encoded_len(&t).unwrap());
        assert!(out[n..].iter().all(|&b| b == 0), "tail must be zeroed");
        out
    }

    /// The reference answer: a linear scan over the unencoded rows.
    fn expected_line(lines: &[LineRow], eip: u32) -> Option<(&'static str, u32)> {
        let row = lines.iter().rev().find(|r| r.addr <= eip)?;
        (row.line != 0).then(|| (FILES[row.file as usize], row.line))
    }

    #[test]
    fn lab1_round_trip_every_address() {
        let (f, l) = (funcs(), lines());
        let bytes = build(&f, &l, 4096);
        let info = parse(&bytes).unwrap();
        assert_eq!(
            (info.func_count(), info.row_count(), info.file_count()),
            (4, l.len(), 3)
        );
        for eip in 0xf00f_fff0..0xf010_0240 {
            assert_eq!(info.line(eip), expected_line(&l, eip), "eip {eip:x}");
            let func = f.iter().find(|s| s.start <= eip && eip - s.start < s.size);
            assert_eq!(
                info.function(eip),
                func.map(|s| (s.start, NAMES[s.name as usize])),
                "eip {eip:x}"
            );
        }
    }

    #[test]
    fn function_boundaries() {
        let bytes = build(&funcs(), &lines(), 4096);
        let info = parse(&bytes).unwrap();
        let m = |eip| info.function(eip);
        assert_eq!(m(0xefff_ffff), None, "before any function");
        assert_eq!(
            m(0xf010_0000),
            Some((0xf010_0000, "i386_init")),
            "first byte"
        );
        assert_eq!(
            m(0xf010_003f),
            Some((0xf010_0000, "i386_init")),
            "last byte"
        );
        assert_eq!(
            m(0xf010_0040),
            Some((0xf010_0040, "kernel::monitor::monitor"))
        );
        assert_eq!(
            m(0xf010_013f),
            Some((0xf010_0040, "kernel::monitor::monitor"))
        );
        assert_eq!(m(0xf010_0140), None, "padding between functions");
        assert_eq!(m(0xf010_019f), Some((0xf010_0180, "core::fmt::write")));
        assert_eq!(m(0xf010_01a0), None, "after the last function");
        assert_eq!(m(u32::MAX), None);
        assert_eq!(m(0), None);
    }

    #[test]
    fn lab1_lookup_fallbacks_like_jos() {
        let bytes = build(&funcs(), &lines(), 4096);
        let info = parse(&bytes).unwrap();
        let hit = info.lookup(0xf010_00aa).unwrap();
        assert_eq!(
            hit,
            EipInfo {
                file: "kern/monitor.rs",
                line: 120,
                fn_name: "kernel::monitor::monitor",
                fn_addr: 0xf010_0040
            }
        );
        assert_eq!(hit.fn_offset(0xf010_00aa), 0x6a);
        // In a function, but in a line-0 row: the location is unknown.
        let noline = info.lookup(0xf010_0141);
        assert_eq!(noline, None, "padding: neither function nor line");
        let nofunc_rows = [LineRow {
            addr: 0x1000,
            file: 1,
            line: 7,
        }];
        let bytes = build(&funcs(), &nofunc_rows, 4096);
        let info = parse(&bytes).unwrap();
        assert_eq!(
            info.lookup(0x1004),
            Some(EipInfo {
                file: "kern/monitor.rs",
                line: 7,
                fn_name: UNKNOWN,
                fn_addr: 0x1004
            })
        );
        assert_eq!(
            info.lookup(0xf010_0001),
            Some(EipInfo {
                file: "kern/monitor.rs",
                line: 7,
                fn_name: "i386_init",
                fn_addr: 0xf010_0000
            }),
            "the last row covers everything after it"
        );
        assert_eq!(info.lookup(0xfff), None);
    }

    #[test]
    fn lab1_empty_tables() {
        let bytes = build(&[], &[], 256);
        let info = parse(&bytes).unwrap();
        assert_eq!(info.lookup(0xf010_0000), None);
        assert_eq!(info.lookup(0), None);
    }

    #[test]
    fn zeroed_section_is_not_a_table() {
        assert!(parse(&[0u8; 4096]).is_none());
        assert!(parse(&[]).is_none());
    }

    #[test]
    fn encoder_rejects_bad_input() {
        let t = |funcs, lines| Tables {
            funcs,
            names: &NAMES,
            files: &FILES,
            lines,
        };
        let mut out = [0u8; 4096];
        let f = [
            FuncSym {
                start: 2,
                size: 1,
                name: 0,
            },
            FuncSym {
                start: 2,
                size: 1,
                name: 0,
            },
        ];
        assert_eq!(
            encode(&t(&f, &[]), &mut out),
            Err(EncodeError::FuncsUnsorted { index: 1 })
        );
        let f = [FuncSym {
            start: 2,
            size: 1,
            name: 3,
        }];
        assert_eq!(
            encode(&t(&f, &[]), &mut out),
            Err(EncodeError::BadName { index: 0 })
        );
        let l = [
            LineRow {
                addr: 5,
                file: 0,
                line: 1,
            },
            LineRow {
                addr: 4,
                file: 0,
                line: 1,
            },
        ];
        assert_eq!(
            encode(&t(&[], &l), &mut out),
            Err(EncodeError::LinesUnsorted { index: 1 })
        );
        let l = [LineRow {
            addr: 5,
            file: 3,
            line: 1,
        }];
        assert_eq!(
            encode(&t(&[], &l), &mut out),
            Err(EncodeError::BadFile { index: 0 })
        );
        // A line-0 row may carry any file: it is not stored.
        let l = [LineRow {
            addr: 5,
            file: 99,
            line: 0,
        }];
        assert!(encode(&t(&[], &l), &mut out).is_ok());

        let (f, l) = (funcs(), lines());
        let needed = encoded_len(&t(&f, &l)).unwrap();
        let mut small = vec![0x55u8; needed - 1];
        assert_eq!(
            encode(&t(&f, &l), &mut small),
            Err(EncodeError::TooLarge {
                needed,
                capacity: needed - 1
            })
        );
        assert!(
            small.iter().all(|&b| b == 0x55),
            "a failed encode leaves the buffer alone"
        );
        let mut exact = vec![0u8; needed];
        assert_eq!(encode(&t(&f, &l), &mut exact), Ok(needed));
    }

    #[test]
    fn lab1_extreme_values_round_trip() {
        let names = ["x"];
        let files = ["a.rs"];
        let funcs = [
            FuncSym {
                start: 0,
                size: 1,
                name: 0,
            },
            FuncSym {
                start: u32::MAX - 1,
                size: 2,
                name: 0,
            },
        ];
        let lines = [
            LineRow {
                addr: 0,
                file: 0,
                line: u32::MAX,
            },
            LineRow {
                addr: 1,
                file: 0,
                line: 1,
            },
            LineRow {
                addr: u32::MAX,
                file: 0,
                line: 0x8000_0000,
            },
        ];
        let t = Tables {
            funcs: &funcs,
            names: &names,
            files: &files,
            lines: &lines,
        };
        let mut out = [0u8; 256];
        encode(&t, &mut out).unwrap();
        let info = parse(&out).unwrap();
        assert_eq!(info.line(0), Some(("a.rs", u32::MAX)));
        assert_eq!(info.line(0x7fff_ffff), Some(("a.rs", 1)));
        assert_eq!(info.line(u32::MAX), Some(("a.rs", 0x8000_0000)));
        assert_eq!(info.function(u32::MAX), Some((u32::MAX - 1, "x")));
        assert_eq!(info.function(0), Some((0, "x")));
    }

    /// Every lookup on a parsed view must be panic-free whatever the bytes are: exercised on
    /// views whose checksum we recompute after damaging the body, so parse accepts them.
    fn hammer(bytes: &[u8]) {
        if let Some(info) = parse(bytes) {
            for eip in [
                0,
                1,
                0xf010_0000,
                0xf010_0041,
                0xf010_0170,
                0xf010_01a0,
                u32::MAX,
            ] {
                let _ = info.lookup(eip);
            }
        }
    }

    fn fix_checksum(bytes: &mut [u8]) {
        let total = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        if (HEADER_LEN..=bytes.len()).contains(&total) {
            let sum = fnv1a(&bytes[HEADER_LEN..total]);
            bytes[12..16].copy_from_slice(&sum.to_le_bytes());
        }
    }

    #[test]
    fn truncated_tables_are_rejected() {
        let (f, l) = (funcs(), lines());
        let full = encoded_len(&Tables {
            funcs: &f,
            names: &NAMES,
            files: &FILES,
            lines: &l,
        });
        let full = full.unwrap();
        let bytes = build(&f, &l, full);
        assert!(parse(&bytes).is_some());
        for len in 0..full {
            assert!(parse(&bytes[..len]).is_none(), "truncated to {len}");
        }
    }

    #[test]
    fn lab1_garbage_never_panics() {
        let good = build(&funcs(), &lines(), 2048);
        let mut rng = 0x1234_5678u32;
        let mut next = move || {
            // xorshift32: deterministic noise, no dependencies.
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            rng
        };
        // Pure noise, with and without a valid magic/version/checksum.
        for len in [0, 3, 4, 39, 40, 41, 64, 200, 1024] {
            for _ in 0..200 {
                let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                hammer(&b);
                if len >= HEADER_LEN {
                    b[..4].copy_from_slice(&MAGIC);
                    b[4..8].copy_from_slice(&VERSION.to_le_bytes());
                    let total = HEADER_LEN as u32 + next() % (len - HEADER_LEN + 1) as u32;
                    b[8..12].copy_from_slice(&total.to_le_bytes());
                    fix_checksum(&mut b);
                    hammer(&b);
                }
            }
        }
        // A real table with damaged bytes (header counts included) but a valid checksum.
        for _ in 0..3000 {
            let mut b = good.clone();
            for _ in 0..1 + next() % 4 {
                let i = next() as usize % 600;
                b[i] = next() as u8;
            }
            fix_checksum(&mut b);
            hammer(&b);
            // Damage without fixing the checksum must be rejected outright.
            let mut c = good.clone();
            let i = HEADER_LEN + next() as usize % 500;
            c[i] ^= 1 + (next() % 255) as u8;
            assert!(parse(&c).is_none());
        }
    }
}
