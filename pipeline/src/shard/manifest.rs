//! `manifest.json` and the per-shard progress records it is assembled from.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ShardError;
use crate::chunk::ReadStats;
use crate::packing::PackStats;

/// Counts for one shard (also stored in the shard's footer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStats {
    /// Examples (rows).
    pub rows: u64,
    /// Ids in all rows, `[CLS]`/`[SEP]` included.
    pub tokens: u64,
    #[serde(flatten)]
    pub read: ReadStats,
    #[serde(flatten)]
    pub pack: PackStats,
}

impl ShardStats {
    pub fn add(&mut self, o: &ShardStats) {
        self.rows += o.rows;
        self.tokens += o.tokens;
        self.read.add(&o.read);
        self.pack.add(&o.pack);
    }
}

/// One shard of the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// File name inside the shard directory.
    pub file: String,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Lowercase hex sha256 of the file.
    pub sha256: String,
    #[serde(flatten)]
    pub stats: ShardStats,
}

/// What `.progress/shard-*.json` holds: the entry plus the run it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    pub run_fingerprint: String,
    #[serde(flatten)]
    pub entry: ShardEntry,
}

/// Totals over all shards.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub shards: u64,
    pub documents: u64,
    pub sentences: u64,
    /// Examples (rows) in all shards.
    pub examples: u64,
    /// Ids in all rows, `[CLS]`/`[SEP]` included.
    pub tokens: u64,
    /// Ids from the tokenizer, before framing and truncation.
    pub text_tokens: u64,
    pub unk_tokens: u64,
    /// `unk_tokens / text_tokens`.
    pub unk_rate: f64,
    /// Ids cut by the packing recipe's truncation step.
    pub dropped_tokens: u64,
    /// Lines that were not valid UTF-8 and were decoded lossily.
    pub bad_lines: u64,
    /// Records without usable text that were skipped.
    pub skipped_records: u64,
    /// Input bytes read (decompressed).
    pub input_bytes: u64,
}

impl Totals {
    pub fn from_shards(entries: &[ShardEntry]) -> Self {
        let mut s = ShardStats::default();
        for e in entries {
            s.add(&e.stats);
        }
        Totals {
            shards: entries.len() as u64,
            documents: s.read.documents,
            sentences: s.pack.sentences,
            examples: s.rows,
            tokens: s.tokens,
            text_tokens: s.pack.text_tokens,
            unk_tokens: s.pack.unk_tokens,
            unk_rate: if s.pack.text_tokens == 0 { 0.0 } else { s.pack.unk_tokens as f64 / s.pack.text_tokens as f64 },
            dropped_tokens: s.pack.dropped_tokens,
            bad_lines: s.read.bad_lines,
            skipped_records: s.read.skipped_records,
            input_bytes: s.read.input_bytes,
        }
    }
}

/// The input the shards were made from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSummary {
    pub files: u64,
    /// Sum of the files' sizes on the offset line (decompressed bytes).
    pub bytes: u64,
    pub text_field: String,
}

/// `manifest.json`: written once every shard of the run is complete. Contains no time stamps, so an
/// interrupted and resumed run ends with the same bytes as an uninterrupted one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub seq_len: usize,
    pub vocab_sha256: String,
    pub vocab_size: usize,
    pub tokenizer: serde_json::Value,
    pub recipe: serde_json::Value,
    pub run_fingerprint: String,
    pub input: InputSummary,
    pub shards: Vec<ShardEntry>,
    pub totals: Totals,
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Self, ShardError> {
        let bytes = std::fs::read(path).map_err(|e| ShardError::io(path, e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ShardError::Json { path: path.to_path_buf(), message: e.to_string() })
    }
}

pub fn to_pretty_json<T: Serialize>(value: &T, path: &Path) -> Result<Vec<u8>, ShardError> {
    let mut v = serde_json::to_vec_pretty(value)
        .map_err(|e| ShardError::Json { path: path.to_path_buf(), message: e.to_string() })?;
    v.push(b'\n');
    Ok(v)
}
