//! Sums and maxima over slices with eight independent accumulators, so the compiler can keep them
//! in SIMD lanes (a single running sum is a serial dependency chain that cannot vectorize without
//! reassociation). Each has an obviously correct one-accumulator twin, checked in the tests below.
//! `#[inline(always)]`: a loop compiled per SIMD tier ([`crate::simd::multiversion!`]) takes them into its
//! wider copies. The int8 encoder's row loops use them too.

const LANES: usize = 8;

/// `Σ f(x[i])`, summed in eight interleaved partial sums, then combined.
#[inline(always)]
pub fn sum_by(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += f(v);
        }
    }
    let mut total = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for &v in tail {
        total += f(v);
    }
    total
}

/// `Σ x[i]`.
#[inline(always)]
pub fn sum(x: &[f32]) -> f32 {
    sum_by(x, |v| v)
}

/// `max x[i]` (`-inf` for an empty slice).
#[inline(always)]
pub fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a = a.max(v);
        }
    }
    let mut m = acc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for &v in tail {
        m = m.max(v);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_sums_and_maxima_match_the_one_accumulator_twins() {
        let mut data = [0.0f32; 203];
        for (i, v) in data.iter_mut().enumerate() {
            *v = ((i * 37 % 101) as f32 - 50.0) * 0.013;
        }
        for len in [0, 1, 7, 8, 9, 64, 203] {
            let x = &data[..len];
            let serial: f32 = x.iter().sum();
            // Reordered float sums of ≤ 203 values of magnitude ≤ 0.65: differences stay below 1e-5.
            assert!((sum(x) - serial).abs() < 1e-5, "len {len}");
            let serial_sq: f32 = x.iter().map(|v| v * v).sum();
            assert!((sum_by(x, |v| v * v) - serial_sq).abs() < 1e-5, "len {len}");
            assert_eq!(max(x), x.iter().copied().fold(f32::NEG_INFINITY, f32::max), "len {len}");
        }
    }
}
