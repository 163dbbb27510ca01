//! `electra shard`: corpus → packed examples → Parquet shards + manifest, on all cores.
//!
//! Data flow (bounded memory: at most `IN_FLIGHT_PER_THREAD × threads + 2` chunks exist at once):
//!
//! ```text
//! reader thread ──chunks──▶ rayon pool (tokenize, pack, encode a row group) ──▶ this thread (reorder, append)
//! ```
//!
//! The reader walks this worker's shards in order, cutting each into chunks; the pool packs chunks in
//! any order; this thread puts them back in order and writes them, so the bytes of every shard are the
//! same whatever the thread count. A shard is written under a temporary name and renamed when complete;
//! then its record goes to `.progress/`. A re-run skips every shard whose record matches this run and
//! whose file still has the recorded sha256, so a killed run resumes where it stopped. The last worker
//! to complete its shards writes `manifest.json` from all records.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use parquet::file::metadata::KeyValue;
use rayon::iter::{ParallelBridge, ParallelIterator};
use sha2::{Digest, Sha256};

use super::format::{self, FORMAT_VERSION};
use super::manifest::{to_pretty_json, InputSummary, Manifest, ShardEntry, ShardRecord, ShardStats, Totals};
use super::writer::{hex, sha256_file, EncodedRowGroup, RowGroupEncoder, ShardWriter};
use super::ShardError;
use crate::atomic_file::write_bytes_atomically;
use crate::chunk::ReadStats;
use crate::chunk::{Chunk, ChunkBuilder, CHUNK_MAX_BYTES, CHUNK_TARGET_BYTES};
use crate::corpus::{Corpus, CorpusCursor, CorpusError, MAX_LINE_BYTES};
use crate::encode::Encoder;
use crate::packing::{self, pack_chunk, PackStats, MIN_SEQ_LEN};

mod pipeline;
mod resume;

use pipeline::*;
use resume::*;

/// Without `--shards`: one shard per this many input bytes (and at least one per worker).
pub const DEFAULT_SHARD_INPUT_BYTES: u64 = 64 << 20;
/// Chunks in flight per pool thread: enough to keep every thread busy while one slow chunk holds up
/// the in-order writer, few enough to bound memory (a chunk is ~1 MiB of text, ~1 MiB of ids and its
/// encoded row group: ~10 MB per thread in all).
const IN_FLIGHT_PER_THREAD: usize = 3;
/// Longest sequence the reader and the `u32` row layout are meant for.
const MAX_SEQ_LEN: usize = 1 << 16;

/// Options of one sharding run (one worker).
#[derive(Clone, Debug)]
pub struct ShardOptions {
    pub inputs: Vec<PathBuf>,
    pub output: PathBuf,
    pub seq_len: usize,
    /// Number of shards; `None`: one per [`DEFAULT_SHARD_INPUT_BYTES`] of input.
    pub num_shards: Option<usize>,
    pub seed: u64,
    /// This worker's index among `workers` (machines or MPI ranks sharding one corpus together).
    pub worker_index: usize,
    pub workers: usize,
    /// Threads for tokenizing and packing; 0: all cores.
    pub threads: usize,
    /// Text field of JSONL records / text column of Parquet inputs.
    pub text_field: String,
    pub progress: bool,
    /// Test hook: return (as if killed) once this many shards have been written by this run.
    pub stop_after_shards: Option<usize>,
}

impl ShardOptions {
    pub fn new(inputs: Vec<PathBuf>, output: PathBuf) -> Self {
        ShardOptions {
            inputs,
            output,
            seq_len: 128,
            num_shards: None,
            seed: 12345,
            worker_index: 0,
            workers: 1,
            threads: 0,
            text_field: "text".into(),
            progress: false,
            stop_after_shards: None,
        }
    }
}

/// What a run did.
#[derive(Debug)]
pub struct ShardSummary {
    pub num_shards: usize,
    /// The shards this worker is responsible for.
    pub worker_shards: Range<usize>,
    /// Shards written by this run.
    pub written: Vec<usize>,
    /// Shards found complete and verified, not rewritten.
    pub reused: Vec<usize>,
    /// Counts over the shards written by this run.
    pub stats: ShardStats,
    pub elapsed: Duration,
    pub threads: usize,
    /// Size of the whole corpus on the offset line.
    pub corpus_bytes: u64,
    pub corpus_files: usize,
    pub ignored_files: usize,
    pub ignored_example: Option<PathBuf>,
    /// Written when every shard of the run (all workers) is complete.
    pub manifest: Option<Manifest>,
    /// The `stop_after_shards` hook fired.
    pub stopped_early: bool,
}

/// Shards the corpus. See the module documentation.
pub fn run<E: Encoder>(opts: &ShardOptions, encoder: &E) -> Result<ShardSummary, ShardError> {
    let started = Instant::now();
    validate(opts)?;
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    } else {
        opts.threads
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("electra-shard-{i}"))
        .build()
        .map_err(|e| ShardError::Config { message: format!("cannot start {threads} threads: {e}") })?;
    let corpus = pool.install(|| Corpus::discover(&opts.inputs, &opts.text_field))?;
    let num_shards = opts
        .num_shards
        .unwrap_or_else(|| (corpus.total_size.div_ceil(DEFAULT_SHARD_INPUT_BYTES) as usize).max(1).max(opts.workers));
    let worker_shards =
        (opts.worker_index * num_shards / opts.workers)..((opts.worker_index + 1) * num_shards / opts.workers);

    // One run per output; each worker of a multi-worker run writes its own shards and takes its own lock.
    let lock_name = match opts.workers {
        1 => crate::lock::DIR_LOCK_FILE.to_string(),
        _ => format!("{}.worker-{}", crate::lock::DIR_LOCK_FILE, opts.worker_index),
    };
    let _lock = crate::lock::OutputLock::dir_named(&opts.output, &lock_name)?.report();
    let progress_dir = opts.output.join(format::PROGRESS_DIR);
    std::fs::create_dir_all(&progress_dir).map_err(|e| ShardError::io(&progress_dir, e))?;

    let run = RunDescription::new(opts, encoder, &corpus, num_shards);

    // Which of this worker's shards are already complete and intact?
    let verified: Vec<bool> = pool.install(|| {
        use rayon::prelude::*;
        worker_shards
            .clone()
            .into_par_iter()
            .map(|s| verify_shard(&opts.output, s, num_shards, &run.fingerprint))
            .collect()
    });
    let reused: Vec<usize> = worker_shards.clone().filter(|s| verified[s - worker_shards.start]).collect();
    let todo: Vec<usize> = worker_shards.clone().filter(|s| !verified[s - worker_shards.start]).collect();
    for &s in &todo {
        remove_stale_temps(&opts.output, s, num_shards)?;
    }

    let todo_bytes: u64 =
        todo.iter().map(|&s| corpus.slice_start(s + 1, num_shards) - corpus.slice_start(s, num_shards)).sum();
    let bar = if opts.progress {
        let bar = indicatif::ProgressBar::new(todo_bytes);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };

    let outcome = pipeline(opts, encoder, &pool, &corpus, num_shards, &todo, &run, &bar)?;
    bar.finish_and_clear();

    let manifest = if outcome.stopped_early { None } else { assemble_manifest(opts, &run, num_shards, &corpus)? };
    Ok(ShardSummary {
        num_shards,
        worker_shards,
        written: outcome.written,
        reused,
        stats: outcome.stats,
        elapsed: started.elapsed(),
        threads,
        corpus_bytes: corpus.total_size,
        corpus_files: corpus.files.len(),
        ignored_files: corpus.ignored_files,
        ignored_example: corpus.ignored_example.clone(),
        manifest,
        stopped_early: outcome.stopped_early,
    })
}

fn validate(opts: &ShardOptions) -> Result<(), ShardError> {
    let bad = |message: String| Err(ShardError::Config { message });
    if opts.seq_len < MIN_SEQ_LEN || opts.seq_len > MAX_SEQ_LEN {
        return bad(format!("--seq-len {} is outside [{MIN_SEQ_LEN}, {MAX_SEQ_LEN}]", opts.seq_len));
    }
    if opts.workers == 0 || opts.worker_index >= opts.workers {
        return bad(format!("worker index {} is not below the worker count {}", opts.worker_index, opts.workers));
    }
    if opts.num_shards == Some(0) {
        return bad("--shards must be at least 1".into());
    }
    if let Some(n) = opts.num_shards {
        if n > 99_999 {
            return bad(format!("--shards {n}: at most 99999 shards"));
        }
    }
    if opts.inputs.is_empty() {
        return bad("no --corpus given".into());
    }
    Ok(())
}
