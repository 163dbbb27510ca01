//! Why a float forward pass refused to run. Every check happens before any arithmetic, so an error
//! leaves the caller's logits buffer untouched.

use crate::config::ConfigError;
use core::fmt;

/// Why [`crate::float`] could not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatError {
    /// The config itself is invalid.
    Config(ConfigError),
    /// A classification head was asked for with zero labels.
    NoLabels,
    /// The parameter blob does not have the length the config and head imply.
    ParamsLength { expected: usize, found: usize },
    /// The config's sizes overflow `usize` when multiplied out (a corrupt or absurd config).
    TooLarge,
    /// The caller's scratch buffer is smaller than [`crate::float::scratch_len`] asks for.
    ScratchTooSmall { needed: usize, given: usize },
    /// The caller's logits buffer does not have the length [`crate::float::logits_len`] gives.
    LogitsLength { expected: usize, found: usize },
    /// The sequence has no tokens.
    EmptySequence,
    /// The sequence has more tokens than the model has positions (`max_position_embeddings`).
    SequenceTooLong { len: usize, max_positions: usize },
    /// A token id is not a row of the word embeddings.
    IdOutOfVocab { position: usize, id: u32, vocab_size: usize },
    /// A token type id is not a row of the token type embeddings.
    TokenTypeOutOfRange { position: usize, token_type: u32, type_vocab_size: usize },
    /// `token_type_ids` or `attention_mask` has another length than `input_ids`.
    InputLengthMismatch { what: &'static str, expected: usize, found: usize },
    /// An attention mask value is neither 0 nor 1.
    BadMaskValue { position: usize, value: u8 },
}

impl fmt::Display for FloatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "invalid config: {e}"),
            Self::NoLabels => write!(f, "a classification head needs at least one label"),
            Self::ParamsLength { expected, found } => {
                write!(f, "parameter blob has {found} floats, the config and head need {expected}")
            }
            Self::TooLarge => write!(f, "the config's tensor sizes overflow this machine's address space"),
            Self::ScratchTooSmall { needed, given } => {
                write!(f, "scratch buffer has {given} floats, this sequence needs {needed}")
            }
            Self::LogitsLength { expected, found } => {
                write!(f, "logits buffer has {found} floats, this sequence and head produce {expected}")
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
            Self::InputLengthMismatch { what, expected, found } => {
                write!(f, "{what} has {found} values, input_ids has {expected}")
            }
            Self::BadMaskValue { position, value } => {
                write!(f, "attention_mask value {value} at position {position} is neither 0 nor 1")
            }
        }
    }
}

impl From<ConfigError> for FloatError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FloatError {}
