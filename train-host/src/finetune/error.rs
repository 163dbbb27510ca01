//! Why fine-tuning or evaluation stopped.

use super::data::DataError;
use crate::checkpoint::CheckpointError;
use crate::distributed::DistError;
use crate::model::ModelError;
use crate::optim::OptimError;
use electra_pipeline::tokenizer::HostTokenizerError;
use std::fmt;
use std::path::PathBuf;

/// Every way a fine-tuning run or an evaluation can fail; each names the file, line or tensor at fault.
#[derive(Debug)]
#[non_exhaustive]
pub enum FinetuneError {
    /// A task file could not be read or holds a bad row.
    Data(DataError),
    /// The model could not be built from the checkpoint, or refused a batch.
    Model(ModelError),
    /// Reading or writing a checkpoint failed.
    Checkpoint(CheckpointError),
    /// The optimizer refused a step (non-finite gradients: the learning rate is too high for this model).
    Optim { step: u64, source: OptimError },
    /// The vocabulary could not be read.
    Vocab(HostTokenizerError),
    /// A file or directory could not be read or written.
    Io { path: PathBuf, source: std::io::Error },
    /// `--out` already holds a run; `--resume` continues it.
    RunExists { dir: PathBuf },
    /// `--resume` found no checkpoint, or one written by another kind of run.
    NoCheckpoint { dir: PathBuf },
    /// A resumed run was given settings that differ from the ones it started with.
    ResumeMismatch { field: &'static str, saved: String, given: String },
    /// A setting or file content that makes the run impossible.
    Invalid { message: String },
    /// The loss became NaN or infinite.
    NonFiniteLoss { step: u64 },
    /// The MPI world could not be joined, or a collective between ranks failed.
    Distributed(DistError),
}

impl fmt::Display for FinetuneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Data(e) => write!(f, "{e}"),
            Self::Model(e) => write!(f, "{e}"),
            Self::Checkpoint(e) => write!(f, "{e}"),
            Self::Optim { step, source } => write!(f, "step {step}: {source}"),
            Self::Vocab(e) => write!(f, "{e}"),
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::RunExists { dir } => write!(
                f,
                "{} already holds a fine-tuning run; pass --resume to continue it, or choose another --out",
                dir.display()
            ),
            Self::NoCheckpoint { dir } => write!(f, "{} holds no fine-tuning checkpoint to resume", dir.display()),
            Self::ResumeMismatch { field, saved, given } => {
                write!(f, "--resume: the run was started with {field} = {saved}, not {given}")
            }
            Self::Invalid { message } => write!(f, "{message}"),
            Self::NonFiniteLoss { step } => {
                write!(f, "the loss is NaN or infinite at step {step}; lower --lr (the last checkpoint is kept)")
            }
            Self::Distributed(e) => write!(f, "data-parallel fine-tuning: {e}"),
        }
    }
}

impl std::error::Error for FinetuneError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Data(e) => Some(e),
            Self::Model(e) => Some(e),
            Self::Checkpoint(e) => Some(e),
            Self::Optim { source, .. } => Some(source),
            Self::Vocab(e) => Some(e),
            Self::Io { source, .. } => Some(source),
            Self::Distributed(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DataError> for FinetuneError {
    fn from(e: DataError) -> Self {
        Self::Data(e)
    }
}

impl From<ModelError> for FinetuneError {
    fn from(e: ModelError) -> Self {
        Self::Model(e)
    }
}

impl From<CheckpointError> for FinetuneError {
    fn from(e: CheckpointError) -> Self {
        Self::Checkpoint(e)
    }
}

impl From<DistError> for FinetuneError {
    fn from(e: DistError) -> Self {
        Self::Distributed(e)
    }
}

impl From<HostTokenizerError> for FinetuneError {
    fn from(e: HostTokenizerError) -> Self {
        Self::Vocab(e)
    }
}

/// `std::io::Error` → [`FinetuneError::Io`] naming `path`.
pub(crate) fn io_at(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> FinetuneError + '_ {
    move |source| FinetuneError::Io { path: path.to_path_buf(), source }
}
