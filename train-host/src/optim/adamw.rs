//! AdamW (Loshchilov & Hutter) as ELECTRA runs it (`AdamWeightDecayOptimizer`: no bias correction) or as
//! `torch.optim.AdamW` does (bias correction), with global-norm gradient clipping as TF's
//! `clip_by_global_norm`.
//!
//! Per element, with `g` the (clipped) gradient, `λ` the weight decay (0 for biases and LayerNorm weights):
//! ```text
//! m ← β₁m + (1−β₁)g        v ← β₂v + (1−β₂)g²
//! θ ← θ − lr·λ·θ − lr·m̂/(√v̂ + ε)     m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ) with bias correction, else m̂ = m, v̂ = v
//! ```

use crate::model::kernels::{adamw_update, sum_squares_f64, AdamWHyper};
use crate::model::ParamSet;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// Peak learning rate (the schedule's; [`AdamW::step`] takes the current one).
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// Divide the moments by `1 − βᵗ` (torch) or not (ELECTRA).
    pub bias_correction: bool,
    /// Scale the gradients so their global L2 norm is at most this.
    pub clip_norm: Option<f32>,
}

impl AdamWConfig {
    /// ELECTRA's pre-training settings: lr 5e-4, β (0.9, 0.999), ε 1e-6, weight decay 0.01, no bias
    /// correction, clipping at global norm 1.
    pub const fn electra() -> Self {
        Self {
            lr: 5e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay: 0.01,
            bias_correction: false,
            clip_norm: Some(1.0),
        }
    }
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self::electra()
    }
}

/// Whether weight decay applies to the tensor called `name`: not to biases nor LayerNorm parameters
/// (ELECTRA's exclusion list: `LayerNorm`, `layer_norm`, `bias`).
pub fn decays(name: &str) -> bool {
    !(name.ends_with("bias") || name.contains("LayerNorm") || name.contains("layer_norm"))
}

/// Why an optimizer step or state was refused; the parameters are untouched when it is.
#[derive(Clone, Debug, PartialEq)]
pub enum OptimError {
    /// The gradients or the stored moments do not have the parameters' layout.
    LayoutMismatch { what: &'static str, expected: usize, found: usize },
    /// The gradients hold NaN or infinity (their global norm is shown).
    NonFiniteGradient { norm: f64 },
}

impl fmt::Display for OptimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LayoutMismatch { what, expected, found } => {
                write!(f, "{what} has {found} values in another layout, the parameters have {expected}")
            }
            Self::NonFiniteGradient { norm } => {
                write!(f, "gradient global norm is {norm}: NaN or infinity in the gradients, step skipped")
            }
        }
    }
}

impl std::error::Error for OptimError {}

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// Global L2 norm of the gradients before clipping.
    pub grad_norm: f32,
    /// Factor the gradients were scaled by (1 when not clipped).
    pub clip_scale: f32,
}

/// The optimizer and its state: first and second moments (`m`, `v`, the parameters' layout) and the number
/// of steps taken (`t`). All three are public so a checkpoint can store and restore them exactly.
#[derive(Clone, Debug)]
pub struct AdamW {
    pub config: AdamWConfig,
    pub m: Vec<f32>,
    pub v: Vec<f32>,
    pub t: u64,
    /// Every tensor's place in the blob, in blob order.
    spans: Vec<Span>,
}

/// One tensor's elements in the blob, whether weight decay applies, and its learning-rate multiplier
/// (layer-wise decay; 1 otherwise).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Span {
    start: usize,
    end: usize,
    decays: bool,
    lr_scale: f32,
}

/// Elements per parallel task.
const CHUNK: usize = 64 * 1024;

impl AdamW {
    /// A fresh optimizer (zero moments, `t = 0`) for parameters laid out as `params`.
    pub fn new(config: AdamWConfig, params: &ParamSet) -> Self {
        Self { config, m: vec![0.0; params.len()], v: vec![0.0; params.len()], t: 0, spans: spans(params) }
    }

    /// An optimizer resumed from stored moments.
    pub fn from_state(
        config: AdamWConfig,
        params: &ParamSet,
        m: Vec<f32>,
        v: Vec<f32>,
        t: u64,
    ) -> Result<Self, OptimError> {
        for (what, found) in [("first moment `m`", m.len()), ("second moment `v`", v.len())] {
            if found != params.len() {
                return Err(OptimError::LayoutMismatch { what, expected: params.len(), found });
            }
        }
        Ok(Self { config, m, v, t, spans: spans(params) })
    }

    /// Gives each tensor its own learning rate, `lr · scale(name)` (layer-wise learning-rate decay in
    /// fine-tuning); weight decay scales with it, as in ELECTRA's per-layer optimizers.
    pub fn with_lr_scales(mut self, params: &ParamSet, scale: impl Fn(&str) -> f32) -> Self {
        for (span, entry) in self.spans.iter_mut().zip(params.entries()) {
            span.lr_scale = scale(&entry.name);
        }
        self
    }

    /// One update of `params` from `grads` at learning rate `lr`. Refuses, changing nothing, when the layouts
    /// differ or a gradient is not finite.
    pub fn step(&mut self, params: &mut ParamSet, grads: &ParamSet, lr: f32) -> Result<StepReport, OptimError> {
        if !grads.same_layout(params) {
            return Err(OptimError::LayoutMismatch {
                what: "gradient blob",
                expected: params.len(),
                found: grads.len(),
            });
        }
        if self.m.len() != params.len() || self.v.len() != params.len() {
            return Err(OptimError::LayoutMismatch {
                what: "optimizer moments",
                expected: params.len(),
                found: self.m.len(),
            });
        }
        let norm = global_norm(grads.data());
        if !norm.is_finite() {
            return Err(OptimError::NonFiniteGradient { norm });
        }
        // TF's clip_by_global_norm: g · clip / max(‖g‖, clip).
        let clip_scale = match self.config.clip_norm {
            Some(clip) if norm > clip as f64 => (clip as f64 / norm) as f32,
            _ => 1.0,
        };
        self.t += 1;
        let c = self.config;
        let (step_size, bc2_sqrt) = if c.bias_correction {
            let bc1 = 1.0 - (c.beta1 as f64).powi(self.t as i32);
            let bc2 = 1.0 - (c.beta2 as f64).powi(self.t as i32);
            ((lr as f64 / bc1) as f32, bc2.sqrt() as f32)
        } else {
            (lr, 1.0)
        };
        let base = AdamWHyper {
            beta1: c.beta1,
            beta2: c.beta2,
            eps: c.eps,
            clip_scale,
            inv_bc2_sqrt: 1.0 / bc2_sqrt,
            step_size,
            decay: 1.0,
        };
        let spans = &self.spans;
        params
            .data_mut()
            .par_chunks_mut(CHUNK)
            .zip(grads.data().par_chunks(CHUNK))
            .zip(self.m.par_chunks_mut(CHUNK))
            .zip(self.v.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(chunk, (((p, g), m), v))| {
                let start = chunk * CHUNK;
                let end = start + p.len();
                // The tensors this chunk overlaps, each with its own decay flag.
                let first = spans.partition_point(|span| span.end <= start);
                for span in &spans[first..] {
                    if span.start >= end {
                        break;
                    }
                    let r = span.start.max(start) - start..span.end.min(end) - start;
                    let tensor_lr = lr * span.lr_scale;
                    let hyper = AdamWHyper {
                        step_size: base.step_size * span.lr_scale,
                        decay: if span.decays { 1.0 - tensor_lr * c.weight_decay } else { 1.0 },
                        ..base
                    };
                    adamw_update(&mut p[r.clone()], &g[r.clone()], &mut m[r.clone()], &mut v[r], &hyper);
                }
            });
        Ok(StepReport { grad_norm: norm as f32, clip_scale })
    }
}

fn spans(params: &ParamSet) -> Vec<Span> {
    params
        .entries()
        .iter()
        .map(|e| Span { start: e.offset, end: e.offset + e.len, decays: decays(&e.name), lr_scale: 1.0 })
        .collect()
}

/// `√Σ g²` in float64, summed chunk by chunk in a fixed order (the same on any number of threads).
fn global_norm(g: &[f32]) -> f64 {
    let partial: Vec<f64> = g.par_chunks(CHUNK).map(sum_squares_f64).collect();
    partial.iter().sum::<f64>().sqrt()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::ParamSetBuilder;

    fn two_tensors() -> (ParamSet, ParamSet) {
        let mut b = ParamSetBuilder::new();
        b.add("dense.weight", &[2]);
        b.add("dense.bias", &[2]);
        let mut p = b.finish();
        p.set("dense.weight", &[1.0, -1.0]).unwrap();
        p.set("dense.bias", &[1.0, -1.0]).unwrap();
        let mut g = p.zeros_like();
        g.set("dense.weight", &[3.0, 0.0]).unwrap();
        g.set("dense.bias", &[0.0, 4.0]).unwrap();
        (p, g)
    }

    #[test]
    fn electra_step_clips_decays_weights_only_and_skips_bias_correction() {
        let (mut p, g) = two_tensors();
        let mut opt = AdamW::new(AdamWConfig::electra(), &p);
        let report = opt.step(&mut p, &g, 0.1).unwrap();
        // ‖g‖ = 5 > 1: scaled by 1/5. First step without correction: m = 0.1·g', v = 0.001·g'², so
        // m/(√v + ε) = 0.1·g'/(√0.001·|g'| + ε) ≈ 3.1623·sign(g').
        assert!((report.grad_norm - 5.0).abs() < 1e-6 && (report.clip_scale - 0.2).abs() < 1e-7);
        // (1 − β) as float32 computes it (0.999 is not exact in float32).
        let upd = |g: f32| (1.0 - 0.9f32) * g / (((1.0 - 0.999f32) * g * g).sqrt() + 1e-6);
        let w = p.get("dense.weight").unwrap();
        assert!((w[0] - (1.0 * (1.0 - 0.1 * 0.01) - 0.1 * upd(0.6))).abs() < 1e-6);
        assert!((w[1] + (1.0 - 0.1 * 0.01)).abs() < 1e-6, "zero gradient: decay only");
        let b = p.get("dense.bias").unwrap();
        assert_eq!(b[0], 1.0, "no decay on biases, no gradient");
        assert!((b[1] - (-1.0 - 0.1 * upd(0.8))).abs() < 1e-6);
        assert_eq!(opt.t, 1);
    }

    #[test]
    fn refuses_nan_gradients_and_changes_nothing() {
        let (mut p, mut g) = two_tensors();
        g.set("dense.bias", &[f32::NAN, 0.0]).unwrap();
        let before = p.clone();
        let mut opt = AdamW::new(AdamWConfig::electra(), &p);
        assert!(matches!(opt.step(&mut p, &g, 0.1), Err(OptimError::NonFiniteGradient { .. })));
        assert_eq!(p, before);
        assert_eq!(opt.t, 0);
        assert!(AdamW::from_state(AdamWConfig::electra(), &p, vec![0.0; 3], vec![0.0; 4], 0).is_err());
    }

    #[test]
    fn decay_mask_follows_electra() {
        assert!(decays("electra.encoder.layer.0.attention.self.query.weight"));
        assert!(decays("electra.embeddings.word_embeddings.weight"));
        assert!(!decays("electra.embeddings.LayerNorm.weight"));
        assert!(!decays("generator_lm_head.bias"));
    }
}
