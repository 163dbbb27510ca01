//! Resuming: each shard's record in `.progress/` (this run's fingerprint and the shard's sha256), the check
//! that lets a re-run skip a finished shard, and the manifest the last worker writes from all records.

use super::*;

/// Settings that make shards of one run interchangeable, and their fingerprint.
pub(super) struct RunDescription {
    pub(super) fingerprint: String,
    seq_len: usize,
    vocab_sha256: String,
    vocab_size: usize,
    tokenizer: serde_json::Value,
    recipe: serde_json::Value,
}

impl RunDescription {
    pub(super) fn new<E: Encoder>(opts: &ShardOptions, encoder: &E, corpus: &Corpus, num_shards: usize) -> Self {
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

    pub(super) fn footer(&self, shard: usize, num_shards: usize) -> Vec<KeyValue> {
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

pub(super) fn record_path(dir: &Path, shard: usize, num_shards: usize) -> PathBuf {
    dir.join(format::PROGRESS_DIR).join(format::record_file_name(shard, num_shards))
}

pub(super) fn read_record(dir: &Path, shard: usize, num_shards: usize) -> Option<ShardRecord> {
    let bytes = std::fs::read(record_path(dir, shard, num_shards)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// True when the shard's record belongs to this run and the file on disk has the recorded sha256.
pub(super) fn verify_shard(dir: &Path, shard: usize, num_shards: usize, fingerprint: &str) -> bool {
    let Some(record) = read_record(dir, shard, num_shards) else {
        return false;
    };
    if record.run_fingerprint != fingerprint || record.entry.file != format::shard_file_name(shard, num_shards) {
        return false;
    }
    matches!(sha256_file(&dir.join(&record.entry.file)), Ok((sha, n)) if sha == record.entry.sha256 && n == record.entry.bytes)
}

/// Deletes temporary files left by an interrupted run for this shard.
pub(super) fn remove_stale_temps(dir: &Path, shard: usize, num_shards: usize) -> Result<(), ShardError> {
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
pub(super) fn assemble_manifest(
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

pub(super) fn write_record(
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
