//! Compile-time kernel selection for Arm: stable Rust does not expose `cfg(target_feature = "dsp")`
//! for Cortex-M, so the target triple decides. `thumbv7em` (Cortex-M4/M7) always has the DSP
//! extension (`SMLAD`, `SXTB16`); `thumbv6m`/`thumbv7m` never do. `thumbv8m.main` parts may or may
//! not, so they get the DSP kernel only when `ELECTRA_ARM_DSP=1` is set at build time.

fn main() {
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
