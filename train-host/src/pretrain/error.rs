use crate::checkpoint::CheckpointError;
use std::fmt;
use std::path::PathBuf;

/// Why pre-training or evaluation stopped.
#[derive(Debug)]
pub enum PretrainError {
    /// Reading or writing a file failed.
    Io { path: PathBuf, source: std::io::Error },
    /// A file of the run (trainer state, metrics, config) is malformed.
    BadFile { path: PathBuf, message: String },
    /// Reading or writing a model checkpoint failed.
    Checkpoint(CheckpointError),
    /// The training data could not be read.
    Data(super::backend::ReaderError),
    /// The optimizer refused a step (the parameters are unchanged).
    Optimizer(super::backend::OptimError),
    /// The model refused a batch or a set of weights.
    Model(super::backend::ModelError),
    /// The loss became NaN or infinite; nothing from this step was saved.
    NonFiniteLoss {
        step: u64,
        loss: f32,
        gen_loss: f32,
        disc_loss: f32,
        /// The last good checkpoint, kept as it was; `None` if none was written yet.
        last_good: Option<PathBuf>,
    },
    /// `--resume` with settings that differ from the run being resumed.
    ResumeMismatch { path: PathBuf, field: &'static str, saved: String, requested: String },
    /// The output directory already holds a run and `--resume` was not given.
    RunExists { dir: PathBuf },
    /// `--resume` but there is no checkpoint to resume from.
    NothingToResume { dir: PathBuf },
    /// Options that cannot work together (batch size 0, a sequence length beyond the position table, ...).
    Invalid { message: String },
    /// The loss plot could not be drawn.
    Plot { path: PathBuf, message: String },
}

impl fmt::Display for PretrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::BadFile { path, message } => write!(f, "{}: {message}", path.display()),
            Self::Checkpoint(e) => write!(f, "checkpoint: {e}"),
            Self::Data(e) => write!(f, "training data: {e}"),
            Self::Model(e) => write!(f, "model: {e}"),
            Self::Optimizer(e) => write!(f, "optimizer: {e}"),
            Self::NonFiniteLoss { step, loss, gen_loss, disc_loss, last_good } => {
                write!(
                    f,
                    "the loss is not finite at step {step} (loss {loss}, generator MLM {gen_loss}, discriminator RTD \
                     {disc_loss}); training stopped without saving this step. "
                )?;
                match last_good {
                    Some(dir) => write!(
                        f,
                        "The last good checkpoint is {}; lower --lr or raise --warmup and resume from it with --resume",
                        dir.display()
                    ),
                    None => write!(f, "No checkpoint was written yet; lower --lr or raise --warmup and start again"),
                }
            }
            Self::ResumeMismatch { path, field, saved, requested } => write!(
                f,
                "{}: cannot resume: the run was started with {field} = {saved}, this command asks for {requested}",
                path.display()
            ),
            Self::RunExists { dir } => write!(
                f,
                "{} already holds a training run; pass --resume to continue it or choose another --out",
                dir.display()
            ),
            Self::NothingToResume { dir } => {
                write!(f, "--resume: {} holds no checkpoint to resume from", dir.display())
            }
            Self::Invalid { message } => write!(f, "{message}"),
            Self::Plot { path, message } => write!(f, "{}: cannot draw the loss plot: {message}", path.display()),
        }
    }
}

impl std::error::Error for PretrainError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Checkpoint(e) => Some(e),
            Self::Data(e) => Some(e),
            Self::Model(e) => Some(e),
            Self::Optimizer(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CheckpointError> for PretrainError {
    fn from(e: CheckpointError) -> Self {
        Self::Checkpoint(e)
    }
}

impl From<super::backend::ReaderError> for PretrainError {
    fn from(e: super::backend::ReaderError) -> Self {
        Self::Data(e)
    }
}

impl From<super::backend::ModelError> for PretrainError {
    fn from(e: super::backend::ModelError) -> Self {
        Self::Model(e)
    }
}
