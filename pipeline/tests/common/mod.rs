//! Shared by the integration tests: HF `tokenizers` (the reference BERT-uncased WordPiece) as the
//! pipeline's encoder, the bundled vocab and corpus, and a reference reading of `.txt` documents.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use electra_pipeline::tokenizer::HostTokenizer;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::Tokenizer;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn vocab_path() -> PathBuf {
    repo().join("data/vocab.txt")
}

pub fn corpus_dir() -> PathBuf {
    repo().join("data/corpus/us-speeches")
}

/// The project's tokenizer, which the pipeline runs with.
pub fn project_tokenizer() -> HostTokenizer {
    HostTokenizer::from_file(vocab_path()).unwrap()
}

/// HF tokenizers configured as `BertTokenizerFast.from_pretrained("bert-base-uncased")`: the outside
/// reference the shards' ids are checked against.
pub struct HfReference {
    tok: Tokenizer,
}

impl HfReference {
    pub fn new() -> Self {
        let path = vocab_path();
        let wp = WordPiece::from_file(path.to_str().unwrap()).unk_token("[UNK]".into()).build().unwrap();
        let mut tok = Tokenizer::new(wp);
        tok.with_normalizer(Some(BertNormalizer::new(true, true, None, true))).unwrap();
        tok.with_pre_tokenizer(Some(BertPreTokenizer));
        HfReference { tok }
    }

    /// Ids of `text`, no special tokens.
    pub fn ids(&self, text: &str) -> Vec<u32> {
        self.tok.encode(text, false).unwrap().get_ids().to_vec()
    }

    pub fn id(&self, token: &str) -> u32 {
        self.tok.token_to_id(token).unwrap()
    }
}

/// Reference reading of `.txt` files: a blank (whitespace-only) line separates documents; a file
/// ends one. Returns each document's lines (trimmed, invalid UTF-8 decoded lossily) and the number of
/// lines that were not UTF-8.
pub fn txt_documents(files: &[PathBuf]) -> (Vec<Vec<String>>, u64) {
    let mut docs = Vec::new();
    let mut bad = 0;
    for f in files {
        let bytes = std::fs::read(f).unwrap();
        let mut doc: Vec<String> = Vec::new();
        for raw in bytes.split(|&b| b == b'\n') {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if std::str::from_utf8(raw).is_err() {
                bad += 1;
            }
            let line = String::from_utf8_lossy(raw);
            let line = line.trim();
            if line.is_empty() {
                if !doc.is_empty() {
                    docs.push(std::mem::take(&mut doc));
                }
            } else {
                doc.push(line.to_string());
            }
        }
        if !doc.is_empty() {
            docs.push(doc);
        }
    }
    (docs, bad)
}

/// Every `.txt` file under `dir`, sorted by path (the pipeline's order).
pub fn txt_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "txt") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// All files of a directory (name → bytes), hidden ones included.
pub fn dir_bytes(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            out.insert(p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap());
        }
    }
    out
}
