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
    /// `attention_mask` is not as long as `ids`.
    AttentionMaskLength { ids: usize, attention_mask: usize },
    /// An `attention_mask` value other than 0 and 1.
    BadMaskValue { position: usize, value: u8 },
    /// The arena is smaller than `arena_bytes` for this sequence length.
    ArenaTooSmall { needed: usize, found: usize },
    /// The arena does not start at a 4-byte aligned address.
    ArenaMisaligned { address: usize },
    /// The executor asks for more workers than the encoder supports.
    TooManyWorkers { workers: usize, max: usize },
    /// The buffer given to `Model::pack_weights` is smaller than `Model::packed_weights_bytes`.
    PackedBufferTooSmall { needed: usize, found: usize },
    /// The pre-packed weights were packed from another model's bytes.
    PackedForAnotherModel,
    /// A tensor view failed (cannot happen for a model that passed `from_bytes`).
    Model(ModelFileError),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PackedBufferTooSmall { needed, found } => {
                write!(f, "buffer for the packed weights is {found} bytes, {needed} are needed")
            }
            Self::PackedForAnotherModel => {
                write!(f, "the pre-packed weights were packed from another model than the one run")
            }
            Self::EmptySequence => write!(f, "the sequence has no tokens"),
            Self::SequenceTooLong { len, max_positions } => {
                write!(f, "sequence of {len} tokens is longer than the model's {max_positions} positions")
            }
            Self::IdOutOfVocab { position, id, vocab_size } => {
                write!(f, "token id {id} at position {position} is outside the vocab of {vocab_size}")
            }
            Self::TokenTypeOutOfRange { position, token_type, type_vocab_size } => write!(
                f,
                "token type id {token_type} at position {position} is not below type_vocab_size {type_vocab_size}"
            ),
            Self::TokenTypesLength { ids, token_types } => {
                write!(f, "token_type_ids has {token_types} values, input_ids has {ids}")
            }
            Self::BadMaskValue { position, value } => {
                write!(f, "attention_mask value {value} at position {position} is neither 0 nor 1")
            }
            Self::AttentionMaskLength { ids, attention_mask } => {
                write!(f, "attention_mask has {attention_mask} values, input_ids has {ids}")
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
