//! Float vectors read in place from a model file, stored as f32 or as IEEE f16 bits.
//!
//! Two classes of vectors may be f16 in a file: the int4 group scales (format version 6) and the
//! biases and LayerNorm parameters (format version 7). Widening f16 to f32 is exact, so a value reads
//! as the same f32 on every machine, in every SIMD twin and on the host and the device alike: a
//! file with f16 vectors computes bit for bit what a file holding the widened values as f32 would.

use half::f16;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};

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
            Self::F16(s) => f16::from_bits(s[i]).to_f32(),
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
            Self::F16(s) => s[start..end].reinterpret_cast::<f16>().convert_to_f32_slice(out),
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
                    bits.reinterpret_cast::<f16>().convert_to_f32_slice(values);
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
