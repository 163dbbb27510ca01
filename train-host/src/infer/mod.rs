//! Float32 inference on the host: [`FloatModel`] loads an HF checkpoint into the no_std core's
//! parameter blob and scores batches of sequences on all cores; [`loss`] turns logits into the
//! losses HF reports.

mod error;
mod gemm_backend;
pub mod loss;
mod model;

pub use error::InferError;
pub use gemm_backend::{GemmBackend, GemmCrate};
pub use model::{FloatModel, InputSeq, Logits};

use electra_core::{ElectraConfig, HeadKind};

/// Anything `electra infer` can score: the float model here, the int8 model file later.
pub trait LogitsModel: Sync {
    fn config(&self) -> &ElectraConfig;
    fn head(&self) -> HeadKind;
    /// Logits for every sequence, in order; a rejected sequence is [`InferError::Sequence`] with its index.
    fn logits(&self, seqs: &[InputSeq]) -> Result<Vec<Logits>, InferError>;
    /// The `vocab.txt` bytes the model carries, if any (an int8 model file can embed one).
    fn embedded_vocab(&self) -> Option<&[u8]> {
        None
    }
    /// A classifier's label names and problem type (an int8 model file's labels section, an HF
    /// directory's `config.json`), so output can name the predicted class; `None` for other heads.
    fn labels(&self) -> Option<&crate::export::TaskLabels> {
        None
    }
}

impl LogitsModel for FloatModel {
    fn config(&self) -> &ElectraConfig {
        FloatModel::config(self)
    }
    fn head(&self) -> HeadKind {
        FloatModel::head(self)
    }
    fn logits(&self, seqs: &[InputSeq]) -> Result<Vec<Logits>, InferError> {
        FloatModel::logits(self, seqs)
    }
}
