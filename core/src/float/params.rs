//! One parameter blob per model, with named views computed from the config (llm.c style).
//!
//! The blob holds every tensor of the HF checkpoint as float32, in the order of the tables below:
//! embeddings, `embeddings_project` (when `E ≠ H`), `L` encoder layers, then the head. Names are HF's
//! verbatim, so the host fills the blob tensor by tensor from a checkpoint ([`ParamLayout::for_each_tensor`]),
//! and firmware can read a blob in place from flash. The MLM head's output matrix is the word
//! embedding table (tied), so it is not stored twice.

use super::attention::SelfAttentionWeights;
use super::classifier_head::{SequenceClassifierWeights, TokenClassifierWeights};
use super::embeddings::EmbeddingsWeights;
use super::encoder_layer::EncoderLayerWeights;
use super::error::FloatError;
use super::ffn::FeedForwardWeights;
use super::layer_norm::LayerNormWeights;
use super::linear::LinearWeights;
use super::mlm_head::MlmHeadWeights;
use super::rtd_head::RtdHeadWeights;
use crate::config::{ElectraConfig, HeadKind};
use core::fmt::Write;

/// A symbolic dimension of a tensor shape; see the glossary in [`crate::config`]. `C` is the number of labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dim {
    V,
    E,
    H,
    F,
    P,
    S,
    C,
    One,
}

/// One tensor: the tail of its HF name (after the group's prefix) and its symbolic shape.
struct Spec {
    name: &'static str,
    shape: &'static [Dim],
}

const fn spec(name: &'static str, shape: &'static [Dim]) -> Spec {
    Spec { name, shape }
}

use Dim::*;

const EMBEDDINGS_PREFIX: &str = "electra.embeddings.";
const EMBEDDINGS: [Spec; 5] = [
    spec("word_embeddings.weight", &[V, E]),
    spec("position_embeddings.weight", &[P, E]),
    spec("token_type_embeddings.weight", &[S, E]),
    spec("LayerNorm.weight", &[E]),
    spec("LayerNorm.bias", &[E]),
];

const PROJECT_PREFIX: &str = "electra.embeddings_project.";
const PROJECT: [Spec; 2] = [spec("weight", &[H, E]), spec("bias", &[H])];

/// Prefix `electra.encoder.layer.{l}.`
const LAYER: [Spec; 16] = [
    spec("attention.self.query.weight", &[H, H]),
    spec("attention.self.query.bias", &[H]),
    spec("attention.self.key.weight", &[H, H]),
    spec("attention.self.key.bias", &[H]),
    spec("attention.self.value.weight", &[H, H]),
    spec("attention.self.value.bias", &[H]),
    spec("attention.output.dense.weight", &[H, H]),
    spec("attention.output.dense.bias", &[H]),
    spec("attention.output.LayerNorm.weight", &[H]),
    spec("attention.output.LayerNorm.bias", &[H]),
    spec("intermediate.dense.weight", &[F, H]),
    spec("intermediate.dense.bias", &[F]),
    spec("output.dense.weight", &[H, F]),
    spec("output.dense.bias", &[H]),
    spec("output.LayerNorm.weight", &[H]),
    spec("output.LayerNorm.bias", &[H]),
];

const RTD_HEAD: [Spec; 4] = [
    spec("discriminator_predictions.dense.weight", &[H, H]),
    spec("discriminator_predictions.dense.bias", &[H]),
    spec("discriminator_predictions.dense_prediction.weight", &[One, H]),
    spec("discriminator_predictions.dense_prediction.bias", &[One]),
];

/// `generator_lm_head.weight` is tied to the word embeddings and not stored (HF does not save it either).
const MLM_HEAD: [Spec; 5] = [
    spec("generator_predictions.dense.weight", &[E, H]),
    spec("generator_predictions.dense.bias", &[E]),
    spec("generator_predictions.LayerNorm.weight", &[E]),
    spec("generator_predictions.LayerNorm.bias", &[E]),
    spec("generator_lm_head.bias", &[V]),
];

const SEQUENCE_CLASSIFIER_HEAD: [Spec; 4] = [
    spec("classifier.dense.weight", &[H, H]),
    spec("classifier.dense.bias", &[H]),
    spec("classifier.out_proj.weight", &[C, H]),
    spec("classifier.out_proj.bias", &[C]),
];

const TOKEN_CLASSIFIER_HEAD: [Spec; 2] = [spec("classifier.weight", &[C, H]), spec("classifier.bias", &[C])];

/// Where each group of tensors sits in the blob, for one config and head.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamLayout {
    config: ElectraConfig,
    head: HeadKind,
    embeddings_len: usize,
    project_len: usize,
    layer_len: usize,
    head_len: usize,
    total: usize,
}

/// One tensor of the blob, as [`ParamLayout::for_each_tensor`] reports it.
#[derive(Clone, Copy, Debug)]
pub struct TensorInfo<'n> {
    /// The HF name, e.g. `electra.encoder.layer.0.attention.self.query.weight`.
    pub name: &'n str,
    /// The HF shape (`Linear.weight` is `[out, in]`).
    pub shape: &'n [usize],
    /// Index of the tensor's first float in the blob.
    pub offset: usize,
}

impl TensorInfo<'_> {
    /// Number of floats.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no elements (never, for a valid config).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Longest HF name this module builds: the longest tail plus the layer prefix with a 20-digit index.
const NAME_CAPACITY: usize = 128;

impl ParamLayout {
    /// The layout for `config` and `head`; validates both and rejects sizes that overflow `usize`.
    pub fn new(config: &ElectraConfig, head: HeadKind) -> Result<Self, FloatError> {
        config.validate()?;
        if matches!(
            head,
            HeadKind::SequenceClassification { num_labels: 0 } | HeadKind::TokenClassification { num_labels: 0 }
        ) {
            return Err(FloatError::NoLabels);
        }
        let group = |specs: &[Spec]| group_len(config, head, specs);
        let embeddings_len = group(&EMBEDDINGS).ok_or(FloatError::TooLarge)?;
        let project_len =
            if config.has_embeddings_project() { group(&PROJECT).ok_or(FloatError::TooLarge)? } else { 0 };
        let layer_len = group(&LAYER).ok_or(FloatError::TooLarge)?;
        let head_len = group(head_specs(head)).ok_or(FloatError::TooLarge)?;
        let total = layer_len
            .checked_mul(config.num_hidden_layers)
            .and_then(|layers| layers.checked_add(embeddings_len))
            .and_then(|n| n.checked_add(project_len))
            .and_then(|n| n.checked_add(head_len))
            .ok_or(FloatError::TooLarge)?;
        Ok(Self { config: *config, head, embeddings_len, project_len, layer_len, head_len, total })
    }

    /// The config this layout was built for.
    pub fn config(&self) -> &ElectraConfig {
        &self.config
    }

    /// The head this layout was built for.
    pub fn head(&self) -> HeadKind {
        self.head
    }

    /// Floats in the whole blob.
    pub fn len(&self) -> usize {
        self.total
    }

    /// Whether the blob is empty (never, for a valid config).
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    fn layers_start(&self) -> usize {
        self.embeddings_len + self.project_len
    }

    fn head_start(&self) -> usize {
        self.layers_start() + self.layer_len * self.config.num_hidden_layers
    }

    /// Calls `f` for every tensor in blob order with its HF name, shape and offset. Stops at `f`'s first error.
    pub fn for_each_tensor<Err>(&self, mut f: impl FnMut(&TensorInfo<'_>) -> Result<(), Err>) -> Result<(), Err> {
        let mut offset = 0;
        let mut group = |prefix: &str, layer: Option<usize>, specs: &[Spec]| -> Result<(), Err> {
            for s in specs {
                let mut name: heapless::String<NAME_CAPACITY> = heapless::String::new();
                // Cannot fail: NAME_CAPACITY exceeds the longest prefix + index + tail.
                let _ = match layer {
                    Some(l) => write!(name, "{prefix}{l}.{}", s.name),
                    None => write!(name, "{prefix}{}", s.name),
                };
                let mut shape = [0usize; 2];
                for (slot, &d) in shape.iter_mut().zip(s.shape) {
                    *slot = dim_value(&self.config, self.head, d);
                }
                let info = TensorInfo { name: &name, shape: &shape[..s.shape.len()], offset };
                f(&info)?;
                offset += info.len();
            }
            Ok(())
        };
        group(EMBEDDINGS_PREFIX, None, &EMBEDDINGS)?;
        if self.config.has_embeddings_project() {
            group(PROJECT_PREFIX, None, &PROJECT)?;
        }
        for l in 0..self.config.num_hidden_layers {
            group("electra.encoder.layer.", Some(l), &LAYER)?;
        }
        group("", None, head_specs(self.head))
    }
}

fn head_specs(head: HeadKind) -> &'static [Spec] {
    match head {
        HeadKind::ReplacedTokenDetection => &RTD_HEAD,
        HeadKind::MaskedLm => &MLM_HEAD,
        HeadKind::SequenceClassification { .. } => &SEQUENCE_CLASSIFIER_HEAD,
        HeadKind::TokenClassification { .. } => &TOKEN_CLASSIFIER_HEAD,
    }
}

fn dim_value(config: &ElectraConfig, head: HeadKind, d: Dim) -> usize {
    match d {
        V => config.vocab_size,
        E => config.embedding_size,
        H => config.hidden_size,
        F => config.intermediate_size,
        P => config.max_position_embeddings,
        S => config.type_vocab_size,
        C => match head {
            HeadKind::SequenceClassification { num_labels } | HeadKind::TokenClassification { num_labels } => {
                num_labels
            }
            HeadKind::ReplacedTokenDetection | HeadKind::MaskedLm => 0,
        },
        One => 1,
    }
}

fn spec_len(config: &ElectraConfig, head: HeadKind, s: &Spec) -> Option<usize> {
    s.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(dim_value(config, head, d)))
}

fn group_len(config: &ElectraConfig, head: HeadKind, specs: &[Spec]) -> Option<usize> {
    specs.iter().try_fold(0usize, |n, s| n.checked_add(spec_len(config, head, s)?))
}

/// Cuts `N` consecutive tensors of `specs` out of `params`, starting at `offset`.
fn take<'a, const N: usize>(
    params: &'a [f32],
    offset: usize,
    layout: &ParamLayout,
    specs: &[Spec; N],
) -> [&'a [f32]; N] {
    let mut out: [&'a [f32]; N] = [&[]; N];
    let mut at = offset;
    for (slot, s) in out.iter_mut().zip(specs) {
        // The layout's lengths were computed without overflow and the blob length was checked against them.
        let len = spec_len(&layout.config, layout.head, s).unwrap_or(0);
        *slot = &params[at..at + len];
        at += len;
    }
    out
}

/// A whole model's weights: a validated blob and its layout. Views are computed on demand (no heap).
#[derive(Clone, Copy, Debug)]
pub struct ElectraWeights<'a> {
    layout: ParamLayout,
    params: &'a [f32],
}

/// The head's weights, one variant per [`HeadKind`].
#[derive(Clone, Copy, Debug)]
pub enum HeadWeights<'a> {
    ReplacedTokenDetection(RtdHeadWeights<'a>),
    MaskedLm(MlmHeadWeights<'a>),
    SequenceClassification(SequenceClassifierWeights<'a>),
    TokenClassification(TokenClassifierWeights<'a>),
}

impl<'a> ElectraWeights<'a> {
    /// Wraps a blob laid out as [`ParamLayout::for_each_tensor`] lists it.
    pub fn new(config: &ElectraConfig, head: HeadKind, params: &'a [f32]) -> Result<Self, FloatError> {
        let layout = ParamLayout::new(config, head)?;
        if params.len() != layout.len() {
            return Err(FloatError::ParamsLength { expected: layout.len(), found: params.len() });
        }
        Ok(Self { layout, params })
    }

    pub fn config(&self) -> &ElectraConfig {
        &self.layout.config
    }

    pub fn head_kind(&self) -> HeadKind {
        self.layout.head
    }

    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    /// The whole blob.
    pub fn params(&self) -> &'a [f32] {
        self.params
    }

    /// `electra.embeddings.*`.
    pub fn embeddings(&self) -> EmbeddingsWeights<'a> {
        let [word_embeddings, position_embeddings, token_type_embeddings, ln_weight, ln_bias] =
            take(self.params, 0, &self.layout, &EMBEDDINGS);
        EmbeddingsWeights {
            word_embeddings,
            position_embeddings,
            token_type_embeddings,
            layer_norm: LayerNormWeights { weight: ln_weight, bias: ln_bias },
        }
    }

    /// `electra.embeddings_project`, present when `E ≠ H`.
    pub fn embeddings_project(&self) -> Option<LinearWeights<'a>> {
        if !self.layout.config.has_embeddings_project() {
            return None;
        }
        let [weight, bias] = take(self.params, self.layout.embeddings_len, &self.layout, &PROJECT);
        Some(LinearWeights { weight, bias })
    }

    /// `electra.encoder.layer.{index}.*` for `index` in `0..L`, in order.
    pub fn layers(&self) -> impl Iterator<Item = EncoderLayerWeights<'a>> + 'a {
        let this = *self;
        (0..self.layout.config.num_hidden_layers).filter_map(move |index| this.layer(index))
    }

    /// `electra.encoder.layer.{index}.*`, or `None` when `index >= L`.
    pub fn layer(&self, index: usize) -> Option<EncoderLayerWeights<'a>> {
        if index >= self.layout.config.num_hidden_layers {
            return None;
        }
        let offset = self.layout.layers_start() + index * self.layout.layer_len;
        let [qw, qb, kw, kb, vw, vb, ow, ob, aln_w, aln_b, iw, ib, fw, fb, ln_w, ln_b] =
            take(self.params, offset, &self.layout, &LAYER);
        Some(EncoderLayerWeights {
            attention: SelfAttentionWeights {
                query: LinearWeights { weight: qw, bias: qb },
                key: LinearWeights { weight: kw, bias: kb },
                value: LinearWeights { weight: vw, bias: vb },
                output_dense: LinearWeights { weight: ow, bias: ob },
                output_layer_norm: LayerNormWeights { weight: aln_w, bias: aln_b },
            },
            feed_forward: FeedForwardWeights {
                intermediate_dense: LinearWeights { weight: iw, bias: ib },
                output_dense: LinearWeights { weight: fw, bias: fb },
                output_layer_norm: LayerNormWeights { weight: ln_w, bias: ln_b },
            },
        })
    }

    /// The output head.
    pub fn head(&self) -> HeadWeights<'a> {
        let at = self.layout.head_start();
        let p = self.params;
        match self.layout.head {
            HeadKind::ReplacedTokenDetection => {
                let [dw, db, pw, pb] = take(p, at, &self.layout, &RTD_HEAD);
                HeadWeights::ReplacedTokenDetection(RtdHeadWeights {
                    dense: LinearWeights { weight: dw, bias: db },
                    dense_prediction: LinearWeights { weight: pw, bias: pb },
                })
            }
            HeadKind::MaskedLm => {
                let [dw, db, ln_w, ln_b, lm_bias] = take(p, at, &self.layout, &MLM_HEAD);
                HeadWeights::MaskedLm(MlmHeadWeights {
                    dense: LinearWeights { weight: dw, bias: db },
                    layer_norm: LayerNormWeights { weight: ln_w, bias: ln_b },
                    word_embeddings: self.embeddings().word_embeddings,
                    lm_bias,
                })
            }
            HeadKind::SequenceClassification { .. } => {
                let [dw, db, ow, ob] = take(p, at, &self.layout, &SEQUENCE_CLASSIFIER_HEAD);
                HeadWeights::SequenceClassification(SequenceClassifierWeights {
                    dense: LinearWeights { weight: dw, bias: db },
                    out_proj: LinearWeights { weight: ow, bias: ob },
                })
            }
            HeadKind::TokenClassification { .. } => {
                let [w, b] = take(p, at, &self.layout, &TOKEN_CLASSIFIER_HEAD);
                HeadWeights::TokenClassification(TokenClassifierWeights {
                    classifier: LinearWeights { weight: w, bias: b },
                })
            }
        }
    }
}
