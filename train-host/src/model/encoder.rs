//! `ElectraModel`: embeddings → `embeddings_project` (when `E ≠ H`) → `L` encoder blocks.
//!
//! The embeddings are passed in rather than created here, so the generator and the discriminator of
//! ELECTRA pre-training can share one set (`objective/`) while each keeps its own projection.

use super::attention::Queries;
use super::dropout::{self, Dropout, ScaledMask};
use super::embeddings::Embeddings;
use super::encoder_layer::{EncoderLayer, EncoderLayerCache};
use super::gemm::Threads;
use super::layer_norm::LayerNormCache;
use super::linear::Linear;
use super::params::{ParamId, ParamSet, ParamSetBuilder};
use super::Tokens;
use electra_core::ElectraConfig;
use ndarray::{Array2, ArrayView2};

#[derive(Clone, Debug)]
pub struct Encoder {
    pub config: ElectraConfig,
    pub embeddings: Embeddings,
    /// `embeddings_project`, `E → H`.
    pub project: Option<Linear>,
    pub layers: Vec<EncoderLayer>,
}

#[derive(Debug)]
pub struct EncoderCache {
    pub embeddings: LayerNormCache,
    /// The embeddings' output `[N, E]` when a projection follows (its weight gradient needs it); without a
    /// projection it is layer 0's input, kept in that layer's cache.
    pub project_input: Option<Array2<f32>>,
    pub layers: Vec<EncoderLayerCache>,
    /// Dropout after the embeddings' LayerNorm (scaled mask, `[N, E]`).
    pub embeddings_mask: Option<ScaledMask>,
}

impl EncoderCache {
    /// `hidden[l]` = the input of block `l` (`l = 0` is the embeddings after projection), as HF's
    /// `hidden_states[l]`.
    pub fn layer_input(&self, l: usize) -> Option<ArrayView2<'_, f32>> {
        self.layers.get(l).map(|c| c.input.view())
    }
}

impl Encoder {
    /// Adds `{prefix}.embeddings_project` (if `E ≠ H`) and `{prefix}.encoder.layer.{l}.*` after `embeddings`.
    pub fn new(b: &mut ParamSetBuilder, prefix: &str, config: &ElectraConfig, embeddings: Embeddings) -> Self {
        let project = config.has_embeddings_project().then(|| {
            Linear::new(b, &format!("{prefix}.embeddings_project"), config.embedding_size, config.hidden_size)
        });
        let layers = (0..config.num_hidden_layers)
            .map(|l| EncoderLayer::new(b, &format!("{prefix}.encoder.layer.{l}"), config))
            .collect();
        Self { config: *config, embeddings, project, layers }
    }

    /// The weight runs of every linear in the encoder (embeddings projection, attention, feed-forward): the
    /// forward products [`ParamSet::refresh_transposes`] speeds up.
    pub fn linear_weight_runs(&self) -> Vec<(ParamId, ParamId)> {
        let mut runs: Vec<(ParamId, ParamId)> = self.project.iter().map(|l| l.weight_run()).collect();
        for layer in &self.layers {
            for linear in [&layer.attention.qkv, &layer.attention.output, &layer.ffn.intermediate, &layer.ffn.output] {
                runs.push(linear.weight_run());
            }
        }
        runs
    }

    /// `tokens → hidden [N, H]` (the last block's output), without dropout. Tokens must have been validated.
    pub fn forward(&self, p: &ParamSet, tokens: &Tokens<'_>) -> (Array2<f32>, EncoderCache) {
        self.forward_with(p, tokens, &Dropout::off(), Queries::All)
    }

    /// [`Encoder::forward`] with dropout: after the embeddings' LayerNorm (before `embeddings_project`, as HF)
    /// and inside every block. The last block computes the `outputs` rows: `[N, H]`, or `[B, H]` for
    /// [`Queries::First`] (a sequence classifier: the other rows of the last block feed nothing).
    pub fn forward_with(
        &self,
        p: &ParamSet,
        tokens: &Tokens<'_>,
        drop: &Dropout<'_>,
        outputs: Queries,
    ) -> (Array2<f32>, EncoderCache) {
        let (mut embedded, embeddings) = self.embeddings.forward(p, tokens);
        let embeddings_mask = drop.mask("embeddings", drop.rates.hidden, tokens.batch_size, embedded.len());
        dropout::apply_opt(&mut embedded, embeddings_mask.as_ref());
        let (mut x, project_input) = match &self.project {
            Some(project) => (project.forward(p, embedded.view()), Some(embedded)),
            None => (embedded, None),
        };
        let mut layers = Vec::with_capacity(self.layers.len());
        let last = self.layers.len().saturating_sub(1);
        for (index, layer) in self.layers.iter().enumerate() {
            let queries = if index == last { outputs } else { Queries::All };
            let (y, cache) = layer.forward_with(p, x, tokens, drop, index, queries);
            layers.push(cache);
            x = y;
        }
        (x, EncoderCache { embeddings, project_input, layers, embeddings_mask })
    }

    /// Inference: `tokens → hidden [N, H]` (or `[B, H]`, the first tokens, for [`Queries::First`]) without
    /// dropout, keeping nothing for a backward pass (a fraction of [`Encoder::forward`]'s memory); every product on
    /// `threads`. Tokens must have been validated.
    pub fn infer(&self, p: &ParamSet, tokens: &Tokens<'_>, threads: Threads, outputs: Queries) -> Array2<f32> {
        let embedded = self.embeddings.infer(p, tokens, threads);
        let mut x = match &self.project {
            Some(project) => project.forward_on(p, embedded.view(), threads),
            None => embedded,
        };
        let Some((last, first_layers)) = self.layers.split_last() else { return x };
        for layer in first_layers {
            layer.infer(p, &mut x, tokens, threads);
        }
        match outputs {
            Queries::All => {
                last.infer(p, &mut x, tokens, threads);
                x
            }
            Queries::First => last.infer_first(p, &x, tokens, threads),
        }
    }

    /// Accumulates every gradient (embeddings included) from `dhidden` (`[N, H]`, or `[B, H]` after a forward pass
    /// with [`Queries::First`]).
    pub fn backward(
        &self,
        p: &ParamSet,
        g: &mut ParamSet,
        tokens: &Tokens<'_>,
        cache: &EncoderCache,
        dhidden: Array2<f32>,
    ) {
        let mut dx = dhidden;
        for (layer, layer_cache) in self.layers.iter().zip(&cache.layers).rev() {
            dx = layer.backward(p, g, tokens, layer_cache, dx.view());
        }
        if let (Some(project), Some(input)) = (&self.project, &cache.project_input) {
            dx = project.backward(p, g, input.view(), dx.view());
        }
        dropout::apply_opt(&mut dx, cache.embeddings_mask.as_ref());
        self.embeddings.backward(p, g, tokens, &cache.embeddings, dx.view());
    }
}
