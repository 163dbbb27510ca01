//! `ElectraClassificationHead`: on each sequence's first token, `dense` (H → H) → GELU → `out_proj`
//! (H → C). Dropout is 0.

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
    /// First-token rows `[B, H]`.
    pub first: Array2<f32>,
    pub act: GeluCache,
}

impl SeqClsHead {
    /// Adds `{prefix}.dense` and `{prefix}.out_proj` (prefix `classifier`).
    pub fn new(b: &mut ParamSetBuilder, prefix: &str, hidden: usize, num_labels: usize) -> Self {
        Self {
            dense: Linear::new(b, &format!("{prefix}.dense"), hidden, hidden),
            out_proj: Linear::new(b, &format!("{prefix}.out_proj"), hidden, num_labels),
        }
    }

    /// `hidden [B·T, H] → logits [B, C]`.
    pub fn forward(&self, p: &ParamSet, hidden: ArrayView2<'_, f32>, seq_len: usize) -> (Array2<f32>, SeqClsCache) {
        let first = hidden.slice(s![..;seq_len, ..]).to_owned(); // rows 0, T, 2T, …: [B, H]
        let act = gelu::forward(self.dense.forward(p, first.view()));
        let logits = self.out_proj.forward(p, act.act.view());
        (logits, SeqClsCache { first, act })
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
        let dact = self.out_proj.backward(p, g, cache.act.act.view(), dlogits);
        let dpre = gelu::backward(&cache.act, dact);
        let dfirst = self.dense.backward(p, g, cache.first.view(), dpre.view());
        let (bsz, h) = dfirst.dim();
        let mut dhidden = Array2::zeros((bsz * seq_len, h));
        dhidden.slice_mut(s![..;seq_len, ..]).assign(&dfirst);
        dhidden
    }
}
