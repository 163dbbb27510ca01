use std::fmt;
use std::path::PathBuf;

/// Why a checkpoint could not be read or written.
#[derive(Debug)]
#[non_exhaustive]
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
    /// A buffer sized from the input could not be allocated (the allocator refused; nothing was aborted).
    Alloc { what: String, bytes: usize },
    /// The output is read-only, or another run holds its lock.
    Lock(electra_pipeline::lock::LockError),
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
            Self::Alloc { what, bytes } => write!(f, "cannot allocate {bytes} bytes for {what}"),
            Self::Lock(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CheckpointError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Lock(e) => Some(e),
            _ => None,
        }
    }
}

impl From<electra_pipeline::atomic_file::FileWriteError> for CheckpointError {
    fn from(e: electra_pipeline::atomic_file::FileWriteError) -> Self {
        Self::Io { path: e.path, source: e.source }
    }
}

impl From<electra_pipeline::lock::LockError> for CheckpointError {
    fn from(e: electra_pipeline::lock::LockError) -> Self {
        Self::Lock(e)
    }
}

/// A vector of `len` copies of `value`, allocated fallibly: a length read from input that the allocator refuses is
/// [`CheckpointError::Alloc`] naming `what`, not an abort.
pub fn try_filled<T: Clone>(len: usize, value: T, what: &str) -> Result<Vec<T>, CheckpointError> {
    let bytes = len.saturating_mul(std::mem::size_of::<T>());
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| CheckpointError::Alloc { what: what.to_string(), bytes })?;
    v.resize(len, value);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_length_the_allocator_refuses_is_an_error_not_an_abort() {
        // More than `isize::MAX` bytes: refused by every allocator, so this test cannot take the machine down.
        let err = try_filled(usize::MAX / 2, 0u32, "the lie").err().map(|e| e.to_string());
        assert_eq!(err, Some(format!("cannot allocate {} bytes for the lie", usize::MAX)));
        assert_eq!(try_filled(3, 7u8, "three bytes").ok(), Some(vec![7, 7, 7]));
    }
}
