//! The Intel MultiProcessor configuration table parser (JOS's kern/mpconfig.c, minus the
//! hardware): finds the MP floating pointer, validates the configuration table and lists the
//! processors, as `mpsearch`, `mpconfig` and `mp_init` do.
//!
//! The kernel supplies physical memory through [`PhysMem`] and the two BIOS data area words
//! (EBDA segment at 0x40E, base memory size at 0x413), then acts on the result: it fills its
//! per-CPU array from [`MpInfo::cpus`], prints `SMP: too many CPUs, CPU %d disabled` for each of
//! [`MpInfo::ignored_cpus`], remembers `lapic_addr`, and switches the IMCR if `imcrp`. On an
//! [`MpError`] it prints the error (its `Display` is JOS's message) and runs uniprocessor.
//!
//! Unlike JOS, every length in the table is checked against the table and against readable
//! memory: a damaged table is an error, never an out-of-bounds read.
//!
//! Reference: Intel MultiProcessor Specification 1.4, chapter 4 ([MP 4]).

use core::fmt;

/// Maximum number of CPUs the kernel supports (JOS's `NCPU`).
pub const NCPU: usize = 8;

/// How many over-the-limit CPUs [`MpInfo`] remembers by APIC id. APIC ids are 8-bit, so a sane
/// table never lists more than this many beyond [`NCPU`]; the total is counted regardless.
pub const MAX_IGNORED: usize = 256 - NCPU;

/// Read access to physical memory.
pub trait PhysMem {
    /// The `len` bytes at physical address `pa`, or None if any of them cannot be read (not
    /// RAM/ROM, or not mapped by the kernel).
    fn read(&self, pa: u32, len: usize) -> Option<&[u8]>;
}

/// Size of the MP floating pointer structure ([MP 4.1]).
const FP_LEN: usize = 16;
/// Size of the configuration table header; entries follow it ([MP 4.2]).
const CONF_HDR_LEN: usize = 44;
/// Size of a processor entry; every other known entry type is 8 bytes ([MP 4.3]).
const PROC_ENTRY_LEN: usize = 20;
const OTHER_ENTRY_LEN: usize = 8;

// Entry types ([MP Table 4-3]).
const MPPROC: u8 = 0;
const MPBUS: u8 = 1;
const MPIOAPIC: u8 = 2;
const MPIOINTR: u8 = 3;
const MPLINTR: u8 = 4;

/// Processor entry flag: this is the bootstrap processor (JOS's `MPPROC_BOOT`).
const MPPROC_BOOT: u8 = 0x02;
/// Processor entry flag: the processor is usable. JOS ignores it (it counts every entry).
const MPPROC_EN: u8 = 0x01;
/// Floating pointer feature byte 2, bit 7: the IMCR is present and the system starts in PIC
/// mode, so the kernel must switch to symmetric I/O mode.
const IMCRP: u8 = 0x80;

/// One CPU that the kernel will use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuEntry {
    /// The kernel's CPU number: the entry's position among the processor entries (JOS assigns
    /// `cpu_id = ncpu` in table order, and `cpunum()` assumes it equals the APIC id).
    pub cpu_id: u8,
    /// The local APIC id from the table.
    pub apic_id: u8,
    /// The entry's "enabled" flag (informational: JOS starts the CPU regardless).
    pub enabled: bool,
    /// The entry's "bootstrap processor" flag.
    pub bsp: bool,
}

/// The parsed MP configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpInfo {
    /// Physical address of the local APIC registers (JOS's `lapicaddr`).
    pub lapic_addr: u32,
    /// Index in [`cpus`](Self::cpus) of the bootstrap processor (JOS's `bootcpu`); 0 if no
    /// entry carries the BSP flag, as in JOS.
    pub bootcpu: usize,
    /// The IMCR is present: switch from PIC mode to symmetric I/O mode (JOS's `mp->imcrp`).
    pub imcrp: bool,
    /// Physical address of the floating pointer structure that was used.
    pub fp_addr: u32,
    /// Physical address of the configuration table.
    pub conf_addr: u32,
    cpus: [CpuEntry; NCPU],
    ncpu: usize,
    ignored: [u8; MAX_IGNORED],
    nignored: usize,
}

impl MpInfo {
    /// The CPUs to use, at most [`NCPU`], indexed by CPU number.
    pub fn cpus(&self) -> &[CpuEntry] {
        &self.cpus[..self.ncpu]
    }

    /// The APIC ids of processors beyond [`NCPU`], in table order, for JOS's
    /// `SMP: too many CPUs, CPU %d disabled` (JOS prints the APIC id). At most [`MAX_IGNORED`].
    pub fn ignored_cpus(&self) -> &[u8] {
        &self.ignored[..self.nignored.min(MAX_IGNORED)]
    }

    /// How many processors were ignored in total (can exceed `ignored_cpus().len()` only for
    /// a table with more than 256 processor entries).
    pub fn ignored_count(&self) -> usize {
        self.nignored
    }
}

/// Why there is no usable MP configuration. `Display` gives the line(s) JOS prints; after any
/// of these the kernel runs on the boot CPU alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MpError {
    /// No floating pointer structure in any of the three places [MP 4] names.
    NotFound,
    /// The floating pointer asks for one of the default configurations (no table), which JOS
    /// does not implement.
    DefaultConfig,
    /// The configuration table does not start with `PCMP`.
    BadSignature,
    /// The configuration table's bytes do not sum to zero.
    BadChecksum,
    /// The configuration table has a version other than 1 (MP 1.1) or 4 (MP 1.4).
    UnsupportedVersion(u8),
    /// The extended table's bytes plus its checksum do not sum to zero.
    BadExtendedChecksum,
    /// The table claims `len` bytes at `pa` that are not readable memory.
    Unreadable { pa: u32, len: usize },
    /// The table's length is shorter than its header, or its entries run past its length.
    Truncated,
    /// An entry of a type [MP 4.3] does not define: the rest cannot be walked.
    UnknownEntryType(u8),
    /// The bootstrap processor is beyond [`NCPU`], so the kernel could not describe the CPU it
    /// runs on (JOS would index `cpus[NCPU]`).
    BootCpuBeyondNcpu { apic_id: u8 },
    /// The table lists no processor at all.
    NoCpus,
}

/// JOS's last line when it gives up on SMP (printed by `mp_init`).
const SMP_DISABLED: &str = "SMP: configuration not found, SMP disabled";

impl fmt::Display for MpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NotFound => f.write_str(SMP_DISABLED),
            Self::DefaultConfig => f.write_str("SMP: Default configurations not implemented"),
            Self::BadSignature => f.write_str("SMP: Incorrect MP configuration table signature"),
            Self::BadChecksum => f.write_str("SMP: Bad MP configuration checksum"),
            Self::UnsupportedVersion(v) => write!(f, "SMP: Unsupported MP version {v}"),
            Self::BadExtendedChecksum => f.write_str("SMP: Bad MP configuration extended checksum"),
            Self::Unreadable { pa, len } => write!(
                f,
                "SMP: MP configuration table unreadable ({len} bytes at {pa:08x})"
            ),
            Self::Truncated => f.write_str("SMP: MP configuration table truncated"),
            // JOS prints both lines: mp_init reports the entry, then falls back to no MP.
            Self::UnknownEntryType(t) => {
                write!(f, "mpinit: unknown config type {t:x}\n{SMP_DISABLED}")
            }
            Self::BootCpuBeyondNcpu { apic_id } => {
                write!(f, "SMP: boot CPU {apic_id} is beyond NCPU\n{SMP_DISABLED}")
            }
            Self::NoCpus => write!(f, "SMP: no processor entries\n{SMP_DISABLED}"),
        }
    }
}

/// Byte sum modulo 256; a valid structure sums to zero (JOS's `sum`).
fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b))
}

fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// JOS's `mpsearch1`: a floating pointer (signature `_MP_`, zero checksum) on a 16-byte
/// boundary among the `len` bytes at `pa`. Returns its address and bytes.
fn search_region(mem: &impl PhysMem, pa: u32, len: usize) -> Option<(u32, [u8; FP_LEN])> {
    let region = mem.read(pa, len)?;
    region
        .chunks_exact(FP_LEN)
        .zip((pa..).step_by(FP_LEN))
        // The signature as one 32-bit compare (a slice compare is a memcmp call per
        // candidate: 8,192 of them in the BIOS ROM, a fifth of the boot's instructions).
        .find(|(fp, _)| le32(fp, 0) == u32::from_le_bytes(*b"_MP_") && sum(fp) == 0)
        .and_then(|(fp, at)| Some((at, fp.try_into().ok()?)))
}

/// JOS's `mpsearch`, in [MP 4]'s order: the first KB of the EBDA if the BIOS data area names
/// one, else the last KB of base memory; then the BIOS ROM.
fn search(mem: &impl PhysMem, ebda_seg: u16, basemem_kb: u16) -> Option<(u32, [u8; FP_LEN])> {
    let first = if ebda_seg != 0 {
        search_region(mem, u32::from(ebda_seg) << 4, 1024)
    } else {
        (u32::from(basemem_kb) * 1024)
            .checked_sub(1024)
            .and_then(|pa| search_region(mem, pa, 1024))
    };
    // JOS searches only 0xF0000..0x100000; [MP 4] says the BIOS ROM is 0xE0000..0x100000,
    // which includes it, so a table JOS finds is found here too.
    first.or_else(|| search_region(mem, 0xE0000, 0x20000))
}

fn read(mem: &impl PhysMem, pa: u32, len: usize) -> Result<&[u8], MpError> {
    mem.read(pa, len).ok_or(MpError::Unreadable { pa, len })
}

/// JOS's `mpsearch` + `mpconfig` + the table walk of `mp_init`.
///
/// `ebda_seg` is the 16-bit word at physical 0x40E (the EBDA's real-mode segment, 0 if none)
/// and `basemem_kb` the word at 0x413 (base memory size in KB).
pub fn find_mp(mem: &impl PhysMem, ebda_seg: u16, basemem_kb: u16) -> Result<MpInfo, MpError> {
    let (fp_addr, fp) = search(mem, ebda_seg, basemem_kb).ok_or(MpError::NotFound)?;
    let conf_addr = le32(&fp, 4);
    let fp_type = fp[11];
    if conf_addr == 0 || fp_type != 0 {
        return Err(MpError::DefaultConfig);
    }

    let hdr = read(mem, conf_addr, CONF_HDR_LEN)?;
    if &hdr[..4] != b"PCMP" {
        return Err(MpError::BadSignature);
    }
    let length = usize::from(le16(hdr, 4));
    if length < CONF_HDR_LEN {
        return Err(MpError::Truncated);
    }
    let conf = read(mem, conf_addr, length)?;
    if sum(conf) != 0 {
        return Err(MpError::BadChecksum);
    }
    let version = conf[6];
    if version != 1 && version != 4 {
        return Err(MpError::UnsupportedVersion(version));
    }
    let xlength = usize::from(le16(conf, 40));
    let xchecksum = conf[42];
    let xaddr = conf_addr
        .checked_add(length as u32)
        .ok_or(MpError::Truncated)?;
    let ext = read(mem, xaddr, xlength)?;
    if sum(ext).wrapping_add(xchecksum) != 0 {
        return Err(MpError::BadExtendedChecksum);
    }

    let mut info = MpInfo {
        lapic_addr: le32(conf, 36),
        bootcpu: 0,
        imcrp: fp[12] & IMCRP != 0,
        fp_addr,
        conf_addr,
        cpus: [CpuEntry::default(); NCPU],
        ncpu: 0,
        ignored: [0; MAX_IGNORED],
        nignored: 0,
    };
    let nentries = le16(conf, 34);
    let mut rest = &conf[CONF_HDR_LEN..];
    for _ in 0..nentries {
        let kind = *rest.first().ok_or(MpError::Truncated)?;
        let len = match kind {
            MPPROC => PROC_ENTRY_LEN,
            MPBUS | MPIOAPIC | MPIOINTR | MPLINTR => OTHER_ENTRY_LEN,
            other => return Err(MpError::UnknownEntryType(other)),
        };
        let (entry, tail) = rest.split_at_checked(len).ok_or(MpError::Truncated)?;
        rest = tail;
        if kind != MPPROC {
            continue;
        }
        let (apic_id, flags) = (entry[1], entry[3]);
        let bsp = flags & MPPROC_BOOT != 0;
        if info.ncpu < NCPU {
            if bsp {
                info.bootcpu = info.ncpu;
            }
            info.cpus[info.ncpu] = CpuEntry {
                cpu_id: info.ncpu as u8,
                apic_id,
                enabled: flags & MPPROC_EN != 0,
                bsp,
            };
            info.ncpu += 1;
        } else if bsp {
            return Err(MpError::BootCpuBeyondNcpu { apic_id });
        } else {
            if let Some(slot) = info.ignored.get_mut(info.nignored) {
                *slot = apic_id;
            }
            info.nignored += 1;
        }
    }
    if info.ncpu == 0 {
        return Err(MpError::NoCpus);
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::string::ToString;
    use std::vec;
    use std::vec::Vec;

    /// Physical memory made of a few readable regions; everything else is a hole.
    struct FakeMem {
        regions: Vec<(u32, Vec<u8>)>,
    }

    impl FakeMem {
        /// The first MB, all zeros, like an empty real-mode address space.
        fn low_mb() -> Self {
            Self {
                regions: vec![(0, vec![0; 0x10_0000])],
            }
        }

        fn put(&mut self, pa: u32, bytes: &[u8]) {
            let (base, mem) = self
                .regions
                .iter_mut()
                .find(|(base, mem)| pa >= *base && (pa - *base) as usize + bytes.len() <= mem.len())
                .expect("test writes inside a region");
            let off = (pa - *base) as usize;
            mem[off..off + bytes.len()].copy_from_slice(bytes);
        }
    }

    impl PhysMem for FakeMem {
        fn read(&self, pa: u32, len: usize) -> Option<&[u8]> {
            self.regions.iter().find_map(|(base, mem)| {
                let off = pa.checked_sub(*base)? as usize;
                mem.get(off..off.checked_add(len)?)
            })
        }
    }

    fn fix_sum(bytes: &mut [u8], at: usize) {
        bytes[at] = 0;
        bytes[at] = 0u8.wrapping_sub(sum(bytes));
    }

    fn floating_pointer(conf_addr: u32, imcrp: bool) -> [u8; 16] {
        let mut fp = [0u8; 16];
        fp[..4].copy_from_slice(b"_MP_");
        fp[4..8].copy_from_slice(&conf_addr.to_le_bytes());
        fp[8] = 1; // length in 16-byte units
        fp[9] = 4; // spec revision 1.4
        fp[12] = if imcrp { IMCRP } else { 0 };
        fix_sum(&mut fp, 10);
        fp
    }

    fn proc_entry(apic_id: u8, flags: u8) -> Vec<u8> {
        let mut e = vec![0u8; PROC_ENTRY_LEN];
        e[0] = MPPROC;
        e[1] = apic_id;
        e[2] = 0x14; // local APIC version
        e[3] = flags;
        e
    }

    fn other_entry(kind: u8) -> Vec<u8> {
        let mut e = vec![0u8; OTHER_ENTRY_LEN];
        e[0] = kind;
        e
    }

    /// A configuration table with `entries`, a valid checksum and the extended table `ext`.
    fn config_table(entries: &[Vec<u8>], ext: &[u8]) -> Vec<u8> {
        let mut t = vec![0u8; CONF_HDR_LEN];
        t[..4].copy_from_slice(b"PCMP");
        t[6] = 4;
        t[8..16].copy_from_slice(b"BOCHSCPU");
        t[34..36].copy_from_slice(&(entries.len() as u16).to_le_bytes());
        t[36..40].copy_from_slice(&0xfee0_0000u32.to_le_bytes());
        t[40..42].copy_from_slice(&(ext.len() as u16).to_le_bytes());
        t[42] = 0u8.wrapping_sub(sum(ext));
        for e in entries {
            t.extend_from_slice(e);
        }
        let len = t.len() as u16;
        t[4..6].copy_from_slice(&len.to_le_bytes());
        fix_sum(&mut t, 7);
        t.extend_from_slice(ext);
        t
    }

    const CONF_PA: u32 = 0xf_5a00;
    const EBDA_SEG: u16 = 0x9fc0;
    const BASEMEM_KB: u16 = 639;

    fn four_cpus() -> Vec<Vec<u8>> {
        vec![
            proc_entry(0, MPPROC_EN),
            proc_entry(1, MPPROC_EN | MPPROC_BOOT),
            proc_entry(2, MPPROC_EN),
            proc_entry(3, 0),
            other_entry(MPBUS),
            other_entry(MPIOAPIC),
            other_entry(MPIOINTR),
            other_entry(MPIOINTR),
            other_entry(MPLINTR),
        ]
    }

    /// Memory holding `table` at CONF_PA and a floating pointer to it in the ROM.
    fn mem_with(table: &[u8]) -> FakeMem {
        let mut mem = FakeMem::low_mb();
        mem.put(CONF_PA, table);
        mem.put(0xf_5980, &floating_pointer(CONF_PA, true));
        mem
    }

    #[test]
    fn good_table_with_four_cpus() {
        let mem = mem_with(&config_table(&four_cpus(), &[1, 2, 3, 0xfe]));
        let info = find_mp(&mem, EBDA_SEG, BASEMEM_KB).unwrap();
        assert_eq!(info.lapic_addr, 0xfee0_0000);
        assert_eq!((info.fp_addr, info.conf_addr), (0xf_5980, CONF_PA));
        assert!(info.imcrp);
        assert_eq!(info.bootcpu, 1);
        let ids: Vec<_> = info.cpus().iter().map(|c| (c.cpu_id, c.apic_id)).collect();
        assert_eq!(ids, [(0, 0), (1, 1), (2, 2), (3, 3)]);
        assert!(info.cpus()[1].bsp && !info.cpus()[0].bsp);
        assert!(
            !info.cpus()[3].enabled,
            "flag reported, CPU still counted as in JOS"
        );
        assert!(info.ignored_cpus().is_empty());
    }

    #[test]
    fn no_bsp_flag_means_cpu_zero_and_imcrp_clear() {
        let mut mem = mem_with(&config_table(&[proc_entry(0, 1), proc_entry(1, 1)], &[]));
        mem.put(0xf_5980, &floating_pointer(CONF_PA, false));
        let info = find_mp(&mem, EBDA_SEG, BASEMEM_KB).unwrap();
        assert_eq!((info.bootcpu, info.cpus().len(), info.imcrp), (0, 2, false));
    }

    #[test]
    fn too_many_cpus() {
        let mut entries: Vec<_> = (0..11).map(|id| proc_entry(id, MPPROC_EN)).collect();
        entries[0][3] |= MPPROC_BOOT;
        let mem = mem_with(&config_table(&entries, &[]));
        let info = find_mp(&mem, EBDA_SEG, BASEMEM_KB).unwrap();
        assert_eq!(info.cpus().len(), NCPU);
        assert_eq!(info.cpus()[7].apic_id, 7);
        assert_eq!(info.ignored_cpus(), [8, 9, 10]);
        assert_eq!(info.ignored_count(), 3);
    }

    #[test]
    fn bsp_beyond_ncpu_is_an_error() {
        let mut entries: Vec<_> = (0..10).map(|id| proc_entry(id, MPPROC_EN)).collect();
        entries[9][3] |= MPPROC_BOOT;
        let mem = mem_with(&config_table(&entries, &[]));
        assert_eq!(
            find_mp(&mem, EBDA_SEG, BASEMEM_KB),
            Err(MpError::BootCpuBeyondNcpu { apic_id: 9 })
        );
    }

    #[test]
    fn bad_checksum_signature_version() {
        let good = config_table(&four_cpus(), &[9, 9]);
        let mut t = good.clone();
        t[CONF_HDR_LEN + 1] ^= 0x10;
        assert_eq!(
            find_mp(&mem_with(&t), 0, BASEMEM_KB),
            Err(MpError::BadChecksum)
        );

        let mut t = good.clone();
        t[..4].copy_from_slice(b"PCMQ");
        assert_eq!(
            find_mp(&mem_with(&t), 0, BASEMEM_KB),
            Err(MpError::BadSignature)
        );

        let mut t = good.clone();
        t[6] = 2;
        fix_sum(&mut t[..usize::from(le16(&good, 4))], 7);
        assert_eq!(
            find_mp(&mem_with(&t), 0, BASEMEM_KB),
            Err(MpError::UnsupportedVersion(2))
        );
        t[6] = 1;
        fix_sum(&mut t[..usize::from(le16(&good, 4))], 7);
        assert!(
            find_mp(&mem_with(&t), 0, BASEMEM_KB).is_ok(),
            "MP 1.1 tables are fine"
        );

        let mut t = good.clone();
        *t.last_mut().unwrap() ^= 1;
        assert_eq!(
            find_mp(&mem_with(&t), 0, BASEMEM_KB),
            Err(MpError::BadExtendedChecksum)
        );
    }

    #[test]
    fn unknown_entry_type() {
        let mut entries = four_cpus();
        entries.insert(2, other_entry(0x80));
        let mem = mem_with(&config_table(&entries, &[]));
        assert_eq!(
            find_mp(&mem, 0, BASEMEM_KB),
            Err(MpError::UnknownEntryType(0x80))
        );
    }

    #[test]
    fn truncated_tables() {
        // Entries that run past the table's length: the count claims one more entry.
        let mut t = config_table(&four_cpus(), &[]);
        t[34] += 1;
        fix_sum(&mut t, 7);
        assert_eq!(
            find_mp(&mem_with(&t), 0, BASEMEM_KB),
            Err(MpError::Truncated)
        );

        // A processor entry cut in half by the length.
        let mut t = config_table(&[proc_entry(0, 3)], &[]);
        t.truncate(CONF_HDR_LEN + 12);
        let len = t.len() as u16;
        t[4..6].copy_from_slice(&len.to_le_bytes());
        fix_sum(&mut t, 7);
        assert_eq!(
            find_mp(&mem_with(&t), 0, BASEMEM_KB),
            Err(MpError::Truncated)
        );

        // A length shorter than the header.
        let mut t = config_table(&four_cpus(), &[]);
        t[4..6].copy_from_slice(&20u16.to_le_bytes());
        assert_eq!(
            find_mp(&mem_with(&t), 0, BASEMEM_KB),
            Err(MpError::Truncated)
        );

        // A table (then an extended table) running off the end of readable memory.
        let table = config_table(&four_cpus(), &[]);
        let near_end = 0x10_0000 - 100;
        let mut mem = FakeMem::low_mb();
        mem.put(near_end, &table[..100]);
        mem.put(0xf_0000, &floating_pointer(near_end, false));
        let len = table.len();
        assert_eq!(
            find_mp(&mem, 0, BASEMEM_KB),
            Err(MpError::Unreadable { pa: near_end, len })
        );
        let table = config_table(&four_cpus(), &[0; 200]);
        let at = 0x10_0000 - len as u32 - 100;
        let mut mem = FakeMem::low_mb();
        mem.put(at, &table[..len + 100]);
        mem.put(0xf_0000, &floating_pointer(at, false));
        assert_eq!(
            find_mp(&mem, 0, BASEMEM_KB),
            Err(MpError::Unreadable {
                pa: at + len as u32,
                len: 200
            })
        );

        // A header that is not even readable.
        let mut mem = FakeMem::low_mb();
        mem.put(0xf_0000, &floating_pointer(0xffff_fff0, false));
        assert!(matches!(
            find_mp(&mem, 0, BASEMEM_KB),
            Err(MpError::Unreadable { .. })
        ));
    }

    #[test]
    fn floating_pointer_locations() {
        let table = config_table(&four_cpus(), &[]);
        let place = |fp_pa: u32| {
            let mut mem = FakeMem::low_mb();
            mem.put(CONF_PA, &table);
            mem.put(fp_pa, &floating_pointer(CONF_PA, false));
            mem
        };
        let ebda = u32::from(EBDA_SEG) << 4;
        let basemem_end = u32::from(BASEMEM_KB) * 1024;

        // In the first KB of the EBDA (its last slot too).
        for at in [ebda, ebda + 1024 - 16] {
            assert_eq!(
                find_mp(&place(at), EBDA_SEG, BASEMEM_KB).unwrap().fp_addr,
                at
            );
        }
        // Past the EBDA's first KB: not searched there.
        assert_eq!(
            find_mp(&place(ebda + 1024), EBDA_SEG, BASEMEM_KB),
            Err(MpError::NotFound)
        );
        // In the last KB of base memory, searched only when there is no EBDA.
        let at = basemem_end - 1024 + 0x40;
        assert_eq!(find_mp(&place(at), 0, BASEMEM_KB).unwrap().fp_addr, at);
        assert_eq!(
            find_mp(&place(at), EBDA_SEG, BASEMEM_KB),
            Err(MpError::NotFound)
        );
        // In the BIOS ROM, whichever way the low search went; both ends of the range.
        for at in [0xe_0000, 0xf_5980, 0xf_fff0] {
            assert_eq!(
                find_mp(&place(at), EBDA_SEG, BASEMEM_KB).unwrap().fp_addr,
                at
            );
            assert_eq!(find_mp(&place(at), 0, BASEMEM_KB).unwrap().fp_addr, at);
        }
        // Not 16-byte aligned: not a floating pointer.
        assert_eq!(
            find_mp(&place(0xf_5988), 0, BASEMEM_KB),
            Err(MpError::NotFound)
        );
        // No base memory reported and no EBDA: only the ROM is searched, without underflow.
        assert_eq!(find_mp(&place(0xf_5980), 0, 0).unwrap().fp_addr, 0xf_5980);
        // An EBDA segment pointing at unreadable memory is skipped.
        let mem = place(0xf_5980);
        let wild = FakeMem {
            regions: vec![(0xe_0000, mem.regions[0].1[0xe_0000..].to_vec())],
        };
        assert_eq!(find_mp(&wild, 0xffff, 0xffff).unwrap().fp_addr, 0xf_5980);
    }

    #[test]
    fn no_or_bad_floating_pointer() {
        let mut mem = FakeMem::low_mb();
        mem.put(CONF_PA, &config_table(&four_cpus(), &[]));
        assert_eq!(find_mp(&mem, EBDA_SEG, BASEMEM_KB), Err(MpError::NotFound));

        let mut fp = floating_pointer(CONF_PA, false);
        fp[10] ^= 1;
        mem.put(0xf_0000, &fp);
        assert_eq!(
            find_mp(&mem, EBDA_SEG, BASEMEM_KB),
            Err(MpError::NotFound),
            "bad checksum"
        );

        mem.put(0xf_0000, &floating_pointer(0, false));
        assert_eq!(
            find_mp(&mem, EBDA_SEG, BASEMEM_KB),
            Err(MpError::DefaultConfig)
        );
        let mut fp = floating_pointer(CONF_PA, false);
        fp[11] = 5; // a default configuration type
        fix_sum(&mut fp, 10);
        mem.put(0xf_0000, &fp);
        assert_eq!(
            find_mp(&mem, EBDA_SEG, BASEMEM_KB),
            Err(MpError::DefaultConfig)
        );

        // A pointer whose table holds no processor.
        mem.put(CONF_PA, &config_table(&[other_entry(MPBUS)], &[]));
        mem.put(0xf_0000, &floating_pointer(CONF_PA, false));
        assert_eq!(find_mp(&mem, EBDA_SEG, BASEMEM_KB), Err(MpError::NoCpus));
    }

    #[test]
    fn messages_are_jos() {
        let cases = [
            (
                MpError::NotFound,
                "SMP: configuration not found, SMP disabled",
            ),
            (MpError::BadChecksum, "SMP: Bad MP configuration checksum"),
            (
                MpError::BadExtendedChecksum,
                "SMP: Bad MP configuration extended checksum",
            ),
            (
                MpError::UnsupportedVersion(2),
                "SMP: Unsupported MP version 2",
            ),
            (
                MpError::BadSignature,
                "SMP: Incorrect MP configuration table signature",
            ),
            (
                MpError::DefaultConfig,
                "SMP: Default configurations not implemented",
            ),
            (
                MpError::UnknownEntryType(0x8a),
                "mpinit: unknown config type 8a\nSMP: configuration not found, SMP disabled",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), text);
        }
    }

    #[test]
    fn random_tables_never_panic() {
        let mut rng = 0x9e37_79b9u32;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            rng
        };
        let good = config_table(&four_cpus(), &[1, 2, 3]);
        let mut mem = mem_with(&good);
        // Pointer in the EBDA, found at once: the time goes to the table walk, not the search.
        mem.put(u32::from(EBDA_SEG) << 4, &floating_pointer(CONF_PA, false));
        for _ in 0..5000 {
            let mut t = good.clone();
            for _ in 0..1 + next() % 4 {
                let i = next() as usize % t.len();
                t[i] = next() as u8;
            }
            // Keep the checksum valid half the time so that the walk itself gets exercised.
            if next() % 2 == 0 {
                let len = usize::from(le16(&t, 4)).min(t.len());
                if len > 7 {
                    fix_sum(&mut t[..len], 7);
                }
            }
            mem.put(CONF_PA, &t);
            let _ = find_mp(&mem, EBDA_SEG, BASEMEM_KB);
        }
    }
}
