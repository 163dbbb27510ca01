//! The elementwise and row-wise hot loops of the model, each written once as plain scalar Rust and
//! compiled per SIMD tier by the core's one dispatch, [`electra_core::simd::multiversion!`] (baseline, AVX2,
//! AVX-512 on x86-64, the widest the CPU runs chosen at run time). The scalar functions they call (`exp`,
//! `ln`, the normal CDF and density) are the core's [`electra_core::math`], the same the inference paths use.
//! The code is shaped for the vectorizer (fixed-width lanes for reductions, selects instead of branches).
//!
//! Every kernel has a scalar float64 twin written as the textbook formula in the test module at the bottom,
//! and one harness runs every kernel, in both compilations, against its twin.

use core::mem::MaybeUninit;
use electra_core::math;
use electra_core::simd::multiversion;

/// Lanes of the fixed-width accumulators: 8 float32 fill one AVX2 register.
const LANES: usize = 8;

/// `Σ x` with 8 partial sums (vectorizes; float32 rounding spread over lanes).
#[inline(always)]
fn sum8(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + tail.iter().sum::<f32>()
}

/// `Σ a·b` with 8 partial sums.
#[inline(always)]
fn dot8(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + ta.iter().zip(tb).map(|(x, y)| x * y).sum::<f32>()
}

/// LayerNorm statistics of one row, `(mean, 1/√(var + eps))`: the one place both LayerNorm forwards
/// ([`layernorm_row`], [`layernorm_row_in_place`]) take them from, so they agree to the bit. Two passes:
/// the variance of the centered row, as accurate as float32 allows. Inlined into each SIMD compilation of
/// its callers, like the sums above.
#[inline(always)]
fn mean_rstd(x: &[f32], eps: f32) -> (f32, f32) {
    let inv_c = 1.0 / x.len() as f32;
    let mean = sum8(x) * inv_c;
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|&v| (v - mean) * (v - mean)).sum();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += (c[i] - mean) * (c[i] - mean);
        }
    }
    let var = (acc.iter().sum::<f32>() + tail) * inv_c;
    (mean, 1.0 / (var + eps).sqrt())
}

/// `max x` with 8 partial maxima (−∞ for an empty slice).
#[inline(always)]
fn max8(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    acc.iter().chain(tail).fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

multiversion! {
    /// GELU (exact erf form) over `u`, in one pass: writes `u·Φ(u)` into `out` (memory that may not have been
    /// written yet: fresh activations need no zeroing pass first) and replaces `u` by the slope
    /// `GELU'(u) = Φ(u) + u·φ(u)`, all the backward pass needs (`u` itself is not kept).
    pub fn gelu_forward(u: &mut [f32], out: &mut [MaybeUninit<f32>]) {
        for (u, o) in u.iter_mut().zip(out.iter_mut()) {
            let x = *u;
            let cdf = math::normal_cdf(x);
            o.write(x * cdf);
            *u = cdf + x * math::normal_pdf(x);
        }
    }
}

/// GELU (exact erf form) in place, `x ← x·Φ(x)`, for inference: no slope is kept. The float encoder's loop
/// in core, so inference in the trainer and in `electra infer` is one piece of code.
pub use electra_core::float::activation::gelu_in_place;

multiversion! {
    /// In place: `d ← d · GELU'(u)`, with the slopes `GELU'(u)` that [`gelu_forward`] left.
    pub fn gelu_backward(slope: &[f32], d: &mut [f32]) {
        for (&s, d) in slope.iter().zip(d.iter_mut()) {
            *d *= s;
        }
    }
}

multiversion! {
    /// Every row of `scores [rows, T]` in place: `softmax(scale · row)` over the keys whose `keep` is 1;
    /// keys with `keep` 0 get exactly 0.
    pub fn masked_softmax_rows(scores: &mut [f32], keep: &[f32], scale: f32) {
        let t = keep.len();
        for row in scores.chunks_exact_mut(t) {
            let mut acc = [f32::NEG_INFINITY; LANES];
            for (c, k) in row.chunks_exact(LANES).zip(keep.chunks_exact(LANES)) {
                for i in 0..LANES {
                    let v = if k[i] != 0.0 { c[i] * scale } else { f32::NEG_INFINITY };
                    acc[i] = if v > acc[i] { v } else { acc[i] };
                }
            }
            let tail = t - t % LANES;
            let mut max = acc.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
            for i in tail..t {
                if keep[i] != 0.0 && row[i] * scale > max {
                    max = row[i] * scale;
                }
            }
            // exp clamps its argument, so a masked key's e^{large} is finite and × 0 is exactly 0.
            for (x, &k) in row.iter_mut().zip(keep) {
                *x = math::exp(*x * scale - max) * k;
            }
            let inv = 1.0 / sum8(row);
            for x in row.iter_mut() {
                *x *= inv;
            }
        }
    }
}

multiversion! {
    /// Softmax backward for every row of `dp [rows, T]` in place, with `p` the softmax output:
    /// `ds = scale · p ⊙ (dp − Σ_j p_j dp_j)`.
    pub fn softmax_backward_rows(dp: &mut [f32], p: &[f32], t: usize, scale: f32) {
        for (d, p) in dp.chunks_exact_mut(t).zip(p.chunks_exact(t)) {
            let dot = dot8(d, p);
            for (d, &p) in d.iter_mut().zip(p) {
                *d = scale * p * (*d - dot);
            }
        }
    }
}

multiversion! {
    /// LayerNorm forward of one row: writes `x̂` and `y = γ·x̂ + β`, returns `1/σ`.
    pub fn layernorm_row(x: &[f32], gamma: &[f32], beta: &[f32], eps: f32, xhat: &mut [f32], y: &mut [f32]) -> f32 {
        let (mean, rstd) = mean_rstd(x, eps);
        for i in 0..x.len() {
            let h = (x[i] - mean) * rstd;
            xhat[i] = h;
            y[i] = gamma[i] * h + beta[i];
        }
        rstd
    }
}

multiversion! {
    /// LayerNorm forward of one row in place, `x ← γ·(x − mean)/σ + β`, for inference: nothing kept for a
    /// backward pass. The same two-pass mean and variance as [`layernorm_row`], so the same bits.
    pub fn layernorm_row_in_place(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let (mean, rstd) = mean_rstd(x, eps);
        for i in 0..x.len() {
            x[i] = gamma[i] * ((x[i] - mean) * rstd) + beta[i];
        }
    }
}

multiversion! {
    /// LayerNorm input gradient of one row: `dx = (1/σ)·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))`, `dx̂ = dy·γ`.
    pub fn layernorm_backward_row(dy: &[f32], xhat: &[f32], gamma: &[f32], rstd: f32, dx: &mut [f32]) {
        let c = dy.len();
        let inv_c = 1.0 / c as f32;
        let (mut a1, mut a2) = ([0.0f32; LANES], [0.0f32; LANES]);
        let mut i = 0;
        while i + LANES <= c {
            for l in 0..LANES {
                let g = dy[i + l] * gamma[i + l];
                a1[l] += g;
                a2[l] += g * xhat[i + l];
            }
            i += LANES;
        }
        let (mut s1, mut s2) = (a1.iter().sum::<f32>(), a2.iter().sum::<f32>());
        for j in i..c {
            let g = dy[j] * gamma[j];
            s1 += g;
            s2 += g * xhat[j];
        }
        let (mean1, mean2) = (s1 * inv_c, s2 * inv_c);
        for j in 0..c {
            dx[j] = rstd * (dy[j] * gamma[j] - mean1 - xhat[j] * mean2);
        }
    }
}

multiversion! {
    /// `Σ x²` accumulated in float64 over 8 lanes (a fixed order, so the same on every machine): the squared
    /// global gradient norm of clipping. One float64 chain would not vectorize.
    pub fn sum_squares_f64(x: &[f32]) -> f64 {
        let mut acc = [0.0f64; LANES];
        let chunks = x.chunks_exact(LANES);
        let tail = chunks.remainder();
        for c in chunks {
            for i in 0..LANES {
                let v = c[i] as f64;
                acc[i] += v * v;
            }
        }
        acc.iter().sum::<f64>() + tail.iter().map(|&v| v as f64 * v as f64).sum::<f64>()
    }
}

multiversion! {
    /// `acc[j] += Σ_rows a[r, j]·b[r, j]` (or `Σ_rows a[r, j]` when `b` is empty) over row-major `[rows, C]`
    /// blocks: the column sums behind LayerNorm's `dγ` and every bias gradient.
    pub fn column_sums(acc: &mut [f32], a: &[f32], b: &[f32]) {
        let c = acc.len();
        if b.is_empty() {
            for row in a.chunks_exact(c) {
                for (s, &v) in acc.iter_mut().zip(row) {
                    *s += v;
                }
            }
        } else {
            for (ra, rb) in a.chunks_exact(c).zip(b.chunks_exact(c)) {
                for ((s, &x), &y) in acc.iter_mut().zip(ra).zip(rb) {
                    *s += x * y;
                }
            }
        }
    }
}

/// Cross-entropy of one row of logits against `label`: overwrites the row with
/// `(softmax − onehot(label))·weight` and returns `−log softmax[label]`.
pub fn cross_entropy_row(row: &mut [f32], label: usize, weight: f32) -> f64 {
    let label_logit = row[label];
    let max = exp_shifted(row);
    cross_entropy_from_exp(row, label, weight) + (max - label_logit) as f64
}

multiversion! {
    /// In place: `row ← exp(row − max row)`; returns `max row`. The numerators of a softmax.
    pub fn exp_shifted(row: &mut [f32]) -> f32 {
        let max = max8(row);
        for x in row.iter_mut() {
            *x = math::exp(*x - max);
        }
        max
    }
}

multiversion! {
    /// Finishes a cross-entropy from [`exp_shifted`]'s output `e`: overwrites it with
    /// `(softmax − onehot(label))·weight` and returns `ln Σe` (the loss is that plus `max − logit[label]`).
    pub fn cross_entropy_from_exp(e: &mut [f32], label: usize, weight: f32) -> f64 {
        // Blocks of 1024 summed in float32 lanes, blocks added in float64: accurate over a 30k vocab.
        let sum: f64 = e.chunks(1024).map(|c| sum8(c) as f64).sum();
        let scale = (1.0 / sum) as f32 * weight;
        for x in e.iter_mut() {
            *x *= scale;
        }
        e[label] -= weight;
        sum.ln()
    }
}

multiversion! {
    /// One AdamW update over a run of elements that share a decay factor: clip-scaled gradient, moments,
    /// `θ ← θ·decay − step·m/(√v/bc2 + ε)` (see `optim::adamw`).
    pub fn adamw_update(
        p: &mut [f32],
        g: &[f32],
        m: &mut [f32],
        v: &mut [f32],
        hyper: &AdamWHyper,
    ) {
        let h = *hyper;
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let g = g * h.clip_scale;
            *m = h.beta1 * *m + (1.0 - h.beta1) * g;
            *v = h.beta2 * *v + (1.0 - h.beta2) * g * g;
            let denom = v.sqrt() * h.inv_bc2_sqrt + h.eps;
            *p = *p * h.decay - h.step_size * *m / denom;
        }
    }
}

/// The per-step constants of [`adamw_update`].
#[derive(Clone, Copy, Debug)]
pub struct AdamWHyper {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub clip_scale: f32,
    /// `1/√(1 − β₂ᵗ)` with bias correction, else 1.
    pub inv_bc2_sqrt: f32,
    /// `lr/(1 − β₁ᵗ)` with bias correction, else `lr`.
    pub step_size: f32,
    /// `1 − lr·λ` for decayed tensors, 1 for the others.
    pub decay: f32,
}

/// Head room of the lower bound `−ln u ≥ 1 − u` in [`gumbel_argmin`]'s skip test: covers the float rounding
/// of `1 − u`, of the product it is compared with and of the polynomial `ln` (each a few ulps, ~1e-6 in
/// all), so a skipped key is always above the bound it was skipped against, never a would-be winner.
const GUMBEL_SKIP_SLACK: f32 = 1.0 + 1e-4;

multiversion! {
    /// Gumbel-max over one row, given `e = exp(logits − max)` and uniforms `u ∈ (0, 1)`: the index of
    /// `max_v (logit_v − ln(−ln u_v))`, computed as `min_v (−ln u_v)/e_v` (the same argmax, one logarithm).
    /// Returns `(index, key)` of the smallest key in this block, or a key ≥ `bound` when none is below it.
    ///
    /// Most keys lose by far: `−ln u ≥ 1 − u`, so a key is at least `(1 − u)/e`, and a group of lanes whose
    /// bounds all exceed the best key so far (or `bound`, the best of earlier blocks) skips the logarithm and
    /// the division. Skipped keys could never win, so the result is the one without the shortcut.
    pub fn gumbel_argmin(e: &[f32], u: &[f32], bound: f32) -> (usize, f32) {
        let mut best = [f32::INFINITY; LANES];
        let mut best_i = [0usize; LANES];
        let n = e.len().min(u.len());
        let mut i = 0;
        while i + LANES <= n {
            let mut candidate = false;
            for l in 0..LANES {
                // False for e = 0 with no best yet (∞·0 is NaN): that key is +∞ and cannot win either.
                candidate |= 1.0 - u[i + l] <= best[l].min(bound) * e[i + l] * GUMBEL_SKIP_SLACK;
            }
            if candidate {
                for l in 0..LANES {
                    let key = -math::ln(u[i + l]) / e[i + l];
                    if key < best[l] {
                        best[l] = key;
                        best_i[l] = i + l;
                    }
                }
            }
            i += LANES;
        }
        let mut out = (0, f32::INFINITY);
        for l in 0..LANES {
            if best[l] < out.1 || (best[l] == out.1 && best_i[l] < out.0) {
                out = (best_i[l], best[l]);
            }
        }
        for j in i..n {
            let key = -math::ln(u[j]) / e[j];
            if key < out.1 {
                out = (j, key);
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::rng::TrainRng;

    /// The one harness: runs `check` once per compilation of the kernels (the widest copy this CPU runs, then
    /// AVX2, then the baseline). The tier is process-wide; every copy computes the same bits, so another test
    /// running meanwhile is only slower or faster.
    fn every_simd_tier(check: impl Fn(&str)) {
        for (name, tier) in [("widest", 0), ("avx2", 2), ("baseline", 1)] {
            electra_core::simd::force_tier(tier);
            check(name);
        }
        electra_core::simd::force_tier(0);
    }

    fn random(rng: &mut TrainRng, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| (rng.uniform_open() * 2.0 - 1.0) * scale).collect()
    }

    fn close(what: &str, got: &[f32], want: &[f64], rel: f64, abs: f64) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!((g as f64 - w).abs() <= rel * w.abs() + abs, "{what}[{i}]: {g} vs {w}");
        }
    }

    #[test]
    fn softmax_rows_and_backward_match_the_formulas() {
        let mut rng = TrainRng::new(1);
        let t = 37;
        let scores = random(&mut rng, 3 * t, 6.0);
        let keep: Vec<f32> = (0..t).map(|j| if j % 5 == 3 { 0.0 } else { 1.0 }).collect();
        let scale = 0.125f32;
        // Twin: exp of kept scaled scores over their sum.
        let mut want = vec![0.0f64; 3 * t];
        for r in 0..3 {
            let row = &scores[r * t..(r + 1) * t];
            let z: f64 = (0..t).filter(|&j| keep[j] != 0.0).map(|j| (row[j] as f64 * scale as f64).exp()).sum();
            for j in 0..t {
                want[r * t + j] = if keep[j] != 0.0 { (row[j] as f64 * scale as f64).exp() / z } else { 0.0 };
            }
        }
        let dp = random(&mut rng, 3 * t, 1.0);
        let mut dwant = vec![0.0f64; 3 * t];
        for r in 0..3 {
            let dot: f64 = (0..t).map(|j| dp[r * t + j] as f64 * want[r * t + j]).sum();
            for j in 0..t {
                dwant[r * t + j] = scale as f64 * want[r * t + j] * (dp[r * t + j] as f64 - dot);
            }
        }
        every_simd_tier(|name| {
            let mut got = scores.clone();
            masked_softmax_rows(&mut got, &keep, scale);
            close(&format!("softmax ({name})"), &got, &want, 1e-5, 1e-7);
            let mut dgot = dp.clone();
            softmax_backward_rows(&mut dgot, &got, t, scale);
            close(&format!("softmax backward ({name})"), &dgot, &dwant, 1e-4, 1e-7);
        });
    }

    #[test]
    fn layernorm_rows_match_the_formulas() {
        let mut rng = TrainRng::new(2);
        let c = 45;
        let x: Vec<f32> = random(&mut rng, c, 3.0).iter().map(|v| v + 5.0).collect();
        let (gamma, beta, dy) = (random(&mut rng, c, 1.0), random(&mut rng, c, 1.0), random(&mut rng, c, 1.0));
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / c as f64;
        let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / c as f64;
        let rstd = 1.0 / (var + 1e-12).sqrt();
        let xhat: Vec<f64> = x.iter().map(|&v| (v as f64 - mean) * rstd).collect();
        let y: Vec<f64> = (0..c).map(|i| gamma[i] as f64 * xhat[i] + beta[i] as f64).collect();
        let g: Vec<f64> = (0..c).map(|i| dy[i] as f64 * gamma[i] as f64).collect();
        let m1 = g.iter().sum::<f64>() / c as f64;
        let m2 = g.iter().zip(&xhat).map(|(a, b)| a * b).sum::<f64>() / c as f64;
        let dx: Vec<f64> = (0..c).map(|i| rstd * (g[i] - m1 - xhat[i] * m2)).collect();
        every_simd_tier(|name| {
            let (mut h, mut out, mut d) = (vec![0.0; c], vec![0.0; c], vec![0.0; c]);
            let r = layernorm_row(&x, &gamma, &beta, 1e-12, &mut h, &mut out);
            assert!(((r as f64) - rstd).abs() < 1e-5 * rstd, "{name}: rstd");
            close(&format!("layernorm x̂ ({name})"), &h, &xhat, 1e-4, 1e-5);
            close(&format!("layernorm y ({name})"), &out, &y, 1e-4, 1e-5);
            let mut in_place = x.clone();
            layernorm_row_in_place(&mut in_place, &gamma, &beta, 1e-12);
            assert_eq!(in_place, out, "{name}: layernorm in place is the training forward's y, bit for bit");
            layernorm_backward_row(&dy, &h, &gamma, r, &mut d);
            close(&format!("layernorm dx ({name})"), &d, &dx, 1e-4, 1e-5);
        });
    }

    #[test]
    fn cross_entropy_and_gelu_match_the_formulas() {
        let mut rng = TrainRng::new(3);
        let logits = random(&mut rng, 1001, 8.0);
        let label = 17;
        let max = logits.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let z: f64 = logits.iter().map(|&v| (v as f64 - max).exp()).sum();
        let loss = z.ln() + max - logits[label] as f64;
        let grad: Vec<f64> = logits
            .iter()
            .enumerate()
            .map(|(i, &v)| 0.5 * ((v as f64 - max).exp() / z - f64::from(u8::from(i == label))))
            .collect();
        let u = random(&mut rng, 999, 6.0);
        let gelu: Vec<f64> = u.iter().map(|&x| 0.5 * x as f64 * (1.0 + libm::erf(x as f64 / 2f64.sqrt()))).collect();
        let dgelu: Vec<f64> = u
            .iter()
            .map(|&x| {
                let x = x as f64;
                0.5 * (1.0 + libm::erf(x / 2f64.sqrt()))
                    + x * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
            })
            .collect();
        every_simd_tier(|name| {
            let mut row = logits.clone();
            let got = cross_entropy_row(&mut row, label, 0.5);
            assert!((got - loss).abs() < 1e-5, "{name}: loss {got} vs {loss}");
            close(&format!("cross-entropy grad ({name})"), &row, &grad, 1e-4, 1e-8);
            let (mut slope, mut o) = (u.clone(), vec![MaybeUninit::uninit(); u.len()]);
            gelu_forward(&mut slope, &mut o);
            // SAFETY: `gelu_forward` wrote every element of `o`.
            let o: Vec<f32> = unsafe { o.iter().map(|x| x.assume_init()).collect() };
            close(&format!("gelu ({name})"), &o, &gelu, 1e-5, 3e-6);
            close(&format!("gelu' ({name})"), &slope, &dgelu, 1e-5, 3e-6);
            let mut in_place = u.clone();
            gelu_in_place(&mut in_place);
            assert_eq!(in_place, o, "{name}: gelu in place is the training forward's activation, bit for bit");
            let mut d = u.clone();
            gelu_backward(&slope, &mut d);
            let chain: Vec<f64> = u.iter().zip(&dgelu).map(|(&x, &s)| x as f64 * s).collect();
            close(&format!("gelu backward ({name})"), &d, &chain, 1e-5, 3e-6);
        });
    }

    #[test]
    fn sums_and_updates_match_the_formulas() {
        let mut rng = TrainRng::new(4);
        let (rows, c) = (7, 13);
        let a = random(&mut rng, rows * c, 1.0);
        let b = random(&mut rng, rows * c, 1.0);
        let plain: Vec<f64> = (0..c).map(|j| (0..rows).map(|r| a[r * c + j] as f64).sum()).collect();
        let weighted: Vec<f64> =
            (0..c).map(|j| (0..rows).map(|r| (a[r * c + j] * b[r * c + j]) as f64).sum()).collect();
        let hyper = AdamWHyper {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            clip_scale: 0.5,
            inv_bc2_sqrt: 2.0,
            step_size: 1e-2,
            decay: 0.99,
        };
        let (p0, g, m0, v0) = (a.clone(), b.clone(), random(&mut rng, rows * c, 0.1), random(&mut rng, rows * c, 0.1));
        let v0: Vec<f32> = v0.iter().map(|x| x.abs()).collect();
        let want_p: Vec<f64> = (0..p0.len())
            .map(|i| {
                let g = g[i] as f64 * 0.5;
                let m = 0.9 * m0[i] as f64 + 0.1 * g;
                let v = 0.999 * v0[i] as f64 + 0.001 * g * g;
                p0[i] as f64 * 0.99 - 1e-2 * m / (v.sqrt() * 2.0 + 1e-6)
            })
            .collect();
        let e: Vec<f32> = random(&mut rng, 100, 1.0).iter().map(|x| x.abs() + 0.01).collect();
        let u: Vec<f32> = (0..100).map(|_| rng.uniform_open()).collect();
        let keys: Vec<f64> = e.iter().zip(&u).map(|(&e, &u)| -(u as f64).ln() / e as f64).collect();
        let argmin = (0..100).min_by(|&i, &j| keys[i].total_cmp(&keys[j])).unwrap();
        let squares: f64 = a.iter().map(|&x| x as f64 * x as f64).sum();
        every_simd_tier(|name| {
            for n in [0, 5, 8, 91] {
                let want: f64 = a[..n].iter().map(|&x| x as f64 * x as f64).sum();
                assert!((sum_squares_f64(&a[..n]) - want).abs() <= 1e-12 * want, "{name}: Σ x² of {n}");
            }
            assert!((sum_squares_f64(&a) - squares).abs() <= 1e-12 * squares, "{name}: Σ x²");
            let mut acc = vec![0.0; c];
            column_sums(&mut acc, &a, &[]);
            close(&format!("column sums ({name})"), &acc, &plain, 1e-5, 1e-6);
            let mut acc = vec![0.0; c];
            column_sums(&mut acc, &a, &b);
            close(&format!("weighted column sums ({name})"), &acc, &weighted, 1e-5, 1e-6);
            let (mut p, mut m, mut v) = (p0.clone(), m0.clone(), v0.clone());
            adamw_update(&mut p, &g, &mut m, &mut v, &hyper);
            close(&format!("adamw ({name})"), &p, &want_p, 1e-5, 1e-6);
            assert_eq!(gumbel_argmin(&e, &u, f32::INFINITY).0, argmin, "{name}: gumbel argmin");
            // A bound above the winner changes nothing; one below it leaves no winner in this block.
            let winner = keys[argmin] as f32;
            assert_eq!(gumbel_argmin(&e, &u, winner * 1.5).0, argmin, "{name}: gumbel argmin, loose bound");
            assert!(gumbel_argmin(&e, &u, winner * 0.5).1 >= winner * 0.5, "{name}: gumbel argmin, tight bound");
        });
    }
}
