//! Parquet shards: the format ([`format`](mod@format)), the writer, the manifest and the sharding run.

mod error;
pub mod format;
pub mod manifest;
mod run;
mod writer;

pub use error::ShardError;
pub use manifest::{Manifest, ShardEntry, ShardStats, Totals};
pub use run::{run, ShardOptions, ShardSummary, DEFAULT_SHARD_INPUT_BYTES};
pub use writer::sha256_file;
