//! The losses HF reports for each head, computed from logits (in f64, like the fixtures' reference):
//! mean binary cross-entropy over real tokens (replaced-token detection) and mean cross-entropy
//! over labels that are not `-100` (MLM, sequence and token classification).

use std::fmt;

/// HF's `ignore_index` for cross-entropy: positions labelled `-100` do not count.
pub const IGNORE_INDEX: i64 = -100;

/// Why a loss could not be computed.
#[derive(Clone, Debug, PartialEq)]
pub enum LossError {
    /// Logits, labels and mask do not line up.
    LengthMismatch { logits: usize, labels: usize, detail: &'static str },
    /// No position counts (all masked or all ignored): the mean is undefined.
    NoTargets,
    /// A label names no class.
    LabelOutOfRange { index: usize, label: i64, classes: usize },
}

impl fmt::Display for LossError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LengthMismatch { logits, labels, detail } => {
                write!(f, "{logits} logits do not match {labels} labels ({detail})")
            }
            Self::NoTargets => write!(f, "no position has a label to score"),
            Self::LabelOutOfRange { index, label, classes } => {
                write!(f, "label {label} at position {index} is not one of {classes} classes")
            }
        }
    }
}

impl std::error::Error for LossError {}

/// `mean over mask = 1 of BCEWithLogits(logit, label)`, labels 0 or 1: HF's `ElectraForPreTraining` loss.
/// Uses the stable form `max(x, 0) - x·y + ln(1 + e^{-|x|})`.
pub fn bce_with_logits_mean(logits: &[f32], labels: &[i64], mask: &[u8]) -> Result<f32, LossError> {
    if logits.len() != labels.len() || logits.len() != mask.len() {
        let detail = "logits, labels and attention mask need one value per token";
        return Err(LossError::LengthMismatch { logits: logits.len(), labels: labels.len(), detail });
    }
    let mut sum = 0.0f64;
    let mut count = 0usize;
    for (index, ((&x, &y), &m)) in logits.iter().zip(labels).zip(mask).enumerate() {
        if m == 0 {
            continue;
        }
        if y != 0 && y != 1 {
            return Err(LossError::LabelOutOfRange { index, label: y, classes: 2 });
        }
        let x = x as f64;
        sum += x.max(0.0) - x * y as f64 + (-x.abs()).exp().ln_1p();
        count += 1;
    }
    if count == 0 {
        return Err(LossError::NoTargets);
    }
    Ok((sum / count as f64) as f32)
}

/// `mean over labels ≠ -100 of -log softmax(logits_row)[label]`, logits `[N, classes]` row-major:
/// HF's `CrossEntropyLoss` as the MLM, sequence and token classification heads use it.
pub fn cross_entropy_mean(logits: &[f32], classes: usize, labels: &[i64]) -> Result<f32, LossError> {
    if classes == 0 || logits.len() != labels.len() * classes {
        let detail = "logits need `classes` values per label";
        return Err(LossError::LengthMismatch { logits: logits.len(), labels: labels.len(), detail });
    }
    let mut sum = 0.0f64;
    let mut count = 0usize;
    for (index, (row, &label)) in logits.chunks_exact(classes).zip(labels).enumerate() {
        if label == IGNORE_INDEX {
            continue;
        }
        if label < 0 || label as usize >= classes {
            return Err(LossError::LabelOutOfRange { index, label, classes });
        }
        let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let log_sum_exp = max + row.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
        sum += log_sum_exp - row[label as usize] as f64;
        count += 1;
    }
    if count == 0 {
        return Err(LossError::NoTargets);
    }
    Ok((sum / count as f64) as f32)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bce_matches_the_definition_and_skips_padding() {
        // -ln σ(2) for label 1, -ln(1 - σ(-1)) = -ln σ(1) for label 0; the masked 100 is ignored.
        let loss = bce_with_logits_mean(&[2.0, -1.0, 100.0], &[1, 0, 0], &[1, 1, 0]).unwrap();
        let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
        let want = (-(sigmoid(2.0).ln()) - (sigmoid(1.0).ln())) / 2.0;
        assert!((loss as f64 - want).abs() < 1e-7);
        // Large logits stay finite (the naive form would take ln 0).
        assert!(bce_with_logits_mean(&[-500.0], &[1], &[1]).unwrap() == 500.0);
        assert_eq!(bce_with_logits_mean(&[1.0], &[1], &[0]), Err(LossError::NoTargets));
        assert!(matches!(bce_with_logits_mean(&[1.0], &[2], &[1]), Err(LossError::LabelOutOfRange { .. })));
    }

    #[test]
    fn cross_entropy_matches_the_definition_and_ignores_minus_100() {
        let logits = [1.0, 2.0, 3.0, 0.0, 0.0, 0.0];
        let loss = cross_entropy_mean(&logits, 3, &[0, IGNORE_INDEX]).unwrap();
        let want = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln() - 1.0;
        assert!((loss as f64 - want).abs() < 1e-6);
        let both = cross_entropy_mean(&logits, 3, &[2, 1]).unwrap() as f64;
        let want_both = ((1f64.exp() + 2f64.exp() + 3f64.exp()).ln() - 3.0 + 3f64.ln()) / 2.0;
        assert!((both - want_both).abs() < 1e-6);
        assert!(matches!(cross_entropy_mean(&logits, 3, &[3, 0]), Err(LossError::LabelOutOfRange { .. })));
        assert!(matches!(cross_entropy_mean(&logits, 4, &[0, 0]), Err(LossError::LengthMismatch { .. })));
    }
}
