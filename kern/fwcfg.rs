//! The QEMU firmware configuration device, used only to read which program(s) the Makefile
//! asked the kernel to start (`-fw_cfg name=opt/jos/test,string=<prog>`): JOS chose its first
//! env with `-DTEST=user_<prog>` at compile time; reading it at boot needs no rebuild per
//! program and lets parallel test runs share one image.

const FW_CFG_PORT_SEL: u16 = 0x510;
const FW_CFG_PORT_DATA: u16 = 0x511;
const FW_CFG_SIGNATURE: u16 = 0x0000;
const FW_CFG_FILE_DIR: u16 = 0x0019;

fn select(key: u16) {
    // SAFETY: the fw_cfg selector port; selecting an item has no other effect.
    unsafe { x86::io::outw(FW_CFG_PORT_SEL, key) }
}

fn read_bytes(buf: &mut [u8]) {
    for b in buf {
        // SAFETY: the fw_cfg data port streams the selected item.
        *b = unsafe { x86::io::inb(FW_CFG_PORT_DATA) };
    }
}

fn read_be32() -> u32 {
    let mut b = [0; 4];
    read_bytes(&mut b);
    u32::from_be_bytes(b)
}

/// The contents of fw_cfg file `name` copied into `buf`, if the device and the file exist.
pub fn read_file<'a>(name: &str, buf: &'a mut [u8]) -> Option<&'a [u8]> {
    select(FW_CFG_SIGNATURE);
    let mut sig = [0; 4];
    read_bytes(&mut sig);
    if &sig != b"QEMU" {
        return None;
    }
    select(FW_CFG_FILE_DIR);
    let count = read_be32();
    for _ in 0..count {
        let size = read_be32() as usize;
        let mut sel = [0; 2];
        read_bytes(&mut sel);
        let mut reserved = [0; 2];
        read_bytes(&mut reserved);
        let mut fname = [0u8; 56];
        read_bytes(&mut fname);
        let flen = fname.iter().position(|&c| c == 0).unwrap_or(56);
        if &fname[..flen] == name.as_bytes() {
            let n = size.min(buf.len());
            select(u16::from_be_bytes(sel));
            read_bytes(&mut buf[..n]);
            return Some(&buf[..n]);
        }
    }
    None
}
