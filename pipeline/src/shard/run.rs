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

/// Settings that make shards of one run interchangeable, and their fingerprint.
struct RunDescription {
    fingerprint: String,
    seq_len: usize,
    vocab_sha256: String,
    vocab_size: usize,
    tokenizer: serde_json::Value,
    recipe: serde_json::Value,
}

impl RunDescription {
    fn new<E: Encoder>(opts: &ShardOptions, encoder: &E, corpus: &Corpus, num_shards: usize) -> Self {
        let recipe = serde_json::json!({
            "seed": opts.seed,
            "sentences": "lines, cut after [.!?]+ and closing quotes/brackets before whitespace and an uppercase letter, digit or opening quote/bracket",
            "single_segment_prob": packing::SINGLE_SEGMENT_PROB,
            "overfill_a_prob": packing::OVERFILL_A_PROB,
            "random_length_prob": packing::RANDOM_LENGTH_PROB,
            "min_random_length": packing::MIN_RANDOM_LENGTH,
            "long_sentences": "over (T-3)/2 tokens: cut into pieces of (T-3)/4",
            "chunk_target_bytes": CHUNK_TARGET_BYTES,
            "chunk_max_bytes": CHUNK_MAX_BYTES,
            "max_line_bytes": MAX_LINE_BYTES,
        });
        let files: Vec<serde_json::Value> =
            corpus.files.iter().map(|f| serde_json::json!([f.path.to_string_lossy(), f.size])).collect();
        let described = serde_json::json!({
            "format_version": FORMAT_VERSION,
            "seq_len": opts.seq_len,
            "vocab_sha256": encoder.vocab_sha256(),
            "tokenizer": encoder.settings(),
            "recipe": recipe,
            "num_shards": num_shards,
            "text_field": opts.text_field,
            "files": files,
        });
        let fingerprint = hex(&Sha256::digest(described.to_string().as_bytes()));
        RunDescription {
            fingerprint,
            seq_len: opts.seq_len,
            vocab_sha256: encoder.vocab_sha256(),
            vocab_size: encoder.vocab_size(),
            tokenizer: encoder.settings(),
            recipe,
        }
    }

    fn footer(&self, shard: usize, num_shards: usize) -> Vec<KeyValue> {
        let kv = |k: &str, v: String| KeyValue::new(k.to_string(), v);
        vec![
            kv(format::META_FORMAT_VERSION, FORMAT_VERSION.to_string()),
            kv(format::META_VOCAB_SHA256, self.vocab_sha256.clone()),
            kv(format::META_SEQ_LEN, self.seq_len.to_string()),
            kv(format::META_TOKENIZER, self.tokenizer.to_string()),
            kv(format::META_RECIPE, self.recipe.to_string()),
            kv(format::META_SHARD, format!("{shard}/{num_shards}")),
            kv(format::META_RUN, self.fingerprint.clone()),
        ]
    }
}

fn record_path(dir: &Path, shard: usize, num_shards: usize) -> PathBuf {
    dir.join(format::PROGRESS_DIR).join(format::record_file_name(shard, num_shards))
}

fn read_record(dir: &Path, shard: usize, num_shards: usize) -> Option<ShardRecord> {
    let bytes = std::fs::read(record_path(dir, shard, num_shards)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// True when the shard's record belongs to this run and the file on disk has the recorded sha256.
fn verify_shard(dir: &Path, shard: usize, num_shards: usize, fingerprint: &str) -> bool {
    let Some(record) = read_record(dir, shard, num_shards) else {
        return false;
    };
    if record.run_fingerprint != fingerprint || record.entry.file != format::shard_file_name(shard, num_shards) {
        return false;
    }
    matches!(sha256_file(&dir.join(&record.entry.file)), Ok((sha, n)) if sha == record.entry.sha256 && n == record.entry.bytes)
}

/// Deletes temporary files left by an interrupted run for this shard.
fn remove_stale_temps(dir: &Path, shard: usize, num_shards: usize) -> Result<(), ShardError> {
    let prefix = format::temp_prefix(shard, num_shards);
    let entries = std::fs::read_dir(dir).map_err(|e| ShardError::io(dir, e))?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| ShardError::io(&path, e))?;
        }
    }
    Ok(())
}

/// Writes `manifest.json` if every shard of the run has a record of this run; returns it.
fn assemble_manifest(
    opts: &ShardOptions,
    run: &RunDescription,
    num_shards: usize,
    corpus: &Corpus,
) -> Result<Option<Manifest>, ShardError> {
    let mut shards = Vec::with_capacity(num_shards);
    for s in 0..num_shards {
        match read_record(&opts.output, s, num_shards) {
            Some(r) if r.run_fingerprint == run.fingerprint => shards.push(r.entry),
            _ => return Ok(None),
        }
    }
    let totals = Totals::from_shards(&shards);
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        seq_len: run.seq_len,
        vocab_sha256: run.vocab_sha256.clone(),
        vocab_size: run.vocab_size,
        tokenizer: run.tokenizer.clone(),
        recipe: run.recipe.clone(),
        run_fingerprint: run.fingerprint.clone(),
        input: InputSummary {
            files: corpus.files.len() as u64,
            bytes: corpus.total_size,
            text_field: opts.text_field.clone(),
        },
        shards,
        totals,
    };
    let path = opts.output.join(format::MANIFEST_FILE);
    write_bytes_atomically(&path, &to_pretty_json(&manifest, &path)?)?;
    Ok(Some(manifest))
}

/// Counting semaphore bounding the chunks in flight; closing it releases a blocked reader.
struct Permits {
    state: Mutex<(usize, bool)>,
    freed: Condvar,
}

impl Permits {
    fn new(n: usize) -> Self {
        Permits { state: Mutex::new((n, false)), freed: Condvar::new() }
    }

    /// Takes a permit; `false` once closed.
    fn acquire(&self) -> bool {
        let mut g = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        loop {
            if g.1 {
                return false;
            }
            if g.0 > 0 {
                g.0 -= 1;
                return true;
            }
            g = match self.freed.wait(g) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
        }
    }

    fn release(&self) {
        let mut g = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.0 += 1;
        self.freed.notify_one();
    }

    fn close(&self) {
        let mut g = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.1 = true;
        self.freed.notify_all();
    }
}

/// Work items in reading order; `u64` is the sequence number the writer restores the order by.
enum Work {
    Chunk(u64, Chunk),
    ShardEnd(u64, usize),
    Failed(u64, CorpusError),
}

/// A chunk packed and encoded as one row group of its shard.
struct PackedRowGroup {
    shard: usize,
    read: ReadStats,
    pack: PackStats,
    row_group: EncodedRowGroup,
}

enum Done {
    Packed(u64, PackedRowGroup),
    ShardEnd(u64, usize),
    Failed(u64, ShardError),
}

impl Done {
    fn seq(&self) -> u64 {
        match self {
            Done::Packed(s, _) | Done::ShardEnd(s, _) | Done::Failed(s, _) => *s,
        }
    }
}

/// Sends work items in order, each holding a permit.
struct Feeder<'a> {
    seq: u64,
    tx: mpsc::SyncSender<Work>,
    permits: &'a Permits,
}

impl Feeder<'_> {
    fn send(&mut self, make: impl FnOnce(u64) -> Work) -> Result<(), CorpusError> {
        if !self.permits.acquire() {
            return Err(CorpusError::Cancelled);
        }
        let item = make(self.seq);
        self.seq += 1;
        self.tx.send(item).map_err(|_| CorpusError::Cancelled)
    }
}

struct Outcome {
    written: Vec<usize>,
    stats: ShardStats,
    stopped_early: bool,
}

#[allow(clippy::too_many_arguments)]
fn pipeline<E: Encoder>(
    opts: &ShardOptions,
    encoder: &E,
    pool: &rayon::ThreadPool,
    corpus: &Corpus,
    num_shards: usize,
    todo: &[usize],
    run: &RunDescription,
    bar: &indicatif::ProgressBar,
) -> Result<Outcome, ShardError> {
    let threads = pool.current_num_threads();
    let permits = Permits::new(IN_FLIGHT_PER_THREAD * threads + 2);
    let (work_tx, work_rx) = mpsc::sync_channel::<Work>(2 * threads);
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let seq_len = opts.seq_len;
    let seed = opts.seed;
    let row_groups = RowGroupEncoder::new()?;
    let row_groups = &row_groups;
    let output = opts.output.as_path();

    std::thread::scope(|scope| {
        // Reader: this worker's shards, in order, as chunks.
        let permits_ref = &permits;
        scope.spawn(move || {
            let mut feeder = Feeder { seq: 0, tx: work_tx, permits: permits_ref };
            let mut cursor = CorpusCursor::new(corpus);
            for &shard in todo {
                let start = corpus.slice_start(shard, num_shards);
                let end = corpus.slice_start(shard + 1, num_shards);
                let mut builder = ChunkBuilder::new(shard, |chunk| feeder.send(|seq| Work::Chunk(seq, chunk)));
                let read = cursor.read_slice(start, end, &mut builder).and_then(|()| builder.finish());
                let result = read.and_then(|()| feeder.send(|seq| Work::ShardEnd(seq, shard)));
                match result {
                    Ok(()) => {}
                    Err(CorpusError::Cancelled) => return,
                    Err(e) => {
                        let seq = feeder.seq;
                        let _ = feeder.tx.send(Work::Failed(seq, e));
                        return;
                    }
                }
            }
        });

        // Packers: the rayon pool.
        scope.spawn(move || {
            pool.install(|| {
                work_rx.into_iter().par_bridge().for_each_with(done_tx, |tx, work| {
                    let done = match work {
                        Work::Chunk(seq, chunk) => {
                            let path = ShardWriter::path(output, chunk.shard, num_shards);
                            let packed = pack_chunk(&chunk, encoder, seq_len, seed).map_err(ShardError::from);
                            drop(chunk);
                            let encoded = packed.and_then(|p| {
                                let row_group = row_groups.encode(p.examples, &path)?;
                                Ok(PackedRowGroup { shard: p.shard, read: p.read, pack: p.pack, row_group })
                            });
                            match encoded {
                                Ok(p) => Done::Packed(seq, p),
                                Err(e) => Done::Failed(seq, e),
                            }
                        }
                        Work::ShardEnd(seq, shard) => Done::ShardEnd(seq, shard),
                        Work::Failed(seq, e) => Done::Failed(seq, e.into()),
                    };
                    // The writer may have stopped; then the result is not needed.
                    let _ = tx.send(done);
                });
            });
        });

        // Writer: this thread.
        let result = write_in_order(opts, run, num_shards, done_rx, &permits, bar);
        permits.close();
        result
    })
}

fn write_in_order(
    opts: &ShardOptions,
    run: &RunDescription,
    num_shards: usize,
    done_rx: mpsc::Receiver<Done>,
    permits: &Permits,
    bar: &indicatif::ProgressBar,
) -> Result<Outcome, ShardError> {
    let mut outcome = Outcome { written: Vec::new(), stats: ShardStats::default(), stopped_early: false };
    let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
    let mut next = 0u64;
    let mut current: Option<(usize, ShardWriter)> = None;
    for done in done_rx {
        pending.insert(done.seq(), done);
        while let Some(done) = pending.remove(&next) {
            next += 1;
            permits.release();
            match done {
                Done::Packed(_, packed) => {
                    let writer = match &mut current {
                        Some((s, w)) if *s == packed.shard => w,
                        _ => {
                            let w = ShardWriter::create(
                                &opts.output,
                                packed.shard,
                                num_shards,
                                run.footer(packed.shard, num_shards),
                            )?;
                            &mut current.insert((packed.shard, w)).1
                        }
                    };
                    bar.inc(packed.read.input_bytes);
                    writer.add_stats(&packed.read, &packed.pack);
                    writer.append(packed.row_group)?;
                }
                Done::ShardEnd(_, shard) => {
                    let Some((s, writer)) = current.take() else {
                        return Err(ShardError::Config { message: format!("shard {shard} ended before it began") });
                    };
                    if s != shard {
                        return Err(ShardError::Config { message: format!("shard {shard} ended while writing {s}") });
                    }
                    let entry = writer.finish()?;
                    outcome.stats.add(&entry.stats);
                    write_record(&opts.output, shard, num_shards, &run.fingerprint, entry)?;
                    outcome.written.push(shard);
                    bar.set_message(format!("{} shard(s) done", outcome.written.len()));
                    if opts.stop_after_shards == Some(outcome.written.len()) {
                        outcome.stopped_early = true;
                        return Ok(outcome);
                    }
                }
                Done::Failed(_, e) => return Err(e),
            }
        }
    }
    Ok(outcome)
}

fn write_record(
    dir: &Path,
    shard: usize,
    num_shards: usize,
    fingerprint: &str,
    entry: ShardEntry,
) -> Result<(), ShardError> {
    let path = record_path(dir, shard, num_shards);
    let record = ShardRecord { run_fingerprint: fingerprint.to_string(), entry };
    Ok(write_bytes_atomically(&path, &to_pretty_json(&record, &path)?)?)
}
