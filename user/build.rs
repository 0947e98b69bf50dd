//! Link every user program with JOS's user layout (user/user.ld): entry at 0x800020.
//! Linker arguments do not propagate from dependencies, so this package passes its own.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/user.ld");
    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rerun-if-changed={dir}/user.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
