//! The global descriptor table (JOS keeps it in kern/env.c: `gdt`, `env_init_percpu`): flat
//! kernel and user segments and one TSS slot per CPU.

use core::cell::UnsafeCell;

use jos_inc::mmu::*;
use x86::Ring;
use x86::dtables::{DescriptorTablePointer, lgdt};
use x86::segmentation::{
    BuildDescriptor, CodeSegmentType, DataSegmentType, Descriptor, DescriptorBuilder,
    SegmentDescriptorBuilder, SegmentSelector,
};

use crate::cpu::NCPU;

// ---- the global descriptor table --------------------------------------------------------

/// Number of GDT entries: null, kernel code/data, user code/data, one TSS per CPU.
const NGDT: usize = NCPU + 5;

/// The GDT. The CPU writes to it too (the TSS busy bit on `ltr`), so it lives in writable
/// memory behind an UnsafeCell; each CPU only ever writes its own TSS slot.
struct Gdt(UnsafeCell<[Descriptor; NGDT]>);

// SAFETY: entries 0-4 are written once by the BSP before any AP starts; entry 5+i only by
// CPU i in trap_init_percpu.
unsafe impl Sync for Gdt {}

static GDT: Gdt = Gdt(UnsafeCell::new([Descriptor::NULL; NGDT]));

fn seg(code: bool, dpl: Ring) -> Descriptor {
    let b = if code {
        DescriptorBuilder::code_descriptor(0, 0xFFFFF, CodeSegmentType::ExecuteRead)
    } else {
        DescriptorBuilder::data_descriptor(0, 0xFFFFF, DataSegmentType::ReadWrite)
    };
    b.present().dpl(dpl).db().limit_granularity_4kb().finish()
}

/// Set GDT entry `index` (used for the per-CPU TSS descriptors).
pub fn gdt_set(index: usize, d: Descriptor) {
    // SAFETY: see `Gdt`: each CPU writes only its own TSS slot, before loading TR.
    unsafe { (*GDT.0.get())[index] = d }
}

pub(super) fn gdt_init() {
    gdt_set(0, Descriptor::NULL);
    gdt_set((GD_KT >> 3) as usize, seg(true, Ring::Ring0));
    gdt_set((GD_KD >> 3) as usize, seg(false, Ring::Ring0));
    gdt_set((GD_UT >> 3) as usize, seg(true, Ring::Ring3));
    gdt_set((GD_UD >> 3) as usize, seg(false, Ring::Ring3));
}

/// Load the GDT and segment descriptors.
pub fn env_init_percpu() {
    // SAFETY: GDT is a static table; the selectors below index valid flat segments, so the
    // code and data the kernel uses stay addressable.
    unsafe {
        let table: &[Descriptor; NGDT] = &*GDT.0.get();
        lgdt(&DescriptorTablePointer::new_from_slice(table));
        // The kernel never uses GS or FS, so we leave those set to the user data segment.
        let ud = SegmentSelector::from_raw(GD_UD | 3);
        let kd = SegmentSelector::from_raw(GD_KD);
        x86::segmentation::load_gs(ud);
        x86::segmentation::load_fs(ud);
        // The kernel does use ES, DS, and SS. We'll change between the kernel and user data
        // segments as needed.
        x86::segmentation::load_es(kd);
        x86::segmentation::load_ds(kd);
        x86::segmentation::load_ss(kd);
        // Load the kernel text segment into CS.
        x86::bits32::segmentation::load_cs(SegmentSelector::from_raw(GD_KT));
        // For good measure, clear the local descriptor table (LDT), since we don't use it.
        x86::dtables::load_ldtr(SegmentSelector::from_raw(0));
    }
}
