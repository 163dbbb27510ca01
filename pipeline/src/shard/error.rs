use std::fmt;
use std::path::PathBuf;

use crate::corpus::CorpusError;
use crate::encode::EncodeError;

/// Why sharding failed. File-level variants name the file.
#[derive(Debug)]
pub enum ShardError {
    /// The options do not make sense (e.g. a sequence length below the minimum).
    Config { message: String },
    /// Listing or reading the corpus failed.
    Corpus(CorpusError),
    /// The tokenizer failed on some text.
    Encode(EncodeError),
    /// Writing or reading an output file failed.
    Io { path: PathBuf, source: std::io::Error },
    /// The Parquet writer failed on an output shard.
    Parquet { path: PathBuf, message: String },
    /// A progress record or manifest could not be (de)serialized.
    Json { path: PathBuf, message: String },
    /// The output directory is read-only, or another run is writing it.
    Lock(crate::lock::LockError),
}

impl ShardError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        ShardError::Io { path: path.to_path_buf(), source }
    }
}

impl From<crate::atomic_file::FileWriteError> for ShardError {
    fn from(e: crate::atomic_file::FileWriteError) -> Self {
        ShardError::Io { path: e.path, source: e.source }
    }
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardError::Config { message } => write!(f, "invalid sharding options: {message}"),
            ShardError::Corpus(e) => write!(f, "{e}"),
            ShardError::Encode(e) => write!(f, "{e}"),
            ShardError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ShardError::Parquet { path, message } => write!(f, "writing Parquet shard {}: {message}", path.display()),
            ShardError::Json { path, message } => write!(f, "{}: {message}", path.display()),
            ShardError::Lock(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ShardError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ShardError::Corpus(e) => Some(e),
            ShardError::Encode(e) => Some(e),
            ShardError::Io { source, .. } => Some(source),
            ShardError::Lock(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CorpusError> for ShardError {
    fn from(e: CorpusError) -> Self {
        ShardError::Corpus(e)
    }
}

impl From<crate::lock::LockError> for ShardError {
    fn from(e: crate::lock::LockError) -> Self {
        ShardError::Lock(e)
    }
}

impl From<EncodeError> for ShardError {
    fn from(e: EncodeError) -> Self {
        ShardError::Encode(e)
    }
}
