//! Just enough of an ELF32 little-endian reader for an i386 kernel image: section headers
//! (with names), program headers and the symbol table. Hand-written rather than the `object`
//! crate because this is all the tool needs, and `object` (with `memchr`) doubled the tool's
//! cold build time. Every read is bounds-checked: a damaged file is an error, not a panic.

/// Section type: no bytes in the file (`.bss`-like).
pub const SHT_NOBITS: u32 = 8;
const SHT_SYMTAB: u32 = 2;
/// Section flag: executable code.
pub const SHF_EXECINSTR: u32 = 0x4;
/// Section flag: the bytes are compressed (`--compress-debug-sections`).
pub const SHF_COMPRESSED: u32 = 0x800;
/// Program header type: a segment the boot loader copies into memory.
pub const PT_LOAD: u32 = 1;
/// Symbol types and binding.
pub const STT_NOTYPE: u8 = 0;
pub const STT_FUNC: u8 = 2;
pub const STB_LOCAL: u8 = 0;

/// A section header.
#[derive(Clone, Copy, Debug)]
pub struct Section<'a> {
    pub name: &'a str,
    pub kind: u32,
    pub flags: u32,
    pub addr: u32,
    pub offset: u32,
    pub size: u32,
    link: u32,
    entsize: u32,
}

/// A program header (only the fields the tool needs).
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    pub kind: u32,
    pub offset: u32,
    pub filesz: u32,
}

/// A symbol-table entry.
#[derive(Clone, Copy, Debug)]
pub struct Symbol<'a> {
    pub name: &'a str,
    pub value: u32,
    pub size: u32,
    pub kind: u8,
    pub bind: u8,
    /// Index of the defining section (0 = undefined; 0xff00.. are special indices).
    pub shndx: u16,
}

/// A parsed ELF32 image borrowing the file's bytes.
#[derive(Debug)]
pub struct Elf<'a> {
    data: &'a [u8],
    pub sections: Vec<Section<'a>>,
    pub segments: Vec<Segment>,
}

fn u16_at(data: &[u8], off: usize) -> Result<u16, String> {
    data.get(off..off + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| format!("truncated ELF file (reading offset {off:#x})"))
}

fn u32_at(data: &[u8], off: usize) -> Result<u32, String> {
    data.get(off..off + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| format!("truncated ELF file (reading offset {off:#x})"))
}

/// The NUL-terminated string at `off` of a string table.
fn cstr(table: &[u8], off: u32) -> Result<&str, String> {
    let tail = table
        .get(off as usize..)
        .ok_or("string offset out of range")?;
    let len = tail
        .iter()
        .position(|&b| b == 0)
        .ok_or("unterminated string")?;
    std::str::from_utf8(&tail[..len]).map_err(|_| "name is not UTF-8".to_string())
}

impl<'a> Elf<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Self, String> {
        if data.get(..4) != Some(b"\x7fELF") {
            return Err("not an ELF file".into());
        }
        // e_ident: class 1 = 32-bit, data 1 = little-endian: what an i386 kernel is.
        if data.get(4) != Some(&1) || data.get(5) != Some(&1) {
            return Err("not a 32-bit little-endian ELF file (an i386 kernel is)".into());
        }
        let phoff = u32_at(data, 28)? as usize;
        let shoff = u32_at(data, 32)? as usize;
        let (phentsize, phnum) = (u16_at(data, 42)? as usize, u16_at(data, 44)? as usize);
        let (shentsize, shnum) = (u16_at(data, 46)? as usize, u16_at(data, 48)? as usize);
        let shstrndx = u16_at(data, 50)? as usize;

        let mut segments = Vec::with_capacity(phnum);
        for i in 0..phnum {
            let ph = phoff + i * phentsize;
            segments.push(Segment {
                kind: u32_at(data, ph)?,
                offset: u32_at(data, ph + 4)?,
                filesz: u32_at(data, ph + 16)?,
            });
        }

        let mut raw = Vec::with_capacity(shnum);
        for i in 0..shnum {
            let sh = shoff + i * shentsize;
            let word = |k: usize| u32_at(data, sh + 4 * k);
            raw.push((
                word(0)?,
                [
                    word(1)?,
                    word(2)?,
                    word(3)?,
                    word(4)?,
                    word(5)?,
                    word(6)?,
                    word(9)?,
                ],
            ));
        }
        let mut elf = Elf {
            data,
            sections: Vec::with_capacity(shnum),
            segments,
        };
        let names = match raw.get(shstrndx) {
            Some(&(_, [kind, _, _, offset, size, ..])) if kind != SHT_NOBITS => {
                elf.bytes(offset, size)?
            }
            _ => &[],
        };
        for (name, [kind, flags, addr, offset, size, link, entsize]) in raw {
            let name = if names.is_empty() {
                ""
            } else {
                cstr(names, name)?
            };
            elf.sections.push(Section {
                name,
                kind,
                flags,
                addr,
                offset,
                size,
                link,
                entsize,
            });
        }
        Ok(elf)
    }

    fn bytes(&self, offset: u32, size: u32) -> Result<&'a [u8], String> {
        let (start, len) = (offset as usize, size as usize);
        start
            .checked_add(len)
            .and_then(|end| self.data.get(start..end))
            .ok_or_else(|| format!("section bytes {offset:#x}+{size:#x} beyond the file's end"))
    }

    pub fn section_by_name(&self, name: &str) -> Option<&Section<'a>> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// A section's bytes in the file (empty for NOBITS).
    pub fn data(&self, s: &Section<'_>) -> Result<&'a [u8], String> {
        if s.kind == SHT_NOBITS {
            Ok(&[])
        } else {
            self.bytes(s.offset, s.size)
        }
    }

    /// All entries of the symbol table (`.symtab`); none if the file is stripped.
    pub fn symbols(&self) -> Result<Vec<Symbol<'a>>, String> {
        let Some(symtab) = self.sections.iter().find(|s| s.kind == SHT_SYMTAB) else {
            return Ok(Vec::new());
        };
        let strtab = self
            .sections
            .get(symtab.link as usize)
            .ok_or("symbol table has no string table")?;
        let (syms, strs) = (self.data(symtab)?, self.data(strtab)?);
        let entsize = if symtab.entsize == 0 {
            16
        } else {
            symtab.entsize as usize
        };
        let mut out = Vec::with_capacity(syms.len() / entsize);
        for ent in syms.chunks_exact(entsize) {
            if ent.len() < 16 {
                break;
            }
            out.push(Symbol {
                name: cstr(strs, u32_at(ent, 0)?)?,
                value: u32_at(ent, 4)?,
                size: u32_at(ent, 8)?,
                kind: ent[12] & 0xf,
                bind: ent[12] >> 4,
                shndx: u16_at(ent, 14)?,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_is_not_elf32_le() {
        assert!(Elf::parse(b"").is_err());
        assert!(
            Elf::parse(b"\x7fELF\x02\x01")
                .unwrap_err()
                .contains("32-bit")
        );
        assert!(
            Elf::parse(b"\x7fELF\x01\x01")
                .unwrap_err()
                .contains("truncated")
        );
    }

    #[test]
    fn reads_this_crates_own_fixture_free_header() {
        // A minimal header: no sections, no segments.
        let mut h = vec![0u8; 52];
        h[..6].copy_from_slice(b"\x7fELF\x01\x01");
        let elf = Elf::parse(&h).unwrap();
        assert!(elf.sections.is_empty() && elf.segments.is_empty());
        assert!(elf.symbols().unwrap().is_empty());
        // A section table pointing past the end of the file.
        h[32..36].copy_from_slice(&1000u32.to_le_bytes());
        h[48..50].copy_from_slice(&1u16.to_le_bytes());
        assert!(Elf::parse(&h).unwrap_err().contains("truncated"));
    }
}
