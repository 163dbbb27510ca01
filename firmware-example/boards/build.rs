//! Build script of every board crate (each board's Cargo.toml says `build = "../build.rs"`): hands the linker that
//! board's memory map. The program's own build-time settings (model file, sentences, arena) are `app/build.rs`'s.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    // The board's directory (cargo runs this script for one board crate at a time; this is that crate's manifest).
    let board_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    // A directory of this board crate's own, where the linker may look for files.
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let memory_x = board_dir.join("memory.x");
    // cortex-m-rt's link.x says `INCLUDE memory.x`: put this board's copy where the linker looks for it...
    fs::copy(&memory_x, out.join("memory.x")).unwrap_or_else(|e| panic!("copying {}: {e}", memory_x.display()));
    // ...which is OUT_DIR, once it is on the linker's search path.
    println!("cargo:rustc-link-search={}", out.display());
    // Relink when the memory map changes (and not on every other file change, cargo's default).
    println!("cargo:rerun-if-changed=memory.x");
    // The linker script: cortex-m-rt's link.x (vector table first in FLASH, .text, .rodata, .data, .bss, stack at
    // the top of RAM), which includes memory.x; for the board's binary only.
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
}
