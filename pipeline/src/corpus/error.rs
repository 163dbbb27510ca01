use std::fmt;
use std::path::PathBuf;

/// Why the corpus could not be listed or read. Every variant names the file.
#[derive(Debug)]
pub enum CorpusError {
    /// An input path given on the command line does not exist.
    NotFound { path: PathBuf },
    /// A file given explicitly has an extension the pipeline does not read.
    UnknownFormat { path: PathBuf },
    /// No readable input file was found under the given paths.
    NoInput { inputs: Vec<PathBuf> },
    /// The operating system or a decompressor failed on a file.
    Io { path: PathBuf, source: std::io::Error },
    /// A Parquet input could not be opened or decoded.
    Parquet { path: PathBuf, message: String },
    /// A Parquet input has no usable text column of the requested name.
    NoTextColumn { path: PathBuf, column: String, found: String },
    /// The consumer of the documents stopped (an error happened downstream); nothing is wrong with the input.
    Cancelled,
}

impl CorpusError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        CorpusError::Io { path: path.to_path_buf(), source }
    }
}

impl fmt::Display for CorpusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorpusError::NotFound { path } => write!(f, "input {} does not exist", path.display()),
            CorpusError::UnknownFormat { path } => write!(
                f,
                "input {}: unknown format; expected .txt, .jsonl or .parquet, optionally followed by .gz or .zst",
                path.display()
            ),
            CorpusError::NoInput { inputs } => {
                let list: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
                write!(f, "no .txt, .jsonl or .parquet file found under {}", list.join(", "))
            }
            CorpusError::Io { path, source } => write!(f, "reading {}: {source}", path.display()),
            CorpusError::Parquet { path, message } => write!(f, "Parquet input {}: {message}", path.display()),
            CorpusError::NoTextColumn { path, column, found } => write!(
                f,
                "Parquet input {}: no string column named {column:?} (top-level columns: {found}); choose one with --text-field",
                path.display()
            ),
            CorpusError::Cancelled => write!(f, "reading the corpus was cancelled"),
        }
    }
}

impl std::error::Error for CorpusError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CorpusError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
