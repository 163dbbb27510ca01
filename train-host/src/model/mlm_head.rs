//! The generator's MLM head: `ElectraGeneratorPredictions` (`dense` H → E, GELU, `LayerNorm`) then
//! `generator_lm_head` (E → V), whose weight is the word-embedding table itself and whose bias is its own.
//!
//! The head runs on selected rows only: in pre-training those are the masked positions (~15% of tokens),
//! which spares the `[N, E]·[E, V]` product on rows no loss reads. Given all rows it is HF's head exactly.

use super::gelu::{self, GeluCache};
use super::gemm::{matmul, product, Threads};
use super::layer_norm::{LayerNorm, LayerNormCache};
use super::layout::repeat_row;
use super::linear::Linear;
use super::params::{ParamId, ParamSet, ParamSetBuilder};
use ndarray::{Array2, ArrayView2, Axis};

#[derive(Clone, Debug)]
pub struct MlmHead {
    pub dense: Linear,
    pub norm: LayerNorm,
    /// The tied output weight: `electra.embeddings.word_embeddings.weight`, `[V, E]`.
    pub word_embeddings: ParamId,
    /// `generator_lm_head.bias`, `[V]`.
    pub bias: ParamId,
}

#[derive(Debug)]
pub struct MlmCache {
    /// The selected rows of the encoder's output, `[M, H]`.
    pub selected: Array2<f32>,
    pub act: GeluCache,
    pub norm: LayerNormCache,
    /// LayerNorm output `[M, E]`, the input of the output layer.
    pub normed: Array2<f32>,
}

impl MlmHead {
    /// Adds `{prefix}generator_predictions.{dense,LayerNorm}` and `{prefix}generator_lm_head.bias`; the
    /// output weight is `word_embeddings`.
    pub fn new(
        b: &mut ParamSetBuilder,
        prefix: &str,
        hidden: usize,
        embedding: usize,
        vocab: usize,
        layer_norm_eps: f32,
        word_embeddings: ParamId,
    ) -> Self {
        let dense = Linear::new(b, &format!("{prefix}generator_predictions.dense"), hidden, embedding);
        let norm = LayerNorm::new(b, &format!("{prefix}generator_predictions.LayerNorm"), embedding, layer_norm_eps);
        let bias = b.add(format!("{prefix}generator_lm_head.bias"), &[vocab]);
        Self { dense, norm, word_embeddings, bias }
    }

    /// `hidden [N, H]`, rows `r₀..r_{M−1}` → `logits [M, V]`.
    pub fn forward(&self, p: &ParamSet, hidden: ArrayView2<'_, f32>, rows: &[usize]) -> (Array2<f32>, MlmCache) {
        let selected = hidden.select(Axis(0), rows); // [M, H]
        let act = gelu::forward(self.dense.forward(p, selected.view()));
        let (normed, norm) = self.norm.forward(p, act.act.view());
        let word = p.matrix(self.word_embeddings); // [V, E]
                                                   // [M, V]: the bias in every row, then += normed·Wᵀ.
        let mut logits = repeat_row(rows.len(), p.slice(self.bias));
        matmul(normed.view(), word.t(), logits.view_mut(), true, Threads::All);
        (logits, MlmCache { selected, act, norm, normed })
    }

    /// Accumulates the head's gradients (the tied weight's into the word-embedding table, every row
    /// including padding's) and returns `dhidden [N, H]`, zero outside the selected rows.
    pub fn backward(
        &self,
        p: &ParamSet,
        g: &mut ParamSet,
        cache: &MlmCache,
        dlogits: ArrayView2<'_, f32>,
        rows: &[usize],
        total_rows: usize,
    ) -> Array2<f32> {
        // Output layer: dW_word += dlogitsᵀ·normed, db += Σ dlogits, dnormed = dlogits·W_word.
        matmul(dlogits.t(), cache.normed.view(), g.matrix_mut(self.word_embeddings), true, Threads::All);
        let dbias = dlogits.sum_axis(Axis(0));
        g.vector_mut(self.bias).zip_mut_with(&dbias, |acc, d| *acc += d);
        let dnormed = product(dlogits, p.matrix(self.word_embeddings), Threads::All);
        let dact = self.norm.backward(p, g, &cache.norm, dnormed.view());
        let dpre = gelu::backward(&cache.act, dact);
        let dselected = self.dense.backward(p, g, cache.selected.view(), dpre.view());
        let mut dhidden = Array2::zeros((total_rows, dselected.ncols()));
        for (i, &r) in rows.iter().enumerate() {
            dhidden.row_mut(r).scaled_add(1.0, &dselected.row(i));
        }
        dhidden
    }
}
