//! The fine-tuning recipe: ELECTRA's (Clark et al. 2020, appendix) by default, HF Trainer's as an option.
//!
//! | | ELECTRA (default) | HF Trainer (`--recipe hf`) |
//! |---|---|---|
//! | optimizer | AdamW, no bias correction, ε 1e-6 | torch AdamW, bias correction, ε 1e-8 |
//! | weight decay | 0.01, not on biases and LayerNorm | 0 |
//! | layer-wise lr decay | 0.8 | none (1.0) |
//! | peak lr | 3e-4 (Small), 1e-4 (Base and larger) | 5e-5 |
//! | schedule | 10% linear warmup, then linear decay to 0 | the same, no warmup |
//! | clipping | global norm 1.0 | global norm 1.0 |
//! | batch, epochs, length | 32, 3 (10 for RTE and STS-B), 128 | 32 (HF's default is 8), 3, 128 |
//!
//! Layer-wise learning-rate decay: with `L` encoder layers, the embeddings (and `embeddings_project`) have
//! depth 0, layer `l` depth `l + 1`, the task head depth `L + 1`, and a tensor at depth `d` trains at
//! `lr · decay^(L + 1 − d)`: the head at `lr`, the top layer at `lr · decay`, the embeddings at
//! `lr · decay^(L+1)`. This is the paper's description. ELECTRA's released code (`_get_layer_lrs` in
//! `model/optimization.py`) puts the head at depth `L + 2` and takes
//! `decay^(L + 2 − d)`, so every encoder layer and the embeddings get one more factor of `decay` than the paper
//! says while the head stays at `lr` (google-research/electra issue 51). We follow the paper; the difference is
//! one constant factor on the encoder's learning rates.

use crate::optim::AdamWConfig;
use serde::{Deserialize, Serialize};

/// Which recipe's defaults fill what the command line leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Recipe {
    /// ELECTRA's fine-tuning recipe.
    Electra,
    /// HF Trainer's defaults (`TrainingArguments`), batch 32.
    Hf,
}

/// Everything that decides the optimization of a fine-tuning run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
    pub recipe: Recipe,
    pub lr: f32,
    pub layer_decay: f32,
    pub warmup_fraction: f32,
    pub weight_decay: f32,
    pub epochs: usize,
    pub batch_size: usize,
    pub max_len: usize,
    pub adamw: AdamWConfig,
}

/// Hidden sizes up to this are "Small" for the default learning rate (ELECTRA-Small has 256, Base 768).
const SMALL_MAX_HIDDEN: usize = 256;

impl Recipe {
    /// The recipe's values for a model of `hidden_size` and a task whose default epoch count is `epochs`.
    pub fn defaults(self, hidden_size: usize, epochs: usize) -> Hyper {
        match self {
            Self::Electra => {
                let lr = if hidden_size <= SMALL_MAX_HIDDEN { 3e-4 } else { 1e-4 };
                let adamw = AdamWConfig { lr, weight_decay: 0.01, ..AdamWConfig::electra() };
                Hyper {
                    recipe: self,
                    lr,
                    layer_decay: 0.8,
                    warmup_fraction: 0.1,
                    weight_decay: 0.01,
                    epochs,
                    batch_size: 32,
                    max_len: 128,
                    adamw,
                }
            }
            Self::Hf => {
                let lr = 5e-5;
                let adamw = AdamWConfig {
                    lr,
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                    weight_decay: 0.0,
                    bias_correction: true,
                    clip_norm: Some(1.0),
                };
                Hyper {
                    recipe: self,
                    lr,
                    layer_decay: 1.0,
                    warmup_fraction: 0.0,
                    weight_decay: 0.0,
                    epochs,
                    batch_size: 32,
                    max_len: 128,
                    adamw,
                }
            }
        }
    }
}

/// The depth of the tensor called `name` in a model of `num_layers` encoder layers (see the module doc).
pub fn layer_depth(name: &str, num_layers: usize) -> usize {
    if name.starts_with("electra.embeddings") {
        // `electra.embeddings.*` and `electra.embeddings_project.*`.
        return 0;
    }
    if let Some(rest) = name.strip_prefix("electra.encoder.layer.") {
        if let Some(Ok(l)) = rest.split('.').next().map(str::parse::<usize>) {
            return l + 1;
        }
    }
    num_layers + 1
}

/// `decay^(L + 1 − depth)`: the factor on the peak learning rate of the tensor called `name`.
pub fn layer_lr_scale(name: &str, num_layers: usize, decay: f32) -> f32 {
    let depth = layer_depth(name, num_layers).min(num_layers + 1);
    (decay as f64).powi((num_layers + 1 - depth) as i32) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depths_and_scales_follow_the_paper() {
        let l = 12;
        assert_eq!(layer_depth("electra.embeddings.word_embeddings.weight", l), 0);
        assert_eq!(layer_depth("electra.embeddings_project.weight", l), 0);
        assert_eq!(layer_depth("electra.encoder.layer.0.attention.self.query.weight", l), 1);
        assert_eq!(layer_depth("electra.encoder.layer.11.output.LayerNorm.bias", l), 12);
        assert_eq!(layer_depth("classifier.out_proj.weight", l), 13);
        assert_eq!(layer_lr_scale("classifier.dense.bias", l, 0.8), 1.0);
        assert!((layer_lr_scale("electra.encoder.layer.11.output.dense.weight", l, 0.8) - 0.8).abs() < 1e-7);
        let embeddings = layer_lr_scale("electra.embeddings.LayerNorm.weight", l, 0.8);
        // 0.8 is not exact in float32: compare relatively.
        assert!((embeddings as f64 / 0.8f64.powi(13) - 1.0).abs() < 1e-6);
        assert_eq!(layer_lr_scale("electra.embeddings.LayerNorm.weight", l, 1.0), 1.0);
    }

    #[test]
    fn recipes_differ_where_documented() {
        let small = Recipe::Electra.defaults(256, 3);
        assert_eq!(
            (small.lr, small.layer_decay, small.adamw.eps, small.adamw.bias_correction),
            (3e-4, 0.8, 1e-6, false)
        );
        assert_eq!(Recipe::Electra.defaults(768, 10).lr, 1e-4);
        let hf = Recipe::Hf.defaults(256, 3);
        assert_eq!((hf.lr, hf.layer_decay, hf.adamw.eps, hf.adamw.bias_correction), (5e-5, 1.0, 1e-8, true));
    }
}
