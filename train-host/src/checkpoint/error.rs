use std::fmt;
use std::path::PathBuf;

/// Why a checkpoint could not be read or written.
#[derive(Debug)]
pub enum CheckpointError {
    /// Reading or writing a file failed.
    Io { path: PathBuf, source: std::io::Error },
    /// `config.json` is not valid JSON or lacks a field.
    Config { path: PathBuf, message: String },
    /// A safetensors file is malformed.
    Safetensors { path: PathBuf, message: String },
    /// A tensor has a dtype this crate does not read (only F32, F16 and BF16 are weights).
    UnsupportedDtype { path: PathBuf, tensor: String, dtype: String },
    /// A tensor the model needs is not in the checkpoint.
    MissingTensor { tensor: String, dir: PathBuf },
    /// A tensor is present with another shape than the config implies.
    ShapeMismatch { tensor: String, expected: Vec<usize>, found: Vec<usize> },
    /// A tensor holds NaN or infinity.
    NonFinite { tensor: String },
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Config { path, message } => write!(f, "{}: bad config: {message}", path.display()),
            Self::Safetensors { path, message } => {
                write!(f, "{}: not a valid safetensors file: {message}", path.display())
            }
            Self::UnsupportedDtype { path, tensor, dtype } => {
                write!(f, "{}: tensor `{tensor}` has dtype {dtype}; weights must be F32, F16 or BF16", path.display())
            }
            Self::MissingTensor { tensor, dir } => {
                write!(f, "{}: checkpoint has no tensor `{tensor}`", dir.display())
            }
            Self::ShapeMismatch { tensor, expected, found } => {
                write!(f, "tensor `{tensor}` has shape {found:?}, the config needs {expected:?}")
            }
            Self::NonFinite { tensor } => write!(f, "tensor `{tensor}` holds NaN or infinity"),
        }
    }
}

impl std::error::Error for CheckpointError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
