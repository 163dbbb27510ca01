//! Replaced-token detection scores: accuracy, precision and recall on replaced tokens, and the exact ROC AUC.
//!
//! A token is *positive* when the generator's sample replaced it (its token differs from the original); the
//! discriminator predicts "replaced" where its logit is above 0 (probability above 1/2).

use serde::Serialize;

/// Per-token RTD logits and labels, gathered over an evaluation set (real tokens only, never padding).
#[derive(Clone, Debug, Default)]
pub struct RtdScores {
    logits: Vec<f32>,
    replaced: Vec<bool>,
}

/// The summary of [`RtdScores`]. Ratios with an empty denominator are `None`, never a made-up 0 or 1.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RtdReport {
    /// Real (non-padding) tokens scored.
    pub tokens: u64,
    /// Tokens the generator replaced.
    pub replaced: u64,
    /// `replaced / tokens`.
    pub replaced_fraction: Option<f64>,
    /// Fraction of tokens classified correctly (logit > 0 ⇔ replaced).
    pub accuracy: Option<f64>,
    /// Accuracy of always answering "original": the baseline a useful discriminator must beat.
    pub all_original_accuracy: Option<f64>,
    /// Of the tokens predicted replaced, the fraction that were.
    pub precision: Option<f64>,
    /// Of the replaced tokens, the fraction predicted replaced.
    pub recall: Option<f64>,
    /// Area under the ROC curve of the logits as a replaced-vs-original score; tied scores count one half.
    pub auc: Option<f64>,
}

impl RtdScores {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one token's logit and whether it was replaced.
    pub fn push(&mut self, logit: f32, replaced: bool) {
        self.logits.push(logit);
        self.replaced.push(replaced);
    }

    pub fn len(&self) -> usize {
        self.logits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.logits.is_empty()
    }

    /// Accuracy, precision, recall and AUC of everything pushed so far.
    pub fn report(&self) -> RtdReport {
        let tokens = self.logits.len() as u64;
        let mut replaced = 0u64;
        let mut predicted = 0u64;
        let mut true_positive = 0u64;
        let mut correct = 0u64;
        for (&logit, &is_replaced) in self.logits.iter().zip(&self.replaced) {
            let says_replaced = logit > 0.0;
            replaced += u64::from(is_replaced);
            predicted += u64::from(says_replaced);
            true_positive += u64::from(is_replaced && says_replaced);
            correct += u64::from(is_replaced == says_replaced);
        }
        let ratio = |num: u64, den: u64| (den > 0).then(|| num as f64 / den as f64);
        RtdReport {
            tokens,
            replaced,
            replaced_fraction: ratio(replaced, tokens),
            accuracy: ratio(correct, tokens),
            all_original_accuracy: ratio(tokens - replaced, tokens),
            precision: ratio(true_positive, predicted),
            recall: ratio(true_positive, replaced),
            auc: roc_auc(&self.logits, &self.replaced),
        }
    }
}

/// Exact ROC AUC by the Mann–Whitney statistic: the probability that a random positive scores above a random
/// negative, ties counting one half (tied scores share their mean rank). `None` unless both classes occur.
/// Scores are ordered by `f32::total_cmp`, so NaN sorts above every number instead of breaking the sort.
pub fn roc_auc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let n = scores.len().min(positive.len());
    let positives = positive[..n].iter().filter(|&&p| p).count();
    let negatives = n - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut positive_rank_sum = 0.0f64;
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && scores[order[end]].total_cmp(&scores[order[start]]).is_eq() {
            end += 1;
        }
        // Ranks start+1 ..= end share their mean.
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        let tied_positives = order[start..end].iter().filter(|&&i| positive[i]).count();
        positive_rank_sum += mean_rank * tied_positives as f64;
        start = end;
    }
    let (p, q) = (positives as f64, negatives as f64);
    Some((positive_rank_sum - p * (p + 1.0) / 2.0) / (p * q))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AUC by definition: over every (positive, negative) pair, 1 if the positive scores higher, 1/2 on a tie.
    fn auc_by_pairs(scores: &[f32], positive: &[bool]) -> Option<f64> {
        let (mut wins, mut pairs) = (0.0, 0u64);
        for (i, &si) in scores.iter().enumerate() {
            for (j, &sj) in scores.iter().enumerate() {
                if positive[i] && !positive[j] {
                    pairs += 1;
                    wins += if si > sj {
                        1.0
                    } else if si == sj {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        (pairs > 0).then(|| wins / pairs as f64)
    }

    #[test]
    fn auc_matches_the_pairwise_definition_with_ties() {
        // Scores on a coarse grid so that many tie, across and within classes.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for round in 0..50 {
            let n = 2 + round * 3;
            let mut scores = Vec::new();
            let mut labels = Vec::new();
            for _ in 0..n {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                scores.push((state % 7) as f32 - 3.0);
                labels.push(state.is_multiple_of(3));
            }
            let exact = roc_auc(&scores, &labels);
            let pairs = auc_by_pairs(&scores, &labels);
            match (exact, pairs) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "round {round}: {a} vs {b}"),
                (a, b) => assert_eq!(a, b, "round {round}"),
            }
        }
    }

    #[test]
    fn auc_extremes_and_undefined() {
        assert_eq!(roc_auc(&[0.1, 0.2, 0.9, 0.8], &[false, false, true, true]), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.1, 0.2], &[false, false, true, true]), Some(0.0));
        assert_eq!(roc_auc(&[0.5, 0.5, 0.5], &[false, true, true]), Some(0.5));
        assert_eq!(roc_auc(&[0.1, 0.2], &[false, false]), None);
    }

    #[test]
    fn report_counts() {
        let mut s = RtdScores::new();
        // (logit, replaced): TP, FP, TN, TN, FN
        for (logit, replaced) in [(2.0, true), (1.0, false), (-1.0, false), (-3.0, false), (-0.5, true)] {
            s.push(logit, replaced);
        }
        let r = s.report();
        assert_eq!((r.tokens, r.replaced), (5, 2));
        assert_eq!(r.accuracy, Some(3.0 / 5.0));
        assert_eq!(r.all_original_accuracy, Some(3.0 / 5.0));
        assert_eq!(r.precision, Some(1.0 / 2.0));
        assert_eq!(r.recall, Some(1.0 / 2.0));
        // Positives 2.0 and -0.5 against negatives 1.0, -1.0, -3.0: wins 3 + 2 of 6.
        assert_eq!(r.auc, Some(5.0 / 6.0));
        assert_eq!(RtdScores::new().report().accuracy, None);
    }
}
