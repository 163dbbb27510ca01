//! One sequence's inputs and the one check of them that every forward pass (float and int8) makes before
//! any arithmetic or any arena is sized, so both paths refuse the same inputs with the same error.

use crate::config::ElectraConfig;
use core::fmt;

/// One sequence's inputs, HF names: `input_ids [T]`, optional `token_type_ids [T]` (all 0 when absent)
/// and optional `attention_mask [T]` (1 = real token, 0 = padding; all 1 when absent).
#[derive(Clone, Copy, Debug)]
pub struct SequenceInput<'s> {
    pub input_ids: &'s [u32],
    pub token_type_ids: Option<&'s [u32]>,
    pub attention_mask: Option<&'s [u8]>,
}

/// Why a sequence cannot be run by a model with a given config.
///
/// `#[non_exhaustive]`: a later version may add variants; match with a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputError {
    /// The sequence has no tokens.
    EmptySequence,
    /// The sequence has more tokens than the model has positions (`max_position_embeddings`).
    SequenceTooLong { len: usize, max_positions: usize },
    /// A token id is not a row of the word embeddings.
    IdOutOfVocab { position: usize, id: u32, vocab_size: usize },
    /// A token type id is not a row of the token type embeddings.
    TokenTypeOutOfRange { position: usize, token_type: u32, type_vocab_size: usize },
    /// `token_type_ids` or `attention_mask` (`what`) has another length than `input_ids`.
    LengthMismatch { what: &'static str, expected: usize, found: usize },
    /// An attention mask value is neither 0 nor 1.
    BadMaskValue { position: usize, value: u8 },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
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
            Self::LengthMismatch { what, expected, found } => {
                write!(f, "{what} has {found} values, input_ids has {expected}")
            }
            Self::BadMaskValue { position, value } => {
                write!(f, "attention_mask value {value} at position {position} is neither 0 nor 1")
            }
        }
    }
}

impl core::error::Error for InputError {}

impl<'s> SequenceInput<'s> {
    /// Just token ids: one segment, no padding.
    pub fn ids(input_ids: &'s [u32]) -> Self {
        Self { input_ids, token_type_ids: None, attention_mask: None }
    }

    /// This input with `token_type_ids` (segment A = 0, B = 1), one per id.
    pub fn with_token_types(self, token_type_ids: &'s [u32]) -> Self {
        Self { token_type_ids: Some(token_type_ids), ..self }
    }

    /// This input with an HF `attention_mask` (1 = real token, 0 = padding), one per id.
    pub fn with_attention_mask(self, attention_mask: &'s [u8]) -> Self {
        Self { attention_mask: Some(attention_mask), ..self }
    }

    /// Checks every value against the config, naming the first bad position. The length is checked first, so
    /// nothing sized by it (an arena, a scratch buffer) is ever computed from an over-long input.
    pub fn validate(&self, config: &ElectraConfig) -> Result<(), InputError> {
        let len = self.input_ids.len();
        if len == 0 {
            return Err(InputError::EmptySequence);
        }
        if len > config.max_position_embeddings {
            return Err(InputError::SequenceTooLong { len, max_positions: config.max_position_embeddings });
        }
        if let Some(position) = self.input_ids.iter().position(|&id| id as usize >= config.vocab_size) {
            let id = self.input_ids[position];
            return Err(InputError::IdOutOfVocab { position, id, vocab_size: config.vocab_size });
        }
        if let Some(types) = self.token_type_ids {
            if types.len() != len {
                return Err(InputError::LengthMismatch { what: "token_type_ids", expected: len, found: types.len() });
            }
            if let Some(position) = types.iter().position(|&tt| tt as usize >= config.type_vocab_size) {
                let (token_type, type_vocab_size) = (types[position], config.type_vocab_size);
                return Err(InputError::TokenTypeOutOfRange { position, token_type, type_vocab_size });
            }
        }
        if let Some(mask) = self.attention_mask {
            if mask.len() != len {
                return Err(InputError::LengthMismatch { what: "attention_mask", expected: len, found: mask.len() });
            }
            if let Some(position) = mask.iter().position(|&m| m > 1) {
                return Err(InputError::BadMaskValue { position, value: mask[position] });
            }
        }
        Ok(())
    }
}
