//! Build script: hands the linker our memory map and tells the compiler where the model file is.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    // cortex-m-rt's link.x does `INCLUDE memory.x`; put ours on the linker search path.
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("write memory.x to OUT_DIR");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    // link.x (from cortex-m-rt) is the linker script; it includes memory.x. Only for this binary.
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
}
