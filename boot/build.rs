//! Link the boot sector at 0x7C00 with its own linker script.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rustc-link-arg-bins=-T{dir}/boot.ld");
    println!("cargo:rerun-if-changed={dir}/boot.ld");
    println!("cargo:rerun-if-changed={dir}/src/boot.S");
}
