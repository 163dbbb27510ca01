//! BERT-uncased WordPiece, exactly as HF tokenizers runs it (`BertNormalizer` with lowercasing and accent
//! stripping, `BertPreTokenizer`, `WordPiece` with `[UNK]` and 100 characters a word), with no heap.
//!
//! The vocabulary is the `vocab.txt` bytes, borrowed; a `u32` index built once with [`build_index`] (on the host,
//! or into a static buffer) makes lookups O(1). Token ids go into buffers the caller passes; a full buffer is an
//! error, never a silent truncation. Text that looks like a special token (`[MASK]`) is ordinary text: only
//! [`Tokenizer::encode_pair`] adds `[CLS]`/`[SEP]`.
//!
//! ```
//! use electra_core::tokenizer::{build_index, index_len, Tokenizer};
//! let vocab = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n,\nworld\nwor\n##ld\n";
//! let mut index = vec![0u32; index_len(vocab)];
//! build_index(vocab, &mut index).unwrap();
//! let tok = Tokenizer::new(vocab, &index).unwrap();
//! let mut ids = [0u32; 8];
//! let n = tok.encode("Hello, WÖRLD!", &mut ids).unwrap();
//! assert_eq!(&ids[..n], &[5, 6, 7, 1]); // "!" is not in this vocabulary
//! ```

mod basic;
mod error;
mod tables;
pub mod unicode;
mod vocab;
mod wordpiece;

pub use basic::MAX_WORD_CHARS;
pub use error::{TokenizeError, VocabError};
pub(crate) use vocab::count_lines;
pub use vocab::{build_index, index_len};

use basic::{for_each_word, Word};
use vocab::{Opened, VocabView};

/// Special tokens added by [`Tokenizer::encode_pair`] around one sequence: `[CLS] A [SEP]`.
pub const SINGLE_SPECIAL_TOKENS: usize = 2;
/// Special tokens added around a pair: `[CLS] A [SEP] B [SEP]`.
pub const PAIR_SPECIAL_TOKENS: usize = 3;

/// Ids of the BERT special tokens in this vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialIds {
    /// `[CLS]`, first token of every encoded input.
    pub cls: u32,
    /// `[SEP]`, after each sequence.
    pub sep: u32,
    /// `[PAD]`, filler after the end.
    pub pad: u32,
    /// `[UNK]`, for words that cannot be spelled with the vocabulary.
    pub unk: u32,
    /// `[MASK]`, the masked-LM placeholder.
    pub mask: u32,
}

/// A WordPiece tokenizer over a borrowed `vocab.txt` and its index. Cheap to create and to copy.
#[derive(Clone, Copy)]
pub struct Tokenizer<'a> {
    view: VocabView<'a>,
    tokens: usize,
    max_token_bytes: usize,
    max_continuation_bytes: usize,
    special: SpecialIds,
}

impl<'a> Tokenizer<'a> {
    /// Opens `vocab_txt` with an index [`build_index`] made from it. O(1) apart from looking up the five special
    /// tokens: the header's sizes are checked, not the vocabulary's checksum (see [`Self::verify`]).
    pub fn new(vocab_txt: &'a [u8], index: &'a [u32]) -> Result<Self, VocabError> {
        let Opened { view, tokens, max_token_bytes, max_continuation_bytes } = vocab::open(vocab_txt, index)?;
        let id = |token: &'static str| view.token_to_id(token).ok_or(VocabError::MissingSpecialToken { token });
        let special = SpecialIds {
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            pad: id("[PAD]")?,
            unk: id("[UNK]")?,
            mask: id("[MASK]")?,
        };
        Ok(Self { view, tokens, max_token_bytes, max_continuation_bytes, special })
    }

    /// Reads the whole vocabulary and checks it against the checksum stored in the index, and every word of the
    /// index this tokenizer was opened with (line starts in order, slot ids in range): use it when the index was
    /// stored apart from the vocabulary (e.g. both in flash) and may be stale or damaged. O(vocabulary + index).
    pub fn verify(&self, index: &[u32]) -> Result<(), VocabError> {
        if vocab::verify(&self.view, index) {
            Ok(())
        } else {
            Err(VocabError::IndexMismatch)
        }
    }

    /// Number of tokens (lines) in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.tokens
    }

    /// The special token ids.
    pub fn special(&self) -> SpecialIds {
        self.special
    }

    /// The id of `token` (`##` continuations spelled out), if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.view.token_to_id(token)
    }

    /// The text of token `id`, if there is such an id.
    pub fn id_to_token(&self, id: u32) -> Option<&'a str> {
        self.view.line_token(id)
    }

    /// Calls `emit` with the token ids of each word of `text` in order (no special tokens); stops at `emit`'s
    /// first error.
    pub fn try_for_each_word<E>(&self, text: &str, mut emit: impl FnMut(&[u32]) -> Result<(), E>) -> Result<(), E> {
        let mut error = None;
        self.walk_words(text, &mut |ids| {
            emit(ids).map_err(|e| {
                error = Some(e);
            })
        });
        match error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The whole pipeline, instantiated once: callers adapt their sinks to this `dyn` callback (one indirect call
    /// a word) rather than getting a copy of the pipeline each, which kept flash small (see docs/BENCHMARKS.md).
    fn walk_words(&self, text: &str, emit: &mut dyn FnMut(&[u32]) -> Result<(), ()>) {
        let mut scratch = wordpiece::Scratch::new();
        let unk = [self.special.unk];
        let _ = for_each_word(text, |word| match word {
            Word::TooLong => emit(&unk),
            Word::Text(bytes) => {
                match wordpiece::word_pieces(
                    &self.view,
                    self.max_token_bytes,
                    self.max_continuation_bytes,
                    bytes,
                    &mut scratch,
                ) {
                    Some(n) => emit(&scratch.pieces[..n]),
                    None => emit(&unk),
                }
            }
        });
    }

    /// Calls `emit` with each token id of `text` in order (no special tokens); stops at `emit`'s first error.
    pub fn try_for_each_id<E>(&self, text: &str, mut emit: impl FnMut(u32) -> Result<(), E>) -> Result<(), E> {
        self.try_for_each_word(text, |ids| ids.iter().try_for_each(|&id| emit(id)))
    }

    /// Calls `emit` with each token id of `text` in order (no special tokens).
    pub fn for_each_id(&self, text: &str, mut emit: impl FnMut(u32)) {
        let _ = self.try_for_each_id(text, |id| {
            emit(id);
            Ok::<(), core::convert::Infallible>(())
        });
    }

    /// Encodes `text` into `ids` (no special tokens) and returns the number of ids written.
    /// [`TokenizeError::BufferFull`] if `ids` is too short.
    pub fn encode(&self, text: &str, ids: &mut [u32]) -> Result<usize, TokenizeError> {
        let mut n = 0;
        let capacity = ids.len();
        self.try_for_each_id(text, |id| {
            let slot = ids.get_mut(n).ok_or(TokenizeError::BufferFull { capacity })?;
            *slot = id;
            n += 1;
            Ok(())
        })?;
        Ok(n)
    }

    /// Writes the first `ids.len()` token ids of `text` (fewer if the text is shorter), stops tokenizing there,
    /// and returns how many were written.
    pub fn encode_prefix(&self, text: &str, ids: &mut [u32]) -> usize {
        let mut n = 0;
        let _ = self.try_for_each_id(text, |id| match ids.get_mut(n) {
            Some(slot) => {
                *slot = id;
                n += 1;
                Ok(())
            }
            None => Err(()),
        });
        n
    }

    /// Number of token ids of `text` (no special tokens).
    pub fn count(&self, text: &str) -> usize {
        let mut n = 0;
        self.for_each_id(text, |_| n += 1);
        n
    }

    /// Encodes `[CLS] a [SEP]`, or `[CLS] a [SEP] b [SEP]` with a second sequence, cut to at most `max_len` ids the
    /// way HF tokenizers 0.23 truncates (`longest_first`, see [`truncate_longest_first`]; the lengths it compares are
    /// those of its early exit, see `count_for_truncation`). Token type ids are 0 up to and
    /// including the first `[SEP]`, 1 after. Returns the length written to both buffers.
    pub fn encode_pair(
        &self,
        a: &str,
        b: Option<&str>,
        max_len: usize,
        ids: &mut [u32],
        type_ids: &mut [u8],
    ) -> Result<usize, TokenizeError> {
        let special_tokens = if b.is_some() { PAIR_SPECIAL_TOKENS } else { SINGLE_SPECIAL_TOKENS };
        let budget =
            max_len.checked_sub(special_tokens).ok_or(TokenizeError::MaxLenTooSmall { max_len, special_tokens })?;
        let (keep_a, keep_b) = match b {
            None => (self.count_up_to(a, budget), 0),
            Some(b) => truncate_longest_first(
                self.count_for_truncation(a, max_len),
                self.count_for_truncation(b, max_len),
                budget,
            ),
        };
        let total = keep_a + keep_b + special_tokens;
        let capacity = ids.len().min(type_ids.len());
        if total > capacity {
            return Err(TokenizeError::BufferFull { capacity });
        }
        let SpecialIds { cls, sep, .. } = self.special;
        ids[0] = cls;
        let written_a = self.encode_prefix(a, &mut ids[1..1 + keep_a]);
        ids[1 + keep_a] = sep;
        type_ids[..keep_a + 2].fill(0);
        let mut end = keep_a + 2;
        if let Some(b) = b {
            let written_b = self.encode_prefix(b, &mut ids[end..end + keep_b]);
            debug_assert_eq!((written_a, written_b), (keep_a, keep_b));
            ids[end + keep_b] = sep;
            type_ids[end..end + keep_b + 1].fill(1);
            end += keep_b + 1;
        }
        Ok(end)
    }

    /// The length HF tokenizers 0.23 gives `text` before truncating a pair to `max_len`: with truncation on, it
    /// tokenizes each sequence only up to the end of the word that brings it to `max_len` tokens (its early exit,
    /// `PreTokenizedString::tokenize_with_limit`), so [`truncate_longest_first`] sees that count, not the full
    /// one. It decides which sequence gets the odd token when both are long, so it is reproduced exactly.
    fn count_for_truncation(&self, text: &str, max_len: usize) -> usize {
        let mut n = 0;
        let _ = self.try_for_each_word(text, |ids| {
            n += ids.len();
            if n >= max_len {
                Err(())
            } else {
                Ok(())
            }
        });
        n
    }

    /// `min(count(text), limit)`, without tokenizing past `limit`.
    fn count_up_to(&self, text: &str, limit: usize) -> usize {
        let mut n = 0;
        let _ = self.try_for_each_id(text, |_| {
            if n == limit {
                return Err(());
            }
            n += 1;
            Ok(())
        });
        n
    }
}

/// HF's `longest_first` truncation of a pair of `len_a` and `len_b` tokens to at most `max_tokens` in all
/// (special tokens not counted): the shorter keeps everything it can, and if both are long they split the budget,
/// the first getting `max_tokens / 2` and the second the rest. Returns the lengths to keep.
pub fn truncate_longest_first(len_a: usize, len_b: usize, max_tokens: usize) -> (usize, usize) {
    if len_a + len_b <= max_tokens {
        return (len_a, len_b);
    }
    // Transcribed from tokenizers 0.23 `truncate_encodings`, `TruncationStrategy::LongestFirst`.
    let swap = len_a > len_b;
    let mut n1 = if swap { len_b } else { len_a };
    let mut n2 = if n1 > max_tokens { n1 } else { core::cmp::max(n1, max_tokens - n1) };
    if n1 + n2 > max_tokens {
        n1 = max_tokens / 2;
        n2 = n1 + max_tokens % 2;
    }
    let (n1, n2) = if swap { (n2, n1) } else { (n1, n2) };
    // HF's `Encoding::truncate` to a length above the current one keeps everything.
    (n1.min(len_a), n2.min(len_b))
}

#[cfg(test)]
mod tests;
