//! ELF validation for the kernel's loader (JOS's `load_icode` in kern/env.c trusts the image;
//! this does not): a bad user program is an error, never a panic or a write outside user
//! space. The header records are the format's, in `jos_inc::elf`.

use jos_inc::elf::{ELF_MAGIC, ELF_PROG_LOAD, ElfHeader, ProgHeader};

/// Why an image is not a loadable user program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than its headers say.
    Truncated,
    /// No ELF magic.
    BadMagic,
    /// A loadable segment's file bytes lie outside the image.
    SegmentOutsideFile,
    /// A loadable segment's memory range wraps or reaches `limit` (UTOP).
    SegmentAboveLimit,
    /// `p_filesz > p_memsz`.
    FileszExceedsMemsz,
    /// The entry point is not below the limit.
    BadEntry,
}

fn rd_u16(b: &[u8], off: usize) -> Result<u16, ElfError> {
    let s = b.get(off..off + 2).ok_or(ElfError::Truncated)?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn rd_u32(b: &[u8], off: usize) -> Result<u32, ElfError> {
    let s = b.get(off..off + 4).ok_or(ElfError::Truncated)?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// A validated ELF image: every loadable segment lies inside the file and below `limit`.
#[derive(Clone, Copy, Debug)]
pub struct Elf<'a> {
    image: &'a [u8],
    pub entry: u32,
    phoff: usize,
    phnum: usize,
}

impl<'a> Elf<'a> {
    /// Parse and validate `image` for loading into user space below `limit` (exclusive).
    pub fn parse(image: &'a [u8], limit: u32) -> Result<Elf<'a>, ElfError> {
        if image.len() < core::mem::size_of::<ElfHeader>() {
            return Err(ElfError::Truncated);
        }
        if rd_u32(image, 0)? != ELF_MAGIC {
            return Err(ElfError::BadMagic);
        }
        let entry = rd_u32(image, 24)?;
        let phoff = rd_u32(image, 28)? as usize;
        let phnum = rd_u16(image, 44)? as usize;
        let table_end = phnum
            .checked_mul(core::mem::size_of::<ProgHeader>())
            .and_then(|n| n.checked_add(phoff))
            .ok_or(ElfError::Truncated)?;
        if table_end > image.len() {
            return Err(ElfError::Truncated);
        }
        if entry >= limit {
            return Err(ElfError::BadEntry);
        }
        let elf = Elf {
            image,
            entry,
            phoff,
            phnum,
        };
        for ph in elf.segments() {
            let ph = ph?;
            if ph.p_type != ELF_PROG_LOAD {
                continue;
            }
            if ph.p_filesz > ph.p_memsz {
                return Err(ElfError::FileszExceedsMemsz);
            }
            let file_end = (ph.p_offset as usize).checked_add(ph.p_filesz as usize);
            if file_end.is_none_or(|e| e > image.len()) {
                return Err(ElfError::SegmentOutsideFile);
            }
            let mem_end = ph.p_va.checked_add(ph.p_memsz);
            if mem_end.is_none_or(|e| e > limit) {
                return Err(ElfError::SegmentAboveLimit);
            }
        }
        Ok(elf)
    }

    /// All program headers (loadable or not).
    pub fn segments(&self) -> impl Iterator<Item = Result<ProgHeader, ElfError>> + '_ {
        (0..self.phnum).map(move |i| {
            let o = self.phoff + i * core::mem::size_of::<ProgHeader>();
            let b = self.image;
            Ok(ProgHeader {
                p_type: rd_u32(b, o)?,
                p_offset: rd_u32(b, o + 4)?,
                p_va: rd_u32(b, o + 8)?,
                p_pa: rd_u32(b, o + 12)?,
                p_filesz: rd_u32(b, o + 16)?,
                p_memsz: rd_u32(b, o + 20)?,
                p_flags: rd_u32(b, o + 24)?,
                p_align: rd_u32(b, o + 28)?,
            })
        })
    }

    /// The loadable segments, each with its file bytes (already validated by `parse`).
    pub fn load_segments(&self) -> impl Iterator<Item = (ProgHeader, &'a [u8])> + '_ {
        let image = self.image;
        self.segments()
            .filter_map(|p| p.ok())
            .filter(|p| p.p_type == ELF_PROG_LOAD)
            .map(move |p| {
                let start = p.p_offset as usize;
                (p, &image[start..start + p.p_filesz as usize])
            })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    const UTOP: u32 = 0xEEC0_0000;

    /// A minimal ELF with one loadable segment carrying `data`.
    fn image(va: u32, data: &[u8], memsz: u32) -> Vec<u8> {
        let mut v = std::vec![0u8; 52 + 32];
        v[0..4].copy_from_slice(&ELF_MAGIC.to_le_bytes());
        v[24..28].copy_from_slice(&0x0080_0020u32.to_le_bytes());
        v[28..32].copy_from_slice(&52u32.to_le_bytes());
        v[44..46].copy_from_slice(&1u16.to_le_bytes());
        let ph = [
            ELF_PROG_LOAD,
            84,
            va,
            va,
            data.len() as u32,
            memsz,
            5,
            0x1000,
        ];
        for (i, w) in ph.iter().enumerate() {
            v[52 + 4 * i..56 + 4 * i].copy_from_slice(&w.to_le_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn good_image() {
        let img = image(0x0080_0000, b"hello", 0x2000);
        let elf = Elf::parse(&img, UTOP).unwrap();
        assert_eq!(elf.entry, 0x0080_0020);
        let segs: Vec<_> = elf.load_segments().collect();
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].1, b"hello");
    }

    #[test]
    fn truncated() {
        let img = image(0x0080_0000, b"hello", 0x2000);
        assert_eq!(
            Elf::parse(&img[..40], UTOP).unwrap_err(),
            ElfError::Truncated
        );
        assert_eq!(
            Elf::parse(&img[..70], UTOP).unwrap_err(),
            ElfError::Truncated
        );
        assert_eq!(
            Elf::parse(&img[..86], UTOP).unwrap_err(),
            ElfError::SegmentOutsideFile
        );
    }

    #[test]
    fn bad_magic() {
        let mut img = image(0x0080_0000, b"hello", 0x2000);
        img[0] = 0;
        assert_eq!(Elf::parse(&img, UTOP).unwrap_err(), ElfError::BadMagic);
    }

    #[test]
    fn segment_above_utop() {
        let img = image(UTOP - 0x1000, b"x", 0x2000);
        assert_eq!(
            Elf::parse(&img, UTOP).unwrap_err(),
            ElfError::SegmentAboveLimit
        );
        let img = image(0xF010_0000, b"x", 1);
        assert_eq!(
            Elf::parse(&img, UTOP).unwrap_err(),
            ElfError::SegmentAboveLimit
        );
        // A range that wraps around the address space.
        let img = image(0xFFFF_F000, b"x", 0x2000);
        assert_eq!(
            Elf::parse(&img, UTOP).unwrap_err(),
            ElfError::SegmentAboveLimit
        );
    }

    #[test]
    fn filesz_exceeds_memsz() {
        let img = image(0x0080_0000, b"hello", 4);
        assert_eq!(
            Elf::parse(&img, UTOP).unwrap_err(),
            ElfError::FileszExceedsMemsz
        );
    }

    #[test]
    fn entry_in_kernel() {
        let mut img = image(0x0080_0000, b"hello", 0x2000);
        img[24..28].copy_from_slice(&0xF010_0000u32.to_le_bytes());
        assert_eq!(Elf::parse(&img, UTOP).unwrap_err(), ElfError::BadEntry);
    }
}
