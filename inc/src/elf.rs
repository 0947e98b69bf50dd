//! ELF headers (JOS's inc/elf.h): the format's records and constants. Validating an image
//! before loading it is the kernel's business (kern-logic's `elf`).

pub const ELF_MAGIC: u32 = 0x464C_457F; // "\x7FELF" in little endian
pub const ELF_PROG_LOAD: u32 = 1;
pub const ELF_PROG_FLAG_EXEC: u32 = 1;
pub const ELF_PROG_FLAG_WRITE: u32 = 2;
pub const ELF_PROG_FLAG_READ: u32 = 4;

/// `struct Elf`: the file header.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ElfHeader {
    pub e_magic: u32,
    pub e_elf: [u8; 12],
    pub e_type: u16,
    pub e_machine: u16,
    pub e_version: u32,
    pub e_entry: u32,
    pub e_phoff: u32,
    pub e_shoff: u32,
    pub e_flags: u32,
    pub e_ehsize: u16,
    pub e_phentsize: u16,
    pub e_phnum: u16,
    pub e_shentsize: u16,
    pub e_shnum: u16,
    pub e_shstrndx: u16,
}

/// `struct Proghdr`: a program header.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgHeader {
    pub p_type: u32,
    pub p_offset: u32,
    pub p_va: u32,
    pub p_pa: u32,
    pub p_filesz: u32,
    pub p_memsz: u32,
    pub p_flags: u32,
    pub p_align: u32,
}

const _: () = {
    assert!(core::mem::size_of::<ElfHeader>() == 52);
    assert!(core::mem::size_of::<ProgHeader>() == 32);
};
