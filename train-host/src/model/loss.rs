//! The losses of the four heads, each returning its value and the gradient of its mean.
//!
//! - [`bce_with_logits`]: replaced-token detection, mean over positions with attention mask 1.
//! - [`cross_entropy`]: MLM and token classification (rows labelled −100 are ignored) and sequence
//!   classification, mean over the labelled rows.

use super::{kernels, math};
use ndarray::parallel::prelude::*;
use ndarray::{Array2, ArrayViewMut2, Axis};

/// HF's `ignore_index`: rows with this label take no part in a cross-entropy.
pub const IGNORE_INDEX: i64 = -100;

/// Loss, gradient and counts of a mean binary cross-entropy over logits.
#[derive(Debug)]
pub struct BceOutput {
    pub loss: f32,
    /// `∂loss/∂logit` for every position (0 where inactive).
    pub dlogits: Vec<f32>,
    /// Active positions whose sign of logit agrees with their label.
    pub correct: usize,
    /// Active positions.
    pub count: usize,
}

/// `mean over active i of  max(zᵢ,0) − zᵢ·yᵢ + ln(1 + e^{−|zᵢ|})` (torch's `BCEWithLogitsLoss`).
/// With no active position the loss and gradient are 0.
pub fn bce_with_logits(logits: &[f32], labels: &[f32], active: &[bool]) -> BceOutput {
    let count = active.iter().filter(|&&a| a).count();
    let inv = if count > 0 { 1.0 / count as f64 } else { 0.0 };
    let mut sum = 0.0f64;
    let mut correct = 0;
    let mut dlogits = vec![0.0; logits.len()];
    for i in 0..logits.len() {
        if !active[i] {
            continue;
        }
        let (z, y) = (logits[i] as f64, labels[i] as f64);
        sum += z.max(0.0) - z * y + (-z.abs()).exp().ln_1p();
        dlogits[i] = ((math::sigmoid(logits[i]) as f64 - y) * inv) as f32;
        if (z > 0.0) == (y > 0.5) {
            correct += 1;
        }
    }
    BceOutput { loss: (sum * inv) as f32, dlogits, correct, count }
}

/// Mean cross-entropy of `logits [M, C]` against `labels [M]` (class index, or [`IGNORE_INDEX`]).
/// Overwrites `logits` with `∂loss/∂logits = (softmax − onehot)/count` (0 on ignored rows) and returns
/// `(loss, count)`. Labels must have been validated to lie in `0..C` or be `IGNORE_INDEX`.
pub fn cross_entropy(mut logits: ArrayViewMut2<'_, f32>, labels: &[i64]) -> (f32, usize) {
    let count = labels.iter().filter(|&&l| l != IGNORE_INDEX).count();
    let inv = if count > 0 { 1.0 / count as f32 } else { 0.0 };
    let losses: Vec<f64> = logits
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(labels.par_iter())
        .map(|(mut row, &label)| {
            if label == IGNORE_INDEX {
                row.fill(0.0);
                return 0.0;
            }
            match row.as_slice_mut() {
                Some(r) => kernels::cross_entropy_row(r, label as usize, inv),
                None => {
                    let mut r = row.to_vec();
                    let loss = kernels::cross_entropy_row(&mut r, label as usize, inv);
                    row.assign(&ndarray::ArrayView1::from(&r));
                    loss
                }
            }
        })
        .collect();
    let loss = losses.iter().sum::<f64>() * inv as f64;
    (loss as f32, count)
}

/// Cross-entropy when the logits are still needed afterwards: works on a copy.
pub fn cross_entropy_keep(logits: &Array2<f32>, labels: &[i64]) -> (f32, Array2<f32>) {
    let mut d = logits.clone();
    let (loss, _) = cross_entropy(d.view_mut(), labels);
    (loss, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn cross_entropy_matches_the_formula_and_ignores_minus_100() {
        let logits = array![[1.0f32, 2.0, 3.0], [0.5, -1.0, 0.0], [9.0, 9.0, 9.0]];
        let (loss, d) = cross_entropy_keep(&logits, &[2, 0, IGNORE_INDEX]);
        let lse = |r: &[f64]| r.iter().map(|x| x.exp()).sum::<f64>().ln();
        let want = ((lse(&[1.0, 2.0, 3.0]) - 3.0) + (lse(&[0.5, -1.0, 0.0]) - 0.5)) / 2.0;
        assert!((loss as f64 - want).abs() < 1e-6, "{loss} vs {want}");
        assert_eq!(d.row(2).to_vec(), vec![0.0; 3]);
        // Each labelled row's gradient sums to 0 and is negative only at the label.
        assert!(d.row(0).sum().abs() < 1e-6 && d[[0, 2]] < 0.0 && d[[0, 0]] > 0.0);
    }

    #[test]
    fn bce_counts_only_active_positions() {
        let out = bce_with_logits(&[2.0, -3.0, 100.0], &[1.0, 1.0, 0.0], &[true, true, false]);
        let want = ((1.0f64 + (-2.0f64).exp()).ln() + (1.0 + 3.0f64.exp()).ln()) / 2.0;
        assert!((out.loss as f64 - want).abs() < 1e-6);
        assert_eq!((out.correct, out.count, out.dlogits[2]), (1, 2, 0.0));
    }
}
