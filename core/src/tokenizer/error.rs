//! The tokenizer's two error types: building/opening a vocabulary, and encoding text.

use core::fmt;

/// Why a `vocab.txt` or its index was refused.
///
/// `#[non_exhaustive]`: a later version may add variants; match with a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VocabError {
    /// The vocabulary has no tokens at all.
    Empty,
    /// The vocabulary is too large for the index format (over 4 GiB or over 8,388,606 tokens).
    TooLarge {
        /// Bytes in the vocabulary.
        bytes: usize,
        /// Tokens (lines) in the vocabulary.
        tokens: usize,
    },
    /// A line of the vocabulary is not valid UTF-8 (HF refuses such a file too).
    InvalidUtf8 {
        /// 1-based line number.
        line: usize,
    },
    /// The index slice does not have the length the vocabulary needs (see `index_len`).
    IndexSize {
        /// Words the vocabulary needs.
        expected: usize,
        /// Words given.
        actual: usize,
    },
    /// The index does not start with this library's magic number and format version.
    IndexFormat,
    /// The index was built from a different vocabulary (its size, token count or checksum differ), or a word of
    /// it is out of range (`Tokenizer::verify`).
    IndexMismatch,
    /// The perfect-hash search found no pilot for some bucket within its bound, with every seed: the vocabulary
    /// has tokens the 32-bit hash cannot place (never seen on real vocabularies; the bound keeps the build finite).
    NoPerfectHash {
        /// Tokens (lines) in the vocabulary.
        tokens: usize,
    },
    /// A special token the BERT pipeline needs is not in the vocabulary.
    MissingSpecialToken {
        /// The token, e.g. `[UNK]`.
        token: &'static str,
    },
}

impl fmt::Display for VocabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "the vocabulary has no tokens"),
            Self::TooLarge { bytes, tokens } => write!(
                f,
                "the vocabulary is too large for the index ({bytes} bytes, {tokens} tokens; the limits are \
                 4 GiB and 8388606 tokens)"
            ),
            Self::InvalidUtf8 { line } => write!(f, "line {line} of the vocabulary is not valid UTF-8"),
            Self::IndexSize { expected, actual } => {
                write!(f, "the vocabulary index has {actual} words but this vocabulary needs {expected}")
            }
            Self::IndexFormat => write!(f, "the vocabulary index has an unknown magic number or format version"),
            Self::IndexMismatch => write!(f, "the vocabulary index was built from a different vocabulary"),
            Self::NoPerfectHash { tokens } => write!(
                f,
                "no perfect hash was found for the {tokens}-token vocabulary within the search bound (every seed \
                 and 16-bit pilot tried)"
            ),
            Self::MissingSpecialToken { token } => write!(f, "the vocabulary has no {token} token"),
        }
    }
}

impl core::error::Error for VocabError {}

/// Why text could not be encoded into the caller's buffers.
///
/// `#[non_exhaustive]`: a later version may add variants; match with a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenizeError {
    /// The output buffer filled up before the text was done; nothing is truncated silently.
    BufferFull {
        /// Length of the buffer that was too small.
        capacity: usize,
    },
    /// `max_len` cannot even hold the special tokens (`[CLS]`, `[SEP]`) of the requested encoding.
    MaxLenTooSmall {
        /// The requested maximum length.
        max_len: usize,
        /// Special tokens the encoding adds (2 for one sequence, 3 for a pair).
        special_tokens: usize,
    },
}

impl fmt::Display for TokenizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferFull { capacity } => write!(f, "the token buffer ({capacity} ids) is too small for the text"),
            Self::MaxLenTooSmall { max_len, special_tokens } => {
                write!(f, "max length {max_len} cannot hold the {special_tokens} special tokens of this encoding")
            }
        }
    }
}

impl core::error::Error for TokenizeError {}
