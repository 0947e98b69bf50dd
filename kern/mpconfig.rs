//! Multiprocessor configuration (JOS's kern/mpconfig.c: `mp_init`; its `mpsearch`, `mpconfig`
//! and `sum` are kern_logic::mptable's): find the BIOS's MP tables, learn the
//! CPUs and the LAPIC address. The parsing itself is kern_logic::mptable (host-tested); this
//! module hands it physical memory and applies the result.

use kern_logic::mptable::{PhysMem, find_mp};

use crate::cpu::{self, CPU_STARTED, CpuId};
use crate::{cprintf, lapic, pmap};

/// The IMCR (interrupt mode configuration register, MP spec 3.6.2.1): selected by writing
/// `IMCR_SELECT` to the address port, then read and written through the data port.
const IMCR_ADDR: u16 = 0x22;
const IMCR_DATA: u16 = 0x23;
const IMCR_SELECT: u8 = 0x70;

/// Physical memory as seen through the KERNBASE mapping.
struct KernMem;

impl PhysMem for KernMem {
    fn read(&self, pa: u32, len: usize) -> Option<&[u8]> {
        let end = pa.checked_add(u32::try_from(len).ok()?)?;
        // Everything below the top of managed memory is mapped at KERNBASE (the BIOS ROM and
        // the I/O hole included).
        if end as usize > pmap::npages() * jos_inc::mmu::PGSIZE as usize {
            return None;
        }
        if len == 0 {
            return Some(&[]);
        }
        let kva = pmap::kaddr(pmap::PhysAddr::new(pa));
        // SAFETY: [pa, end) is below the top of managed memory, so mapped read-write at
        // KERNBASE (kva is its start there); the bytes are only read, and nothing the MP parser
        // reads (BIOS data and ROM) is written while it runs.
        Some(unsafe { core::slice::from_raw_parts(kva.as_ptr::<u8>(), len) })
    }
}

fn read_u16(pa: u32) -> u16 {
    KernMem
        .read(pa, 2)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
}

pub fn mp_init() {
    // The BIOS data area: the EBDA's segment at 0x40E, the size of base memory (KB) at 0x413.
    let ebda = read_u16(0x40E);
    let basemem = read_u16(0x413);
    let info = match find_mp(&KernMem, ebda, basemem) {
        Ok(info) => info,
        Err(e) => {
            // Didn't like what we found; fall back to no MP.
            cprintf!("{}\n", e);
            cpu::set_ncpu(1, CpuId::FIRST);
            cpu::cpu(CpuId::FIRST).set_status(CPU_STARTED);
            return;
        }
    };
    for apic in info.ignored_cpus() {
        cprintf!("SMP: too many CPUs, CPU {} disabled\n", apic);
    }
    // (find_mp keeps only CPUs below NCPU, the boot CPU among them.)
    let boot = CpuId::new(info.bootcpu).expect("boot CPU beyond NCPU");
    cpu::set_ncpu(info.cpus().len(), boot);
    lapic::set_lapicaddr(info.lapic_addr);
    cpu::cpu(boot).set_status(CPU_STARTED);
    cprintf!(
        "SMP: CPU {} found {} CPU(s)\n",
        info.bootcpu,
        info.cpus().len()
    );

    if info.imcrp {
        // [MP 3.2.6.1] If the hardware implements PIC mode, switch to getting interrupts
        // from the LAPIC.
        cprintf!("SMP: Setting IMCR to switch from PIC mode to symmetric I/O mode\n");
        // SAFETY: the IMCR ports 0x22/0x23, present as the floating pointer says.
        unsafe {
            x86::io::outb(IMCR_ADDR, IMCR_SELECT); // Select IMCR
            let v = x86::io::inb(IMCR_DATA);
            x86::io::outb(IMCR_DATA, v | 1); // Mask external interrupts.
        }
    }
}
