//! The host owner of a vocabulary: reads `vocab.txt`, builds the core tokenizer's index once, and hands out
//! [`Tokenizer`]s borrowing both. Cheap to share across threads (`&HostTokenizer` is all a worker needs).

use std::fmt;
use std::path::{Path, PathBuf};

use electra_core::tokenizer::{build_index, index_len, TokenizeError, Tokenizer, VocabError};
use sha2::{Digest, Sha256};

/// Why a vocabulary file could not be loaded.
#[derive(Debug)]
pub enum HostTokenizerError {
    /// The file could not be read.
    Io {
        /// The vocabulary file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file was read but is not a usable BERT vocabulary.
    Vocab {
        /// The vocabulary file, if it came from one.
        path: Option<PathBuf>,
        /// What is wrong with it.
        source: VocabError,
    },
}

impl fmt::Display for HostTokenizerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "cannot read vocabulary {}: {source}", path.display()),
            Self::Vocab { path: Some(path), source } => write!(f, "vocabulary {}: {source}", path.display()),
            Self::Vocab { path: None, source } => write!(f, "vocabulary: {source}"),
        }
    }
}

impl std::error::Error for HostTokenizerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Vocab { source, .. } => Some(source),
        }
    }
}

/// `vocab.txt` bytes and the index built from them. The fields are private so that the pair stays consistent
/// (which is what makes [`HostTokenizer::tokenizer`] infallible); read them with [`Self::vocab`] and [`Self::index`].
pub struct HostTokenizer {
    vocab: Vec<u8>,
    index: Vec<u32>,
}

impl HostTokenizer {
    /// Reads and indexes a `vocab.txt` file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, HostTokenizerError> {
        let path = path.as_ref();
        let vocab = std::fs::read(path).map_err(|source| HostTokenizerError::Io { path: path.to_owned(), source })?;
        Self::build(vocab).map_err(|source| HostTokenizerError::Vocab { path: Some(path.to_owned()), source })
    }

    /// Indexes `vocab.txt` bytes already in memory.
    pub fn from_bytes(vocab: Vec<u8>) -> Result<Self, HostTokenizerError> {
        Self::build(vocab).map_err(|source| HostTokenizerError::Vocab { path: None, source })
    }

    fn build(vocab: Vec<u8>) -> Result<Self, VocabError> {
        let mut index = vec![0u32; index_len(&vocab)];
        build_index(&vocab, &mut index)?;
        let host = Self { vocab, index };
        // Checks the special tokens once, so that `tokenizer()` cannot fail afterwards.
        Tokenizer::new(&host.vocab, &host.index)?;
        Ok(host)
    }

    /// The `vocab.txt` bytes, as read.
    pub fn vocab(&self) -> &[u8] {
        &self.vocab
    }

    /// The core tokenizer's index of [`Self::vocab`] (see [`electra_core::tokenizer::build_index`]); store it beside
    /// the vocabulary to skip building it on a device.
    pub fn index(&self) -> &[u32] {
        &self.index
    }

    /// A tokenizer borrowing this vocabulary (O(1)).
    pub fn tokenizer(&self) -> Tokenizer<'_> {
        match Tokenizer::new(&self.vocab, &self.index) {
            Ok(tok) => tok,
            // Not reachable from any input: `build` opened this exact, private, immutable pair successfully.
            Err(e) => unreachable!("HostTokenizer invariant broken: its own index no longer opens ({e})"),
        }
    }

    /// The ids of `text` (no special tokens).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        let mut ids = Vec::with_capacity(text.len() / 4 + 4);
        self.tokenizer().for_each_id(text, |id| ids.push(id));
        Ok(ids)
    }

    /// Lowercase hex SHA-256 of the vocabulary bytes (recorded in shard manifests and model files).
    pub fn sha256_hex(&self) -> String {
        Sha256::digest(&self.vocab).iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOCAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/vocab.txt");

    #[test]
    fn loads_the_bundled_vocab() {
        let host = HostTokenizer::from_file(VOCAB).unwrap();
        // `sha256sum data/vocab.txt`
        assert_eq!(host.sha256_hex(), "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3");
        let tok = host.tokenizer();
        assert_eq!(tok.vocab_size(), 30522);
        assert_eq!((tok.special().pad, tok.special().unk, tok.special().cls), (0, 100, 101));
        // From fixtures/wordpiece/cases.jsonl.zst line 1 (HF tokenizers).
        assert_eq!(
            host.encode("Fellow-Citizens of the Senate and of the House of Representatives:").unwrap(),
            [3507, 1011, 4480, 1997, 1996, 4001, 1998, 1997, 1996, 2160, 1997, 4505, 1024]
        );
    }

    #[test]
    fn errors_name_the_file() {
        let missing = HostTokenizer::from_file("/nonexistent/vocab.txt").err().unwrap();
        assert!(missing.to_string().contains("/nonexistent/vocab.txt"), "{missing}");
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, b"[PAD]\n\xff\n").unwrap();
        let err = HostTokenizer::from_file(&bad).err().unwrap();
        assert!(err.to_string().contains("bad.txt") && err.to_string().contains("line 2"), "{err}");
        let err = HostTokenizer::from_bytes(b"[PAD]\n[UNK]\n".to_vec()).err().unwrap();
        assert!(err.to_string().contains("[CLS]"), "{err}");
    }
}
