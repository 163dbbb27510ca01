//! The on-disk format of a shard directory (format version [`FORMAT_VERSION`]).
//!
//! ```text
//! DIR/shard-00000-of-00004.parquet   one Parquet file per shard (zstd), rows in corpus order
//! DIR/manifest.json                  every shard with rows, tokens, sha256; totals (see `Manifest`)
//! DIR/.progress/shard-00000-of-00004.json   per-shard record, written once the shard is complete
//! ```
//!
//! Parquet schema: `input_ids: list<uint32 not null> not null` (`[CLS] A [SEP] (B [SEP])`, not padded)
//! and `segment_b_start: uint32 not null` (index of B's first token; the row's length when there is no
//! B: token type ids are 0 before it and 1 from it on). One row group per chunk of input (about
//! [`CHUNK_TARGET_BYTES`](crate::chunk::CHUNK_TARGET_BYTES) of text, ~1,000 rows at T = 128).
//! Footer key-value metadata: see the `META_*` keys.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

/// Bumped whenever the layout of shards or manifest changes.
pub const FORMAT_VERSION: u32 = 1;

/// zstd level for the shards: level 3 (zstd's default) compresses ids ~3x at several hundred MB/s.
pub const ZSTD_LEVEL: i32 = 3;

pub const COLUMN_IDS: &str = "input_ids";
pub const COLUMN_SEGMENT_B: &str = "segment_b_start";

pub const META_FORMAT_VERSION: &str = "electra.format_version";
pub const META_VOCAB_SHA256: &str = "electra.vocab_sha256";
pub const META_SEQ_LEN: &str = "electra.seq_len";
/// JSON: the tokenizer's settings (`Encoder::settings`).
pub const META_TOKENIZER: &str = "electra.tokenizer";
/// JSON: seed and packing parameters.
pub const META_RECIPE: &str = "electra.recipe";
/// `"<index>/<count>"`.
pub const META_SHARD: &str = "electra.shard";
/// sha256 of the run's settings and input list: shards of one run share it.
pub const META_RUN: &str = "electra.run_fingerprint";
/// JSON: this shard's counts (`ShardStats`).
pub const META_STATS: &str = "electra.stats";

pub const MANIFEST_FILE: &str = "manifest.json";
pub const PROGRESS_DIR: &str = ".progress";

pub fn shard_file_name(index: usize, count: usize) -> String {
    format!("shard-{index:05}-of-{count:05}.parquet")
}

pub fn record_file_name(index: usize, count: usize) -> String {
    format!("shard-{index:05}-of-{count:05}.json")
}

/// Prefix of the temporary files a shard is written to before its final rename.
pub fn temp_prefix(index: usize, count: usize) -> String {
    format!(".{}.tmp", shard_file_name(index, count))
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(COLUMN_IDS, DataType::List(Arc::new(Field::new("item", DataType::UInt32, false))), false),
        Field::new(COLUMN_SEGMENT_B, DataType::UInt32, false),
    ]))
}
