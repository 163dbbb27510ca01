//! Float vectors read in place from a model file, stored as f32 or as IEEE f16 bits.
//!
//! Two classes of vectors may be f16 in a file: the int4 group scales (format version 6) and the
//! biases and LayerNorm parameters (format version 7). Widening f16 to f32 is exact, so a value reads
//! as the same f32 on every machine, in every SIMD twin and on the host and the device alike: a
//! file with f16 vectors computes bit for bit what a file holding the widened values as f32 would.

use half::f16;
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};

/// f16 bits to f32, the definition: the `half` crate's conversion (exact; F16C or `fcvt` where the
/// host has them, a software routine elsewhere).
pub fn widen_f16_reference(bits: u16) -> f32 {
    f16::from_bits(bits).to_f32()
}

/// f32 to f16 bits, the definition: `half`'s round to nearest, ties to even (±inf past 65504).
pub fn narrow_f16_reference(x: f32) -> u16 {
    f16::from_f32(x).to_bits()
}

/// Whether this target converts with the FPU's `VCVTB` (hard-float Cortex-M: FPv4-SP and later, the
/// M4F, M7, M33 and M55, all of which have the half-precision conversions) rather than `half`'s
/// software routine (about 20 instructions a value there). [`check_f16_twins`] holds the two equal on
/// the device.
const VCVT: bool = cfg!(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"));

/// The `VCVTB` conversions. Rust's `asm!` does not let stable code name an S register on these
/// targets (the `sreg` class needs the unstable `vfp2` feature, though the targets enable the FPU:
/// `+vfp4d16sp`, `+fp-armv8d16sp`), so each block saves `s0` on the stack, moves through a core
/// register and restores `s0`: the compiler's view of every register is unchanged.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
mod vcvt {
    /// One f16 to f32.
    #[inline(always)]
    pub fn widen(bits: u16) -> f32 {
        let mut word = u32::from(bits);
        // SAFETY: reads and writes `word` and `s0`, which it saves and restores on the stack (no
        // other memory); VCVTB.F32.F16 exists on every hard-float Cortex-M target, and the firmware
        // enables the FPU (CPACR) before any float instruction. FPSCR keeps its reset value (IEEE
        // half format, no flush to zero), so the conversion is exact.
        unsafe {
            core::arch::asm!(
                "vpush {{s0}}",
                "vmov s0, {w}",
                "vcvtb.f32.f16 s0, s0",
                "vmov {w}, s0",
                "vpop {{s0}}",
                w = inout(reg) word,
                options(pure, nomem, preserves_flags),
            )
        };
        f32::from_bits(word)
    }

    /// `bits` into `out`, `len` values (both at least that long).
    #[inline(always)]
    pub fn widen_slice(bits: &[u16], out: &mut [f32]) {
        let len = bits.len().min(out.len());
        if len == 0 {
            return;
        }
        // SAFETY: reads `len` u16 from `bits` and writes `len` f32 to `out`, both checked above to
        // hold them; `s0` is saved and restored; flags are clobbered (declared).
        unsafe {
            core::arch::asm!(
                "vpush {{s0}}",
                "2:",
                "ldrh {t}, [{src}], #2",
                "vmov s0, {t}",
                "vcvtb.f32.f16 s0, s0",
                "vstmia {dst}!, {{s0}}",
                "subs {n}, {n}, #1",
                "bne 2b",
                "vpop {{s0}}",
                src = inout(reg) bits.as_ptr() => _,
                dst = inout(reg) out.as_mut_ptr() => _,
                n = inout(reg) len => _,
                t = out(reg) _,
            )
        };
    }

    /// `x` into `out` as f16 bits, rounded to nearest, ties to even (FPSCR's reset mode).
    #[inline(always)]
    pub fn narrow_slice(x: &[f32], out: &mut [u16]) {
        let len = x.len().min(out.len());
        if len == 0 {
            return;
        }
        // SAFETY: as `widen_slice`, reading `len` f32 and writing `len` u16.
        unsafe {
            core::arch::asm!(
                "vpush {{s0}}",
                "2:",
                "vldmia {src}!, {{s0}}",
                "vcvtb.f16.f32 s0, s0",
                "vmov {t}, s0",
                "strh {t}, [{dst}], #2",
                "subs {n}, {n}, #1",
                "bne 2b",
                "vpop {{s0}}",
                src = inout(reg) x.as_ptr() => _,
                dst = inout(reg) out.as_mut_ptr() => _,
                n = inout(reg) len => _,
                t = out(reg) _,
            )
        };
    }

    /// One f32 to f16 bits.
    #[inline(always)]
    pub fn narrow(x: f32) -> u16 {
        let mut out = [0u16];
        narrow_slice(&[x], &mut out);
        out[0]
    }
}

/// f16 bits to f32 ([`widen_f16_reference`]'s bits): `VCVTB` on hard-float Cortex-M.
#[inline(always)]
pub fn widen_f16(bits: u16) -> f32 {
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    return vcvt::widen(bits);
    #[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
    widen_f16_reference(bits)
}

/// f32 to f16 bits ([`narrow_f16_reference`]'s bits): `VCVTB` on hard-float Cortex-M.
#[inline(always)]
pub fn narrow_f16(x: f32) -> u16 {
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    return vcvt::narrow(x);
    #[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
    narrow_f16_reference(x)
}

/// `bits` widened into `out` (same length): `VCVTB` in a loop on hard-float Cortex-M, `half`'s slice
/// conversion (vectorized with F16C or NEON) elsewhere.
#[inline]
pub fn widen_f16_slice(bits: &[u16], out: &mut [f32]) {
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    return vcvt::widen_slice(bits, out);
    #[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
    bits.reinterpret_cast::<f16>().convert_to_f32_slice(out);
}

/// `x` narrowed into `out` (same length), as [`widen_f16_slice`] the other way.
#[inline]
pub fn narrow_f16_slice(x: &[f32], out: &mut [u16]) {
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    return vcvt::narrow_slice(x, out);
    #[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
    out.reinterpret_cast_mut::<f16>().convert_from_f32_slice(x);
}

/// Whether [`widen_f16`] and the other conversions here are the FPU's (a fast twin) rather than the
/// definitions themselves.
pub const fn f16_twins_are_hardware() -> bool {
    VCVT
}

/// A conversion twin that disagreed with its definition ([`check_f16_twins`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct F16Mismatch {
    /// `"widen"` or `"narrow"`.
    pub conversion: &'static str,
    /// The input's bits (f16 for widening, f32 for narrowing).
    pub input: u32,
    pub expected: u32,
    pub found: u32,
}

/// Device self-test of the conversions: every one of the 63,488 non-NaN f16 values widened, and
/// 65,536 f32 values narrowed (a stride through every bit pattern, plus each f16's neighbours and
/// the midpoints between f16 values, where ties to even decide), against the definitions. A few
/// milliseconds on the M4; no memory.
pub fn check_f16_twins() -> Result<(), F16Mismatch> {
    let mismatch = |conversion, input, expected, found| Err(F16Mismatch { conversion, input, expected, found });
    for bits in 0..=u16::MAX {
        let expected = widen_f16_reference(bits);
        if expected.is_nan() {
            continue; // model files hold no NaN (checked at load); payloads are not compared
        }
        let found = widen_f16(bits);
        if found.to_bits() != expected.to_bits() {
            return mismatch("widen", u32::from(bits), expected.to_bits(), found.to_bits());
        }
        // The f32 just above, just below, and halfway to the next f16 (a tie).
        let next = widen_f16_reference(bits.wrapping_add(1));
        let inputs = [expected, f32::from_bits(expected.to_bits().wrapping_add(1)), (expected + next) / 2.0];
        for x in inputs.into_iter().chain([f32::from_bits(u32::from(bits).wrapping_mul(65_537).wrapping_add(12_345))]) {
            if x.is_nan() {
                continue;
            }
            let (expected, found) = (narrow_f16_reference(x), narrow_f16(x));
            if found != expected {
                return mismatch("narrow", x.to_bits(), u32::from(expected), u32::from(found));
            }
        }
    }
    Ok(())
}

/// f16 values are widened this many at a time into a stack buffer (256 bytes of stack) by
/// [`Floats::for_each_f32_run`]: a whole row of bias or LayerNorm is not needed at once.
pub const WIDEN_RUN: usize = 64;

/// A vector of floats as the file stores it.
#[derive(Clone, Copy, Debug)]
pub enum Floats<'w> {
    F32(&'w [f32]),
    /// IEEE binary16 bits.
    F16(&'w [u16]),
}

impl<'w> Floats<'w> {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Self::F32(s) => s.len(),
            Self::F16(s) => s.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i` as f32.
    #[inline(always)]
    pub fn get(&self, i: usize) -> f32 {
        match self {
            Self::F32(s) => s[i],
            Self::F16(s) => widen_f16(s[i]),
        }
    }

    /// Values `[start, end)`.
    pub fn range(&self, start: usize, end: usize) -> Self {
        match self {
            Self::F32(s) => Self::F32(&s[start..end]),
            Self::F16(s) => Self::F16(&s[start..end]),
        }
    }

    /// The f32 values; empty for f16 ones. Per-output-channel scales (int8 linears and embedding
    /// rows) are always f32: the layout gives f16 to int4 group scales only.
    pub fn f32s(&self) -> &'w [f32] {
        match self {
            Self::F32(s) => s,
            Self::F16(_) => &[],
        }
    }

    /// Values `[start, start + out.len())` into `out`, as f32.
    pub fn widen_into(&self, start: usize, out: &mut [f32]) {
        let end = start + out.len();
        match self {
            Self::F32(s) => out.copy_from_slice(&s[start..end]),
            Self::F16(s) => widen_f16_slice(&s[start..end], out),
        }
    }

    /// Calls `f(start, values)` on consecutive runs that cover every value in order, as f32: f32
    /// values in one run, borrowed (no copy); f16 ones widened [`WIDEN_RUN`] at a time on the stack.
    #[inline]
    pub fn for_each_f32_run(&self, mut f: impl FnMut(usize, &[f32])) {
        match self {
            Self::F32(s) => f(0, s),
            Self::F16(s) => {
                let mut buffer = [0.0f32; WIDEN_RUN];
                for (run, bits) in s.chunks(WIDEN_RUN).enumerate() {
                    let values = &mut buffer[..bits.len()];
                    widen_f16_slice(bits, values);
                    f(run * WIDEN_RUN, values);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_twins_match_their_definitions() {
        assert_eq!(check_f16_twins(), Ok(()));
        let mut wide = [0.0f32; 5];
        widen_f16_slice(&[0x3c00, 0x0001, 0xfbff, 0x7c00, 0x8000], &mut wide);
        assert_eq!(wide, [1.0, 5.960_464_5e-8, -65504.0, f32::INFINITY, -0.0]);
        let mut narrow = [0u16; 4];
        narrow_f16_slice(&[1.0, 65520.0, 1.0 + 1.0 / 4096.0, -2.5], &mut narrow);
        assert_eq!(narrow, [0x3c00, 0x7c00, 0x3c00, 0xc100]);
    }

    #[test]
    fn f16_runs_and_widening_read_the_same_values_as_get() {
        let values: std::vec::Vec<f32> = (0..150).map(|i| (i as f32 - 70.0) * 0.37).collect();
        let bits: std::vec::Vec<u16> = values.iter().map(|&v| f16::from_f32(v).to_bits()).collect();
        let widened: std::vec::Vec<f32> = bits.iter().map(|&b| f16::from_bits(b).to_f32()).collect();
        for floats in [Floats::F32(&widened), Floats::F16(&bits)] {
            let mut seen = std::vec::Vec::new();
            floats.for_each_f32_run(|start, run| {
                assert_eq!(start, seen.len());
                seen.extend_from_slice(run);
            });
            assert_eq!(seen, widened);
            let mut part = [0.0f32; 37];
            floats.widen_into(100, &mut part);
            assert_eq!(&part[..], &widened[100..137]);
            assert_eq!((floats.get(149), floats.len()), (widened[149], 150));
        }
    }
}
