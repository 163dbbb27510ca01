//! electra-pipeline: corpus → packed, sharded Parquet → batches for training.
//!
//! - [`tokenizer`]: [`tokenizer::HostTokenizer`], the core's WordPiece tokenizer with its vocab owned on the host.
//! - [`corpus`]: `.txt` / `.jsonl` / `.parquet` inputs (optionally `.gz` / `.zst`), streamed as documents.
//! - [`chunk`]: documents grouped into chunks, the unit of parallel work.
//! - [`packing`]: ELECTRA's example recipe (`build_pretraining_dataset.py`), written down in full there.
//! - [`shard`]: Parquet shards, `manifest.json`, and the resumable, parallel `electra shard` run.
//! - [`reader`]: [`reader::ShardReader`] → padded [`reader::Batch`]es per epoch and rank.
//! - [`encode`]: the [`encode::Encoder`] trait the pipeline tokenizes through.
// Library code returns errors, never panics on user data; its unit tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod atomic_file;
pub mod chunk;
pub mod corpus;
pub mod encode;
pub mod lock;
pub mod packing;
pub mod parquet_guard;
pub mod reader;
pub mod rng;
pub mod shard;
pub mod tokenizer;
