//! Compile-time kernel selection for Arm: stable Rust does not expose `cfg(target_feature = "dsp")`
//! for Cortex-M, so the target triple decides. `thumbv7em` (Cortex-M4/M7) always has the DSP
//! extension (`SMLAD`, `SXTB16`); `thumbv6m`/`thumbv7m` never do. `thumbv8m.main` parts may or may
//! not, so they get the DSP kernel only when `ELECTRA_ARM_DSP=1` is set at build time.

fn main() {
    // Helium (MVE, ARMv8.1-M: Cortex-M55) int8 kernels, on request: the M55 has no target triple of
    // its own (`thumbv8m.main` + `target-cpu=cortex-m55`) and stable Rust has no `cfg` for `mve`.
    println!("cargo::rustc-check-cfg=cfg(electra_arm_mve)");
    println!("cargo::rerun-if-env-changed=ELECTRA_ARM_MVE");
    let target_mve = std::env::var("TARGET").unwrap_or_default().starts_with("thumbv8m.main");
    if target_mve && std::env::var("ELECTRA_ARM_MVE").ok().as_deref() == Some("1") {
        println!("cargo::rustc-cfg=electra_arm_mve");
    }
    println!("cargo::rustc-check-cfg=cfg(electra_arm_dsp)");
    println!("cargo::rerun-if-env-changed=ELECTRA_ARM_DSP");
    let target = std::env::var("TARGET").unwrap_or_default();
    let forced = std::env::var("ELECTRA_ARM_DSP").ok();
    let dsp = match forced.as_deref() {
        Some("1") => target.starts_with("thumbv7em") || target.starts_with("thumbv8m.main"),
        Some("0") => false,
        _ => target.starts_with("thumbv7em"),
    };
    if dsp {
        println!("cargo::rustc-cfg=electra_arm_dsp");
    }
}
