//! ELECTRA forward and backward passes in float32, written by hand on `ndarray`, llm.c style.
//!
//! Dimension glossary (shape comments across this module): `V` vocab, `E` embedding size, `H` hidden size,
//! `L` layers, `A` attention heads, `D = H/A` head size, `F` FFN size, `P` max positions, `S` token types,
//! `B` sequences in a batch, `T` tokens per sequence, `N = B·T` rows, `M` selected rows, `C` classes.
//!
//! - One file per layer kind; each layer's `backward` sits beside its `forward`; a forward returns a
//!   named cache of what its backward reads; gradients are named `d<x>` and accumulated (`+=`) into a
//!   gradient [`ParamSet`] of the same layout as the parameters.
//! - Parameters live in one blob ([`ParamSet`]) whose named views carry HF checkpoint names verbatim.
//! - Every product runs through [`gemm::matmul`] on all cores; elementwise work runs on rayon.

/// `exp`, `ln`, the normal CDF and density, the sigmoid: the core's one definition, the inference paths' too.
pub use electra_core::math;
pub mod attention;
pub mod dropout;
pub mod embeddings;
pub mod encoder;
pub mod encoder_layer;
pub mod ffn;
pub mod gelu;
pub mod gemm;
pub mod init;
pub mod kernels;
pub mod layer_norm;
pub mod layout;
pub mod linear;
pub mod loss;
pub mod mlm_head;
pub mod params;
pub mod rtd_head;
pub mod seq_cls_head;
pub mod task;
pub mod tok_cls_head;

pub use encoder::{Encoder, EncoderCache};
pub use params::{ParamEntry, ParamError, ParamId, ParamSet, ParamSetBuilder};
pub use task::{Labels, TaskModel, TaskOutput};

use crate::checkpoint::CheckpointError;
use electra_core::config::ConfigError;
use electra_core::ElectraConfig;
use std::fmt;

/// A batch of token sequences as the model reads it: row-major `[B, T]`, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct Tokens<'a> {
    pub batch_size: usize,
    pub seq_len: usize,
    pub input_ids: &'a [u32],
    pub token_type_ids: &'a [u8],
    pub attention_mask: &'a [u8],
}

/// `Tokens::from(&batch)` for the batch types that carry the model's inputs under the same field names: the shard
/// reader's pre-training `Batch` and fine-tuning's `PaddedBatch`.
macro_rules! tokens_from_batch {
    ($($batch:ty),*) => {$(
        impl<'a> From<&'a $batch> for Tokens<'a> {
            fn from(b: &'a $batch) -> Self {
                Self {
                    batch_size: b.batch_size,
                    seq_len: b.seq_len,
                    input_ids: &b.input_ids,
                    token_type_ids: &b.token_type_ids,
                    attention_mask: &b.attention_mask,
                }
            }
        }
    )*};
}
tokens_from_batch!(electra_pipeline::reader::Batch, crate::finetune::data::PaddedBatch);

impl<'a> Tokens<'a> {
    /// `N = B·T`.
    pub fn rows(&self) -> usize {
        self.batch_size * self.seq_len
    }

    /// Checks the batch against the model: sizes agree, every id is in the vocab, every token type is in
    /// range, the sequences fit the position table.
    pub fn validate(&self, c: &ElectraConfig) -> Result<(), ModelError> {
        if self.batch_size == 0 || self.seq_len == 0 {
            return Err(ModelError::EmptyBatch);
        }
        let n = self.rows();
        for (field, found) in [
            ("input_ids", self.input_ids.len()),
            ("token_type_ids", self.token_type_ids.len()),
            ("attention_mask", self.attention_mask.len()),
        ] {
            if found != n {
                return Err(ModelError::BatchShape { field, expected: n, found });
            }
        }
        if self.seq_len > c.max_position_embeddings {
            return Err(ModelError::SequenceTooLong {
                seq_len: self.seq_len,
                max_position_embeddings: c.max_position_embeddings,
            });
        }
        if let Some(i) = self.input_ids.iter().position(|&id| id as usize >= c.vocab_size) {
            return Err(ModelError::TokenOutOfVocab {
                sequence: i / self.seq_len,
                position: i % self.seq_len,
                id: self.input_ids[i],
                vocab_size: c.vocab_size,
            });
        }
        if let Some(i) = self.token_type_ids.iter().position(|&t| t as usize >= c.type_vocab_size) {
            return Err(ModelError::TokenTypeOutOfRange {
                sequence: i / self.seq_len,
                position: i % self.seq_len,
                token_type: self.token_type_ids[i],
                type_vocab_size: c.type_vocab_size,
            });
        }
        Ok(())
    }
}

/// Why a model could not be built, loaded or run on some input.
#[derive(Debug)]
pub enum ModelError {
    /// A config failed [`ElectraConfig::validate`].
    Config(ConfigError),
    /// The generator and discriminator configs disagree on something they must share.
    IncompatibleConfigs { field: &'static str, generator: usize, discriminator: usize },
    /// Reading a checkpoint failed, or it lacks or misshapes a tensor.
    Checkpoint(CheckpointError),
    /// A checkpoint holds another HF class than the one asked for.
    WrongHead { expected: &'static str, found: &'static str },
    /// The generator's and the discriminator's checkpoints hold different values for a shared embedding tensor.
    EmbeddingsDiffer { tensor: String },
    /// The batch has no sequence or zero-length sequences.
    EmptyBatch,
    /// A batch field has the wrong number of entries for `B·T`.
    BatchShape { field: &'static str, expected: usize, found: usize },
    /// Sequences are longer than the position table.
    SequenceTooLong { seq_len: usize, max_position_embeddings: usize },
    /// A token id is outside the vocab.
    TokenOutOfVocab { sequence: usize, position: usize, id: u32, vocab_size: usize },
    /// A token type id is outside the token-type table.
    TokenTypeOutOfRange { sequence: usize, position: usize, token_type: u8, type_vocab_size: usize },
    /// Labels do not match the head: wrong count, or a class index out of range.
    BadLabels { message: String },
    /// Summing token counts over the ranks of a data-parallel step failed.
    Collective { message: String },
    /// A special token id in the objective's options is outside the vocab.
    SpecialIdOutOfVocab { name: &'static str, id: u32, vocab_size: usize },
    /// The objective's options are out of range (a probability outside [0, 1], a negative weight).
    BadOptions { message: String },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "invalid model config: {e}"),
            Self::IncompatibleConfigs { field, generator, discriminator } => write!(
                f,
                "generator and discriminator must share `{field}`: generator has {generator}, discriminator {discriminator}"
            ),
            Self::Checkpoint(e) => write!(f, "{e}"),
            Self::WrongHead { expected, found } => write!(f, "expected an {expected} checkpoint, found {found}"),
            Self::EmbeddingsDiffer { tensor } => write!(
                f,
                "generator and discriminator checkpoints hold different `{tensor}`; ELECTRA shares the embeddings"
            ),
            Self::EmptyBatch => write!(f, "batch has no tokens"),
            Self::BatchShape { field, expected, found } => {
                write!(f, "batch field `{field}` has {found} entries, batch_size × seq_len is {expected}")
            }
            Self::SequenceTooLong { seq_len, max_position_embeddings } => write!(
                f,
                "sequence length {seq_len} exceeds the model's max_position_embeddings {max_position_embeddings}"
            ),
            Self::TokenOutOfVocab { sequence, position, id, vocab_size } => write!(
                f,
                "token id {id} at sequence {sequence}, position {position} is outside the vocab of {vocab_size}"
            ),
            Self::TokenTypeOutOfRange { sequence, position, token_type, type_vocab_size } => write!(
                f,
                "token type {token_type} at sequence {sequence}, position {position} is outside 0..{type_vocab_size}"
            ),
            Self::BadLabels { message } => write!(f, "bad labels: {message}"),
            Self::Collective { message } => write!(f, "summing token counts over ranks failed: {message}"),
            Self::SpecialIdOutOfVocab { name, id, vocab_size } => {
                write!(f, "special token {name} = {id} is outside the vocab of {vocab_size}")
            }
            Self::BadOptions { message } => write!(f, "bad objective options: {message}"),
        }
    }
}

impl std::error::Error for ModelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Config(e) => Some(e),
            Self::Checkpoint(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CheckpointError> for ModelError {
    fn from(e: CheckpointError) -> Self {
        Self::Checkpoint(e)
    }
}

impl From<ConfigError> for ModelError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}
