//! [`FloatModel`]: an HF checkpoint's tensors in one float32 blob, run by the no_std core's encoder
//! over a batch of sequences on all cores.

use super::{GemmBackend, InferError};
use crate::checkpoint::{try_filled, CheckpointError, HfCheckpoint};
use electra_core::float::{self, ElectraWeights, FloatError, Gemm, ParamLayout, SequenceInput, WeightLayout};
use electra_core::{ElectraConfig, HeadKind};
use rayon::prelude::*;

/// One sequence to score, HF names. `token_type_ids` default to 0 and `attention_mask` to 1.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InputSeq {
    pub input_ids: Vec<u32>,
    pub token_type_ids: Option<Vec<u32>>,
    pub attention_mask: Option<Vec<u8>>,
}

impl InputSeq {
    /// Just token ids: one segment, no padding.
    pub fn ids(input_ids: Vec<u32>) -> Self {
        Self { input_ids, ..Self::default() }
    }

    fn as_input(&self) -> SequenceInput<'_> {
        SequenceInput {
            input_ids: &self.input_ids,
            token_type_ids: self.token_type_ids.as_deref(),
            attention_mask: self.attention_mask.as_deref(),
        }
    }
}

/// One sequence's logits, shaped by the head.
#[derive(Clone, Debug, PartialEq)]
pub enum Logits {
    /// Replaced-token detection: `[T]`, one logit per token (> 0: predicted replaced).
    ReplacedToken(Vec<f32>),
    /// Masked LM: `[T, V]` row-major.
    MaskedLm { vocab_size: usize, values: Vec<f32> },
    /// Sequence classification: `[C]`.
    SequenceClass(Vec<f32>),
    /// Token classification: `[T, C]` row-major.
    TokenClass { num_labels: usize, values: Vec<f32> },
}

impl Logits {
    fn new(head: HeadKind, config: &ElectraConfig, values: Vec<f32>) -> Self {
        match head {
            HeadKind::ReplacedTokenDetection => Self::ReplacedToken(values),
            HeadKind::MaskedLm => Self::MaskedLm { vocab_size: config.vocab_size, values },
            HeadKind::SequenceClassification { .. } => Self::SequenceClass(values),
            HeadKind::TokenClassification { num_labels } => Self::TokenClass { num_labels, values },
        }
    }

    /// All values, row-major.
    pub fn values(&self) -> &[f32] {
        match self {
            Self::ReplacedToken(v) | Self::SequenceClass(v) => v,
            Self::MaskedLm { values, .. } | Self::TokenClass { values, .. } => values,
        }
    }

    /// As JSON: a flat list for replaced-token detection and sequence classification, a list of
    /// lists (one per token) for the MLM and token classification heads.
    pub fn to_json(&self) -> serde_json::Value {
        let row = |r: &[f32]| serde_json::Value::from(r.to_vec());
        match self {
            Self::ReplacedToken(v) | Self::SequenceClass(v) => row(v),
            Self::MaskedLm { vocab_size: width, values } | Self::TokenClass { num_labels: width, values } => {
                serde_json::Value::Array(values.chunks_exact(*width).map(row).collect())
            }
        }
    }
}

/// The host keeps linear weights transposed, `[in, out]`: both GEMMs pack a row-major right-hand
/// side faster than the transpose of HF's `[out, in]` (measured: docs/BENCHMARKS.md, "Float inference").
const HOST_LINEAR_LAYOUT: WeightLayout = WeightLayout::InOut;

/// A float32 ELECTRA with its weights in one blob ([`ParamLayout`] with linear weights stored `[in, out]`).
#[derive(Clone, Debug)]
pub struct FloatModel {
    layout: ParamLayout,
    params: Vec<f32>,
    backend: GemmBackend,
}

impl FloatModel {
    /// Copies every tensor the config and head need out of `checkpoint`, checking each one's shape
    /// (a missing or misshaped tensor is an error naming it and both shapes). The generator's output
    /// matrix is the word embedding table; a stored `generator_lm_head.weight` must equal it.
    pub fn from_checkpoint(checkpoint: &HfCheckpoint) -> Result<Self, InferError> {
        let (config, head) = (checkpoint.config, checkpoint.head);
        let layout = ParamLayout::new(&config, head).map_err(InferError::Model)?;
        // Every tensor is checked before the blob is sized from the config (issue 17: a config whose dimensions
        // its tensors do not back must be a shape error, not an allocation of whatever it claims).
        checkpoint.check_layout(&layout)?;
        let mut hf_params = try_filled(layout.len(), 0.0f32, "the model's parameters")?;
        layout.for_each_tensor(|t| -> Result<(), CheckpointError> {
            let data = checkpoint.get(t.name, t.shape)?;
            hf_params[t.offset..t.offset + t.len()].copy_from_slice(data);
            Ok(())
        })?;
        if let Some(lm_head) = checkpoint.tensors.get("generator_lm_head.weight") {
            let word = checkpoint
                .get("electra.embeddings.word_embeddings.weight", &[config.vocab_size, config.embedding_size])?;
            if head != HeadKind::MaskedLm || lm_head.data != word {
                return Err(InferError::UntiedLmHead { dir: checkpoint.dir.clone() });
            }
        }
        Self::from_params(config, head, &hf_params)
    }

    /// Builds the model from a blob in the checkpoint's own layout (every tensor as HF stores it, in
    /// the order [`ParamLayout::for_each_tensor`] lists).
    pub fn from_params(config: ElectraConfig, head: HeadKind, hf_params: &[f32]) -> Result<Self, InferError> {
        let hf_layout = ParamLayout::new(&config, head).map_err(InferError::Model)?;
        if hf_params.len() != hf_layout.len() {
            return Err(InferError::Model(FloatError::ParamsLength {
                expected: hf_layout.len(),
                found: hf_params.len(),
            }));
        }
        let mut params = try_filled(hf_layout.len(), 0.0f32, "the model's parameters")?;
        hf_layout.relayout(hf_params, HOST_LINEAR_LAYOUT, &mut params).map_err(InferError::Model)?;
        let layout = hf_layout.with_linear_layout(HOST_LINEAR_LAYOUT);
        Ok(Self { layout, params, backend: GemmBackend::default() })
    }

    /// The same model with another GEMM implementation.
    pub fn with_backend(mut self, backend: GemmBackend) -> Self {
        self.backend = backend;
        self
    }

    pub fn config(&self) -> &ElectraConfig {
        self.layout.config()
    }

    pub fn head(&self) -> HeadKind {
        self.layout.head()
    }

    pub fn backend(&self) -> GemmBackend {
        self.backend
    }

    /// The parameter blob, laid out as [`FloatModel::layout`] says.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// Where each tensor sits in [`FloatModel::params`] (linear weights transposed, `[in, out]`).
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    fn weights(&self) -> Result<ElectraWeights<'_>, InferError> {
        ElectraWeights::from_layout(self.layout, &self.params).map_err(InferError::Model)
    }

    /// Logits for every sequence, in order. Every sequence is checked before any runs, and the first
    /// bad one is reported by its index. Sequences run in parallel on rayon's pool; when there are
    /// fewer sequences than threads, the spare threads go into each GEMM.
    pub fn logits(&self, seqs: &[InputSeq]) -> Result<Vec<Logits>, InferError> {
        let weights = self.weights()?;
        for (index, seq) in seqs.iter().enumerate() {
            seq.as_input()
                .validate(self.config())
                .map_err(|source| InferError::Sequence { index, source: source.into() })?;
        }
        let threads_per_sequence = (rayon::current_num_threads() / seqs.len().max(1)).max(1);
        let gemm = self.backend.instance(threads_per_sequence);
        seqs.par_iter()
            .enumerate()
            .map_init(Vec::new, |scratch, (index, seq)| {
                self.run_one(&*gemm, &weights, seq, scratch, &mut |_, _| {})
                    .map_err(|source| InferError::Sequence { index, source })
            })
            .collect()
    }

    /// One sequence's logits and every hidden state `[T, H]` (embeddings output, then each layer's),
    /// HF's `output_hidden_states`. Single-threaded apart from the GEMM; for tests and inspection.
    pub fn logits_and_hidden_states(&self, seq: &InputSeq) -> Result<(Logits, Vec<Vec<f32>>), InferError> {
        let weights = self.weights()?;
        let gemm = self.backend.instance(rayon::current_num_threads());
        let mut hidden_states = Vec::with_capacity(self.config().num_hidden_layers + 1);
        let logits = self
            .run_one(&*gemm, &weights, seq, &mut Vec::new(), &mut |_, h| hidden_states.push(h.to_vec()))
            .map_err(|source| InferError::Sequence { index: 0, source })?;
        Ok((logits, hidden_states))
    }

    fn run_one(
        &self,
        gemm: &dyn Gemm,
        weights: &ElectraWeights<'_>,
        seq: &InputSeq,
        scratch: &mut Vec<f32>,
        on_hidden: &mut dyn FnMut(usize, &[f32]),
    ) -> Result<Logits, FloatError> {
        let (config, head) = (self.config(), self.head());
        let tokens = seq.input_ids.len();
        let needed = float::scratch_len(config, head, tokens);
        if scratch.len() < needed {
            scratch.resize(needed, 0.0);
        }
        let mut values = vec![0.0f32; float::logits_len(config, head, tokens)];
        float::forward_observed(gemm, weights, &seq.as_input(), scratch, &mut values, on_hidden)?;
        Ok(Logits::new(head, config, values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Tensor;
    use std::path::Path;

    fn fixture(name: &str) -> HfCheckpoint {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/hf-electra-tiny").join(name);
        HfCheckpoint::load(&dir).expect("fixture")
    }

    #[test]
    fn missing_and_misshaped_tensors_are_named() {
        let mut ckpt = fixture("disc");
        ckpt.tensors.remove("electra.encoder.layer.1.output.dense.bias");
        let err = FloatModel::from_checkpoint(&ckpt).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("has no tensor `electra.encoder.layer.1.output.dense.bias`"), "{err}");

        let mut ckpt = fixture("disc");
        ckpt.tensors.insert(
            "discriminator_predictions.dense_prediction.weight".into(),
            Tensor { shape: vec![2, 64], data: vec![0.0; 128] },
        );
        let err = FloatModel::from_checkpoint(&ckpt).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            err,
            "tensor `discriminator_predictions.dense_prediction.weight` has shape [2, 64], the config needs [1, 64]"
        );
    }

    #[test]
    fn generator_head_must_be_tied() {
        let mut ckpt = fixture("gen");
        let word = ckpt.tensors["electra.embeddings.word_embeddings.weight"].clone();
        ckpt.tensors.insert("generator_lm_head.weight".into(), word.clone());
        assert!(FloatModel::from_checkpoint(&ckpt).is_ok(), "an explicitly stored tied copy is fine");
        let mut untied = word;
        untied.data[5] += 1.0;
        ckpt.tensors.insert("generator_lm_head.weight".into(), untied);
        assert!(matches!(FloatModel::from_checkpoint(&ckpt), Err(InferError::UntiedLmHead { .. })));
    }

    #[test]
    fn a_bad_sequence_is_reported_by_index_before_any_work() {
        let model = FloatModel::from_checkpoint(&fixture("disc")).expect("model");
        let seqs = [InputSeq::ids(vec![2, 5, 3]), InputSeq::ids(vec![2, 1000, 3])];
        let err = model.logits(&seqs).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(err, "sequence 1: token id 1000 at position 1 is outside the vocab of 1000");
        let too_long = [InputSeq::ids(vec![5; 65])];
        let err = model.logits(&too_long).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(err, "sequence 0: sequence of 65 tokens is longer than the model's 64 positions");
        assert_eq!(model.logits(&[]).ok(), Some(vec![]));
    }

    #[test]
    fn logits_json_is_shaped_by_the_head() {
        let rtd = Logits::ReplacedToken(vec![0.5, -1.0]);
        assert_eq!(rtd.to_json().to_string(), "[0.5,-1.0]");
        let tok = Logits::TokenClass { num_labels: 2, values: vec![1.0, 2.0, 3.0, 4.0] };
        assert_eq!(tok.to_json().to_string(), "[[1.0,2.0],[3.0,4.0]]");
    }
}
