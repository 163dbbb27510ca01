use crate::checkpoint::CheckpointError;
use electra_core::float::FloatError;
use std::fmt;
use std::path::PathBuf;

/// Why host inference could not load a model or run a batch.
#[derive(Debug)]
pub enum InferError {
    /// The checkpoint could not be read, or a tensor is missing or misshaped.
    Checkpoint(CheckpointError),
    /// The config and head do not describe a model the float encoder can run.
    Model(FloatError),
    /// The checkpoint stores a `generator_lm_head.weight` that differs from the word embeddings;
    /// ELECTRA's generator ties the two, and this encoder relies on it.
    UntiedLmHead { dir: PathBuf },
    /// Sequence `index` of the batch (0-based) was rejected before any arithmetic.
    Sequence { index: usize, source: FloatError },
    /// The int8 model file could not be read or is invalid.
    Int8File(crate::int8::Int8Error),
    /// Sequence `index` of the batch (0-based) was rejected by the int8 encoder.
    Int8Sequence { index: usize, source: electra_core::quant::RunError },
}

impl fmt::Display for InferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Checkpoint(e) => write!(f, "{e}"),
            Self::Model(e) => write!(f, "cannot build the model: {e}"),
            Self::UntiedLmHead { dir } => write!(
                f,
                "{}: generator_lm_head.weight differs from the word embeddings; only tied generator heads are supported",
                dir.display()
            ),
            Self::Sequence { index, source } => write!(f, "sequence {index}: {source}"),
            Self::Int8File(e) => write!(f, "{e}"),
            Self::Int8Sequence { index, source } => write!(f, "sequence {index}: {source}"),
        }
    }
}

impl std::error::Error for InferError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Checkpoint(e) => Some(e),
            Self::Model(e) | Self::Sequence { source: e, .. } => Some(e),
            Self::UntiedLmHead { .. } => None,
            Self::Int8File(e) => Some(e),
            Self::Int8Sequence { source, .. } => Some(source),
        }
    }
}

impl From<CheckpointError> for InferError {
    fn from(e: CheckpointError) -> Self {
        Self::Checkpoint(e)
    }
}
