//! `ElectraClassificationHead`: on each sequence's first token, dropout → `dense` (H → H) → GELU → dropout →
//! `out_proj` (H → C). With `C = 1` it is HF's regression head (the loss is then MSE, `task.rs`).

use super::dropout::{self, Dropout, ScaledMask};
use super::gelu::{self, GeluCache};
use super::linear::Linear;
use super::params::{ParamSet, ParamSetBuilder};
use ndarray::{s, Array2, ArrayView2};

#[derive(Clone, Debug)]
pub struct SeqClsHead {
    pub dense: Linear,
    pub out_proj: Linear,
}

#[derive(Debug)]
pub struct SeqClsCache {
    /// First-token rows `[B, H]`, after dropout: `dense`'s input.
    pub first: Array2<f32>,
    pub act: GeluCache,
    /// Dropout's scaled masks on the first-token rows (`classifier.first`) and on the GELU output
    /// (`classifier.hidden`), `[B, H]` each.
    pub first_mask: Option<ScaledMask>,
    pub hidden_mask: Option<ScaledMask>,
}

impl SeqClsHead {
    /// Adds `{prefix}.dense` and `{prefix}.out_proj` (prefix `classifier`).
    pub fn new(b: &mut ParamSetBuilder, prefix: &str, hidden: usize, num_labels: usize) -> Self {
        Self {
            dense: Linear::new(b, &format!("{prefix}.dense"), hidden, hidden),
            out_proj: Linear::new(b, &format!("{prefix}.out_proj"), hidden, num_labels),
        }
    }

    /// `hidden [B·T, H] → logits [B, C]`, without dropout.
    pub fn forward(&self, p: &ParamSet, hidden: ArrayView2<'_, f32>, seq_len: usize) -> (Array2<f32>, SeqClsCache) {
        self.forward_with(p, hidden, seq_len, &Dropout::off())
    }

    /// [`SeqClsHead::forward`] with the head's two dropouts (`classifier_dropout`).
    pub fn forward_with(
        &self,
        p: &ParamSet,
        hidden: ArrayView2<'_, f32>,
        seq_len: usize,
        drop: &Dropout<'_>,
    ) -> (Array2<f32>, SeqClsCache) {
        let mut first = hidden.slice(s![..;seq_len, ..]).to_owned(); // rows 0, T, 2T, …: [B, H]
        let (b, n) = (first.nrows(), first.len());
        let first_mask = drop.mask("classifier.first", drop.rates.classifier, b, n);
        dropout::apply_opt(&mut first, first_mask.as_ref());
        let mut act = gelu::forward(self.dense.forward(p, first.view()));
        let hidden_mask = drop.mask("classifier.hidden", drop.rates.classifier, b, n);
        // `act.act` is both out_proj's input (dropped) and what GELU's backward scales, which reads only its
        // slope; so dropping it in place is exact.
        dropout::apply_opt(&mut act.act, hidden_mask.as_ref());
        let logits = self.out_proj.forward(p, act.act.view());
        (logits, SeqClsCache { first, act, first_mask, hidden_mask })
    }

    /// Accumulates the head's gradients and returns `dhidden [B·T, H]` (non-zero on first tokens only).
    pub fn backward(
        &self,
        p: &ParamSet,
        g: &mut ParamSet,
        cache: &SeqClsCache,
        dlogits: ArrayView2<'_, f32>,
        seq_len: usize,
    ) -> Array2<f32> {
        let mut dact = self.out_proj.backward(p, g, cache.act.act.view(), dlogits);
        dropout::apply_opt(&mut dact, cache.hidden_mask.as_ref());
        let dpre = gelu::backward(&cache.act, dact);
        let mut dfirst = self.dense.backward(p, g, cache.first.view(), dpre.view());
        dropout::apply_opt(&mut dfirst, cache.first_mask.as_ref());
        let (bsz, h) = dfirst.dim();
        let mut dhidden = Array2::zeros((bsz * seq_len, h));
        dhidden.slice_mut(s![..;seq_len, ..]).assign(&dfirst);
        dhidden
    }
}
