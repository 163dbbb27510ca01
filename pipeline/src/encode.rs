//! The seam between the pipeline and a WordPiece tokenizer.
//!
//! The pipeline only needs "text in, ids out" plus the facts it records in shard metadata, so it is
//! written against this trait. The project's tokenizer ([`crate::tokenizer::HostTokenizer`]) implements
//! it; the tests also run the pipeline with HF `tokenizers` as an outside reference.

use std::fmt;

/// Ids of the special tokens an example is framed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialTokens {
    pub cls: u32,
    pub sep: u32,
    pub pad: u32,
    pub unk: u32,
}

/// A tokenizer failed on some text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    pub message: String,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tokenizer failed: {}", self.message)
    }
}

impl std::error::Error for EncodeError {}

/// What the pipeline needs from a tokenizer. `Sync`: one instance is shared by every worker thread.
pub trait Encoder: Sync {
    /// Appends the ids of `text` to `out`, without special tokens (BERT's `add_special_tokens=False`).
    fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<(), EncodeError>;
    /// `[CLS]`, `[SEP]`, `[PAD]`, `[UNK]`.
    fn special_tokens(&self) -> SpecialTokens;
    /// Number of entries in the vocabulary; every id is below it.
    fn vocab_size(&self) -> usize;
    /// Lowercase hex sha256 of the vocab file's bytes: shards record it, the reader checks it.
    fn vocab_sha256(&self) -> String;
    /// The tokenizer's settings as a JSON object, stored verbatim in shard metadata and the manifest.
    fn settings(&self) -> serde_json::Value;
}

/// The project's tokenizer (BERT-uncased WordPiece in `electra_core::tokenizer`).
impl Encoder for crate::tokenizer::HostTokenizer {
    fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<(), EncodeError> {
        self.tokenizer()
            .try_for_each_word(text, |ids| {
                out.extend_from_slice(ids);
                Ok::<(), std::convert::Infallible>(())
            })
            .map_err(|never| match never {})
    }

    fn special_tokens(&self) -> SpecialTokens {
        let s = self.tokenizer().special();
        SpecialTokens { cls: s.cls, sep: s.sep, pad: s.pad, unk: s.unk }
    }

    fn vocab_size(&self) -> usize {
        self.tokenizer().vocab_size()
    }

    fn vocab_sha256(&self) -> String {
        self.sha256_hex()
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "implementation": "electra_core::tokenizer (BERT WordPiece, exact vs HF tokenizers)",
            "lowercase": true,
            "strip_accents": true,
            "clean_text": true,
            "handle_chinese_chars": true,
            "max_input_chars_per_word": electra_core::tokenizer::MAX_WORD_CHARS,
            "continuing_subword_prefix": "##",
            "unk_token": "[UNK]",
            "vocab_size": self.tokenizer().vocab_size(),
        })
    }
}
