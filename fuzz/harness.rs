//! What each fuzz target does with its input, shared by the libFuzzer targets (fuzz/fuzz_targets/, nightly) and
//! the stable replay of the committed corpora (train-host/tests/fuzz_corpus.rs includes this file). Every function
//! takes arbitrary bytes and must return without panicking, aborting or hanging: a bad input is a typed error,
//! which is dropped here. The checkpoint and task-file targets call the byte-level entry points that the CLI's
//! file readers themselves call once they have read a file (`HfCheckpoint::from_bytes`,
//! `read_text_examples_from_bytes`, `read_tagged_from_bytes`), so no file is written per input: written files made
//! those targets I/O-bound at 300-700 executions a second (issue 17). The shard reader, which reopens its files by
//! path, still gets a directory, in a memory-backed scratch directory where there is one.
#![allow(dead_code)] // each fuzz target uses one function

use electra_core::model_file::Model;
use electra_core::{ArenaOptions, RunOptions, SequenceInput};
use electra_pipeline::reader::ShardReader;
use electra_pipeline::tokenizer::HostTokenizer;
use electra_train::checkpoint::HfCheckpoint;
use electra_train::cli::infer::parse_line;
use electra_train::finetune::data::{read_tagged_from_bytes, read_text_examples_from_bytes, Columns, Task};
use electra_train::infer::{FloatModel, InputSeq};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Inputs of the model file are run only where the arena the file asks for stays under this: a valid file can
/// describe a model far larger than the fuzzer should allocate per input (libFuzzer's -rss_limit_mb is 2048 MB).
const MAX_ARENA_BYTES: usize = 64 << 20;
/// The most ids taken from the front of a model-file input.
const MAX_IDS: usize = 16;
/// The float model built from a fuzzed checkpoint is run only below this many parameters, for the same reason.
const MAX_FLOAT_PARAMS: usize = 4 << 20;

/// Where the scratch directory goes when it exists: tmpfs on Linux. The temporary directory is on disk on most
/// machines, and rewriting a file there per input cost milliseconds (most of the shard reader's time, measured
/// with `perf`: the process was off the CPU 90 % of the time, on a disk mounted with `discard`).
const MEMORY_DIR: &str = "/dev/shm";

/// A scratch directory of this process (fuzzing runs one input at a time per process), memory-backed where the
/// machine has [`MEMORY_DIR`].
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let memory = Path::new(MEMORY_DIR);
        let base = if memory.is_dir() { memory.to_path_buf() } else { std::env::temp_dir() };
        let dir = base.join(format!("electra-fuzz-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir
    })
}

/// Splits `data` at a length given by its first two bytes (little-endian), clamped to what is there.
fn split_u16(data: &[u8]) -> (&[u8], &[u8]) {
    if data.len() < 2 {
        return (&[], data);
    }
    let n = (u16::from_le_bytes([data[0], data[1]]) as usize).min(data.len() - 2);
    data[2..].split_at(n)
}

/// Model file: the first byte is the id count (at most [`MAX_IDS`]), then two bytes per id (little-endian), then
/// the file. `Model::from_bytes` (and with the checksum skipped, so mutations get past the CRC), then `run` on the
/// ids: out-of-vocabulary ids, empty and over-long sequences must be errors.
pub fn model_file(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else { return };
    let n = (n as usize % (MAX_IDS + 1)).min(rest.len() / 2);
    let (id_bytes, file) = rest.split_at(2 * n);
    let ids: Vec<u32> = id_bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as u32).collect();
    // The parser wants 16-byte alignment, as flash gives it.
    let mut aligned = vec![0u128; file.len().div_ceil(16)];
    let bytes = &mut bytemuck::cast_slice_mut::<u128, u8>(&mut aligned)[..file.len()];
    bytes.copy_from_slice(file);
    for model in [Model::from_bytes(bytes), Model::from_bytes_skip_checksum(bytes)] {
        let Ok(model) = model else { continue };
        let _ = model.tokenizer().map(|t| t.encode_pair("fuzz me", Some("again"), 16, &mut [0u32; 16], &mut [0u8; 16]));
        let len = model.arena_bytes(ids.len().max(1), ArenaOptions::SMALLEST);
        if len > MAX_ARENA_BYTES {
            continue;
        }
        let mut arena = vec![0u128; len.div_ceil(16)];
        let _ = model.run(&SequenceInput::ids(&ids), bytemuck::cast_slice_mut(&mut arena), &RunOptions::default());
    }
}

/// WordPiece: the first two bytes give the length of a `vocab.txt`, the rest is the text. The host tokenizer
/// builds the core tokenizer's index from the vocab (`build_index`, then `Tokenizer::new`); the core tokenizer over
/// that index and the host tokenizer on the text; the bundled BERT vocab on the text. The index is built once per
/// input (building it was 88 % of this target's time, and a second, identical build from the same bytes tested
/// nothing new).
pub fn wordpiece(data: &[u8]) {
    let (vocab, text) = split_u16(data);
    let text = String::from_utf8_lossy(text);
    if let Ok(host) = HostTokenizer::from_bytes(vocab.to_vec()) {
        let t = host.tokenizer();
        let mut ids = [0u32; 64];
        let _ = t.encode(&text, &mut ids);
        let _ = t.encode_prefix(&text, &mut ids);
        let _ = t.count(&text);
        let mut half = text.len() / 2;
        while !text.is_char_boundary(half) {
            half -= 1;
        }
        let (a, b) = text.split_at(half);
        let mut types = [0u8; 64];
        // A budget that fits, and one that truncates the pair.
        for max_len in [ids.len(), 5] {
            let _ = t.encode_pair(a, Some(b), max_len, &mut ids, &mut types);
        }
        let _ = t.verify(host.index());
        for id in 0..t.vocab_size().min(8) as u32 {
            let _ = t.id_to_token(id);
        }
        let _ = host.encode(&text);
    }
    let _ = bundled().encode(&text);
}

fn bundled() -> &'static HostTokenizer {
    static T: OnceLock<HostTokenizer> = OnceLock::new();
    T.get_or_init(|| {
        HostTokenizer::from_bytes(electra_train::pretrain::BUNDLED_VOCAB.to_vec())
            .unwrap_or_else(|e| panic!("the bundled vocab must load: {e}"))
    })
}

/// HF checkpoint: the first two bytes give the length of `config.json`, the rest is `model.safetensors`.
/// `HfCheckpoint::from_bytes` (what `HfCheckpoint::load` runs on the files it reads), then the float model built
/// from it and run on three ids.
pub fn hf_checkpoint(data: &[u8]) {
    let (config, tensors) = split_u16(data);
    let Ok(ckpt) = HfCheckpoint::from_bytes(Path::new("fuzz-checkpoint"), config, tensors) else { return };
    let c = ckpt.config;
    if c.vocab_size.saturating_mul(c.embedding_size).saturating_add(c.hidden_size.saturating_mul(c.intermediate_size))
        > MAX_FLOAT_PARAMS
    {
        return;
    }
    if let Ok(model) = FloatModel::from_checkpoint(&ckpt) {
        let _ = model.logits(&[InputSeq::ids(vec![0, 1, 2])]);
    }
}

/// The shard manifest the fuzzed Parquet file is listed in (fuzz/shard_manifest.json: a real one-shard
/// manifest); its byte count is set to the input's.
const SHARD_MANIFEST: &str = include_str!("shard_manifest.json");

/// The parts of [`SHARD_MANIFEST`] each input needs, worked out once per process (parsing and printing the
/// manifest per input was a quarter of this target's time): the vocab hash and sequence length the reader is
/// opened with, the shard's file name, and the manifest's text around its byte count.
struct ShardTemplate {
    sha: String,
    seq_len: usize,
    file: String,
    before_bytes: String,
    after_bytes: String,
}

fn shard_template() -> Option<&'static ShardTemplate> {
    static T: OnceLock<Option<ShardTemplate>> = OnceLock::new();
    T.get_or_init(|| {
        let mut manifest = serde_json::from_str::<serde_json::Value>(SHARD_MANIFEST).ok()?;
        let sha = manifest["vocab_sha256"].as_str()?.to_owned();
        let seq_len = manifest["seq_len"].as_u64()? as usize;
        let file = manifest["shards"][0]["file"].as_str()?.to_owned();
        // A byte count that appears nowhere else in the manifest, printed and split at.
        const MARK: u64 = 987_654_321_987;
        manifest["shards"][0]["bytes"] = serde_json::Value::from(MARK);
        let text = manifest.to_string();
        let (before, after) = text.split_once(&MARK.to_string())?;
        Some(ShardTemplate { sha, seq_len, file, before_bytes: before.to_owned(), after_bytes: after.to_owned() })
    })
    .as_ref()
}

/// Parquet shard reader: the input is the one shard of a directory whose manifest lists it;
/// `ShardReader::open` (footers), then every row read.
pub fn shard_reader(data: &[u8]) {
    let Some(t) = shard_template() else { return };
    let manifest = format!("{}{}{}", t.before_bytes, data.len(), t.after_bytes);
    let dir = scratch().join("shards");
    let _ = std::fs::create_dir_all(&dir);
    if std::fs::write(dir.join(&t.file), data).is_err() || std::fs::write(dir.join("manifest.json"), manifest).is_err()
    {
        return;
    }
    let Ok(reader) = ShardReader::open(&dir, &t.sha, t.seq_len) else { return };
    let _ = reader.verify_checksums();
    let _ = reader.read_shard(0);
}

/// `electra infer` input lines: each line of the input through `parse_line`, without a tokenizer and with the
/// bundled one (lines with `text`).
pub fn infer_line(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for (i, line) in text.lines().enumerate() {
        let _ = parse_line(i + 1, line, None);
        let _ = parse_line(i + 1, line, Some(bundled()));
    }
}

/// Fine-tuning task readers: the first byte picks the format (TSV, CSV, JSON lines, CoNLL), the rest is the file.
/// Text files are read as the custom task and as a GLUE pair task (columns detected), CoNLL with the default and a
/// given tag column; through the byte-level readers that `read_text_examples` and `read_tagged` run on a file.
pub fn task_reader(data: &[u8]) {
    let Some((&kind, file)) = data.split_first() else { return };
    let path = Path::new(["task.tsv", "task.csv", "task.jsonl", "task.conll"][kind as usize % 4]);
    if kind % 4 == 3 {
        let _ = read_tagged_from_bytes(path, file, None);
        let _ = read_tagged_from_bytes(path, file, Some(1));
    } else {
        let _ = read_text_examples_from_bytes(path, file, Task::Custom, &Columns::default());
        let _ = read_text_examples_from_bytes(path, file, Task::Mrpc, &Columns::default());
    }
}
