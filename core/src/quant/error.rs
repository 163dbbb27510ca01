use crate::model_file::ModelFileError;
use core::fmt;

/// Why [`crate::model_file::Model::run`] refused an input or an arena.
#[derive(Clone, Debug, PartialEq)]
pub enum RunError {
    /// No tokens.
    EmptySequence,
    /// More tokens than position embeddings.
    SequenceTooLong { len: usize, max_positions: usize },
    /// A token id names no row of the word embeddings.
    IdOutOfVocab { position: usize, id: u32, vocab_size: usize },
    /// A token type names no row of the token-type embeddings.
    TokenTypeOutOfRange { position: usize, token_type: u32, type_vocab_size: usize },
    /// `token_types` is not as long as `ids`.
    TokenTypesLength { ids: usize, token_types: usize },
    /// The arena is smaller than `arena_bytes` for this sequence length.
    ArenaTooSmall { needed: usize, found: usize },
    /// The arena does not start at a 4-byte aligned address.
    ArenaMisaligned { address: usize },
    /// The executor asks for more workers than the encoder supports.
    TooManyWorkers { workers: usize, max: usize },
    /// A tensor view failed (cannot happen for a model that passed `from_bytes`).
    Model(ModelFileError),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptySequence => write!(f, "the input has no tokens"),
            Self::SequenceTooLong { len, max_positions } => {
                write!(f, "the input has {len} tokens, the model has {max_positions} positions")
            }
            Self::IdOutOfVocab { position, id, vocab_size } => {
                write!(f, "token id {id} at position {position} is outside the vocab of {vocab_size}")
            }
            Self::TokenTypeOutOfRange { position, token_type, type_vocab_size } => {
                write!(f, "token type {token_type} at position {position} is outside the {type_vocab_size} token types")
            }
            Self::TokenTypesLength { ids, token_types } => {
                write!(f, "{token_types} token types for {ids} token ids")
            }
            Self::ArenaTooSmall { needed, found } => {
                write!(f, "the arena has {found} bytes, this sequence needs {needed} (see arena_bytes)")
            }
            Self::ArenaMisaligned { address } => write!(f, "the arena at {address:#x} is not 4-byte aligned"),
            Self::TooManyWorkers { workers, max } => write!(f, "{workers} workers requested, at most {max}"),
            Self::Model(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RunError {}

impl From<ModelFileError> for RunError {
    fn from(e: ModelFileError) -> Self {
        Self::Model(e)
    }
}
