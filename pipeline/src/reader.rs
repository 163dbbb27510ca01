//! Training batches from a shard directory (see [`crate::shard::format`]).
//!
//! Per epoch, every rank sees a disjoint, equally long slice of the examples in a shuffled order:
//!
//! 1. The units of shuffling are Parquet row groups (one per chunk of input, ~1,000 rows at T = 128)
//!    across all shards; their order is a permutation drawn from `(seed, epoch)`, the same on
//!    every rank.
//! 2. Laid end to end in that order they form one sequence of `R` rows. Rank `r` of `W` takes rows
//!    `[r·⌊R/W⌋, (r+1)·⌊R/W⌋)`: disjoint, the same count on every rank (so data-parallel ranks take the
//!    same number of steps); the `R mod W` rows at the end sit out this epoch (they differ per epoch).
//! 3. Within its slice, a rank streams rows through a shuffle buffer (default [`DEFAULT_SHUFFLE_ROWS`]
//!    rows) drawing from `(seed, epoch, rank)`, and cuts batches of `batch_size`; the last batch of the
//!    epoch may be smaller (nothing is dropped).
//!
//! Rows are padded to the manifest's sequence length `T` with id 0 and mask 0.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::Array;
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};

use crate::rng::Rng;
use crate::shard::format::{self, FORMAT_VERSION};
use crate::shard::Manifest;

/// Rows held in the per-rank shuffle buffer unless set otherwise (~8 MB at T = 128).
pub const DEFAULT_SHUFFLE_ROWS: usize = 16384;

/// Most uncompressed page bytes one value of a shard column may need (the bound the page check puts on
/// a page's declared size, which the decoder reserves): both columns are INT32, at most 4 bytes a value
/// (plain, or a bit-packed dictionary index), and each of the two level streams at most 2 bytes a value
/// (a run of one: a 1-byte run header and a 1-byte level). 8 bytes, doubled for margin.
const SHARD_PAGE_BYTES_PER_VALUE: u64 = 16;

/// A batch of padded examples, row-major `[B, T]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub batch_size: usize,
    pub seq_len: usize,
    /// Token ids; 0 after the end of each example.
    pub input_ids: Vec<u32>,
    /// 1 on the example's tokens, 0 on padding.
    pub attention_mask: Vec<u8>,
    /// 0 for `[CLS]`, segment A and its `[SEP]`; 1 for segment B and its `[SEP]`; 0 on padding.
    pub token_type_ids: Vec<u8>,
}

impl Batch {
    /// `batch_size` rows of `seq_len` padding (every id, mask and token type 0), to be filled in.
    pub fn padding(batch_size: usize, seq_len: usize) -> Self {
        let n = batch_size * seq_len;
        Self { batch_size, seq_len, input_ids: vec![0; n], attention_mask: vec![0; n], token_type_ids: vec![0; n] }
    }
}

/// One stored example.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// `[CLS] A [SEP] (B [SEP])`, unpadded.
    pub input_ids: Vec<u32>,
    /// Index of B's first token (`input_ids.len()` when there is no B).
    pub segment_b_start: usize,
}

/// Why a shard directory cannot be read. Every variant names the file.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReaderError {
    /// A file could not be opened or read.
    Io { path: PathBuf, source: std::io::Error },
    /// `manifest.json` is missing fields or is not JSON.
    Manifest { path: PathBuf, message: String },
    /// The shards were made with another vocabulary than the one training uses.
    VocabMismatch { path: PathBuf, expected: String, found: String },
    /// The shards were made for another sequence length.
    SeqLenMismatch { path: PathBuf, expected: usize, found: usize },
    /// A shard is not a readable Parquet file (truncated, corrupt, or not Parquet at all).
    Parquet { path: PathBuf, message: String },
    /// A readable Parquet file that is not an electra shard of this format (missing metadata, other schema).
    ForeignShard { path: PathBuf, reason: String },
    /// A row group's page headers are malformed or claim more than the shard can hold, found before the
    /// Parquet decoder runs on them (it would trust them: see [`crate::parquet_guard::check_row_group_pages`]).
    CorruptPages { path: PathBuf, reason: String },
    /// A shard's footer would make the Parquet decoder spin, found before it parses it
    /// ([`crate::parquet_guard::check_footer`]).
    CorruptFooter { path: PathBuf, reason: String },
    /// A shard holds a different number of rows than the manifest says.
    RowCountMismatch { path: PathBuf, manifest: u64, file: u64 },
    /// A shard's bytes do not hash to the sha256 the manifest lists (see [`ShardReader::verify_checksums`]).
    ChecksumMismatch { path: PathBuf, manifest: String, file: String },
    /// A row breaks the format (too long, id outside the vocabulary, bad segment offset).
    BadRow { path: PathBuf, row: u64, reason: String },
    /// The request cannot be served (batch size 0, rank not below world size, fewer rows than ranks).
    InvalidRequest { reason: String },
}

impl fmt::Display for ReaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReaderError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ReaderError::Manifest { path, message } => write!(f, "invalid shard manifest {}: {message}", path.display()),
            ReaderError::VocabMismatch { path, expected, found } => write!(
                f,
                "{} was made with vocab sha256 {found}, but training uses {expected}; re-shard with the training vocab",
                path.display()
            ),
            ReaderError::SeqLenMismatch { path, expected, found } => write!(
                f,
                "{} holds examples of sequence length {found}, but training uses {expected}; re-shard with --seq-len {expected}",
                path.display()
            ),
            ReaderError::Parquet { path, message } => {
                write!(f, "{} is not a readable Parquet file (truncated or corrupt?): {message}", path.display())
            }
            ReaderError::ForeignShard { path, reason } => {
                write!(f, "{} is not an electra shard (format {FORMAT_VERSION}): {reason}", path.display())
            }
            ReaderError::CorruptPages { path, reason } | ReaderError::CorruptFooter { path, reason } => {
                write!(f, "{} is corrupt (not decoded): {reason}", path.display())
            }
            ReaderError::RowCountMismatch { path, manifest, file } => {
                write!(f, "{} holds {file} rows, but the manifest lists {manifest}", path.display())
            }
            ReaderError::ChecksumMismatch { path, manifest, file } => write!(
                f,
                "{} has sha256 {file}, but the manifest lists {manifest}: the file changed after it was written",
                path.display()
            ),
            ReaderError::BadRow { path, row, reason } => write!(f, "{} row {row}: {reason}", path.display()),
            ReaderError::InvalidRequest { reason } => write!(f, "cannot make batches: {reason}"),
        }
    }
}

impl std::error::Error for ReaderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReaderError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

struct OpenShard {
    path: PathBuf,
    metadata: ArrowReaderMetadata,
    /// Rows in each row group, and the file row number each starts at.
    row_group_rows: Vec<u64>,
    row_group_first: Vec<u64>,
}

/// A row group of one shard: the unit of the epoch shuffle.
#[derive(Clone, Copy, Debug)]
struct Unit {
    shard: usize,
    row_group: usize,
    rows: u64,
}

/// An opened, checked shard directory.
pub struct ShardReader {
    manifest: Manifest,
    shards: Vec<OpenShard>,
    units: Vec<Unit>,
    total_rows: u64,
    shuffle_rows: usize,
}

fn footer_value<'m>(meta: &'m ArrowReaderMetadata, key: &str) -> Option<&'m str> {
    meta.metadata().file_metadata().key_value_metadata()?.iter().find(|kv| kv.key == key)?.value.as_deref()
}

impl ShardReader {
    /// Opens `dir/manifest.json` and every shard it lists, and checks that they were made with the vocab
    /// whose sha256 is `vocab_sha256` and for sequence length `seq_len`, that every shard is an intact
    /// Parquet file of this format, and that its row count matches the manifest. Reads footers only.
    pub fn open(dir: &Path, vocab_sha256: &str, seq_len: usize) -> Result<Self, ReaderError> {
        let manifest_path = dir.join(format::MANIFEST_FILE);
        let bytes =
            std::fs::read(&manifest_path).map_err(|source| ReaderError::Io { path: manifest_path.clone(), source })?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| ReaderError::Manifest { path: manifest_path.clone(), message: e.to_string() })?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(ReaderError::Manifest {
                path: manifest_path,
                message: format!("format version {} (this reader reads {FORMAT_VERSION})", manifest.format_version),
            });
        }
        if manifest.vocab_sha256 != vocab_sha256 {
            return Err(ReaderError::VocabMismatch {
                path: manifest_path,
                expected: vocab_sha256.to_string(),
                found: manifest.vocab_sha256.clone(),
            });
        }
        if manifest.seq_len != seq_len {
            return Err(ReaderError::SeqLenMismatch {
                path: manifest_path,
                expected: seq_len,
                found: manifest.seq_len,
            });
        }
        let mut shards = Vec::with_capacity(manifest.shards.len());
        let mut units = Vec::new();
        for (index, entry) in manifest.shards.iter().enumerate() {
            let path = dir.join(&entry.file);
            let shard = open_shard(&path, vocab_sha256, seq_len)?;
            let rows: u64 = shard.row_group_rows.iter().sum();
            if rows != entry.stats.rows {
                return Err(ReaderError::RowCountMismatch { path, manifest: entry.stats.rows, file: rows });
            }
            for (row_group, &rows) in shard.row_group_rows.iter().enumerate() {
                if rows > 0 {
                    units.push(Unit { shard: index, row_group, rows });
                }
            }
            shards.push(shard);
        }
        let total_rows = units.iter().map(|u| u.rows).sum();
        Ok(ShardReader { manifest, shards, units, total_rows, shuffle_rows: DEFAULT_SHUFFLE_ROWS })
    }

    /// Hashes every shard and compares with the manifest's sha256 (reads all the data once; `open` only
    /// reads footers, which catches truncated and foreign files but not bytes changed in the middle).
    pub fn verify_checksums(&self) -> Result<(), ReaderError> {
        for (shard, entry) in self.shards.iter().zip(&self.manifest.shards) {
            let (sha, _) = crate::shard::sha256_file(&shard.path)
                .map_err(|source| ReaderError::Io { path: shard.path.clone(), source })?;
            if sha != entry.sha256 {
                return Err(ReaderError::ChecksumMismatch {
                    path: shard.path.clone(),
                    manifest: entry.sha256.clone(),
                    file: sha,
                });
            }
        }
        Ok(())
    }

    /// Rows held in each rank's shuffle buffer (at least 1).
    pub fn with_shuffle_rows(mut self, rows: usize) -> Self {
        self.shuffle_rows = rows.max(1);
        self
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn seq_len(&self) -> usize {
        self.manifest.seq_len
    }

    /// Examples in all shards.
    pub fn num_rows(&self) -> u64 {
        self.total_rows
    }

    /// Rows each rank sees per epoch.
    pub fn rows_per_rank(&self, world_size: usize) -> u64 {
        self.total_rows / world_size.max(1) as u64
    }

    /// Batches each rank gets per epoch (the last may be smaller than `batch_size`).
    pub fn batches_per_epoch(&self, batch_size: usize, world_size: usize) -> u64 {
        self.rows_per_rank(world_size).div_ceil(batch_size.max(1) as u64)
    }

    /// All examples of shard `index` in stored order (for inspection and cross-checks).
    pub fn read_shard(&self, index: usize) -> Result<Vec<Example>, ReaderError> {
        let shard = self.shards.get(index).ok_or_else(|| ReaderError::InvalidRequest {
            reason: format!("shard {index} does not exist ({} shards)", self.shards.len()),
        })?;
        let mut out = Vec::new();
        for g in 0..shard.row_group_rows.len() {
            read_row_group(shard, g, 0..shard.row_group_rows[g], self.seq_len(), self.manifest.vocab_size, &mut out)?;
        }
        Ok(out)
    }

    /// The batches of `rank` (of `world_size`) for `epoch`; see the module documentation.
    pub fn epoch_batches(
        &self,
        epoch: u64,
        batch_size: usize,
        rank: usize,
        world_size: usize,
        seed: u64,
    ) -> EpochBatches<'_> {
        let mut batches = EpochBatches {
            reader: self,
            pieces: Vec::new(),
            next_piece: 0,
            buffer: Vec::new(),
            rng: Rng::derive(seed, &[epoch, 1, rank as u64]),
            batch_size,
            remaining: 0,
            pending_error: None,
        };
        let invalid = if batch_size == 0 {
            Some("batch size 0".to_string())
        } else if world_size == 0 || rank >= world_size {
            Some(format!("rank {rank} is not below world size {world_size}"))
        } else if self.rows_per_rank(world_size) == 0 {
            Some(format!("{} examples cannot give each of {world_size} ranks one", self.total_rows))
        } else {
            None
        };
        if let Some(reason) = invalid {
            batches.pending_error = Some(ReaderError::InvalidRequest { reason });
            return batches;
        }
        let mut order: Vec<usize> = (0..self.units.len()).collect();
        Rng::derive(seed, &[epoch, 0]).shuffle(&mut order);
        let per_rank = self.rows_per_rank(world_size);
        let (lo, hi) = (rank as u64 * per_rank, (rank as u64 + 1) * per_rank);
        let mut at = 0u64;
        for &u in &order {
            let rows = self.units[u].rows;
            let (a, b) = (at.max(lo), (at + rows).min(hi));
            if a < b {
                batches.pieces.push((u, (a - at)..(b - at)));
            }
            at += rows;
            if at >= hi {
                break;
            }
        }
        batches.remaining = per_rank;
        batches
    }
}

/// One call into the parquet crate on a shard's bytes (see [`crate::parquet_guard`]): its error, or a
/// panic inside it, becomes [`ReaderError::Parquet`] naming the file.
fn parquet_call<T, E: fmt::Display>(path: &Path, call: impl FnOnce() -> Result<T, E>) -> Result<T, ReaderError> {
    let parquet_err = |message: String| ReaderError::Parquet { path: path.to_path_buf(), message };
    crate::parquet_guard::catch_decoder_panic(call).map_err(parquet_err)?.map_err(|e| parquet_err(e.to_string()))
}

fn open_shard(path: &Path, vocab_sha256: &str, seq_len: usize) -> Result<OpenShard, ReaderError> {
    let file = File::open(path).map_err(|source| ReaderError::Io { path: path.to_path_buf(), source })?;
    crate::parquet_guard::check_footer(&file)
        .map_err(|reason| ReaderError::CorruptFooter { path: path.to_path_buf(), reason })?;
    let metadata = parquet_call(path, || ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()))?;
    let foreign = |reason: String| ReaderError::ForeignShard { path: path.to_path_buf(), reason };
    match footer_value(&metadata, format::META_FORMAT_VERSION) {
        None => return Err(foreign(format!("no {} in the footer metadata", format::META_FORMAT_VERSION))),
        Some(v) if v != FORMAT_VERSION.to_string() => return Err(foreign(format!("format version {v}"))),
        Some(_) => {}
    }
    let found_vocab = footer_value(&metadata, format::META_VOCAB_SHA256).unwrap_or("");
    if found_vocab != vocab_sha256 {
        return Err(ReaderError::VocabMismatch {
            path: path.to_path_buf(),
            expected: vocab_sha256.to_string(),
            found: found_vocab.to_string(),
        });
    }
    let found_len = footer_value(&metadata, format::META_SEQ_LEN).and_then(|v| v.parse::<usize>().ok());
    if found_len != Some(seq_len) {
        return Err(ReaderError::SeqLenMismatch {
            path: path.to_path_buf(),
            expected: seq_len,
            found: found_len.unwrap_or(0),
        });
    }
    let schema = metadata.schema();
    let ids_ok = schema
        .field_with_name(format::COLUMN_IDS)
        .is_ok_and(|f| matches!(f.data_type(), DataType::List(item) if item.data_type() == &DataType::UInt32));
    let b_ok = schema.field_with_name(format::COLUMN_SEGMENT_B).is_ok_and(|f| f.data_type() == &DataType::UInt32);
    if !ids_ok || !b_ok || schema.fields().len() != 2 {
        return Err(foreign(format!("schema {schema} instead of input_ids: list<uint32>, segment_b_start: uint32")));
    }
    let mut row_group_rows = Vec::new();
    let mut row_group_first = Vec::new();
    let mut first = 0u64;
    for rg in metadata.metadata().row_groups() {
        let rows = rg.num_rows().max(0) as u64;
        row_group_first.push(first);
        row_group_rows.push(rows);
        first += rows;
    }
    Ok(OpenShard { path: path.to_path_buf(), metadata, row_group_rows, row_group_first })
}

/// Appends rows `rows` (relative to the row group) of row group `g`, checking each.
fn read_row_group(
    shard: &OpenShard,
    g: usize,
    rows: std::ops::Range<u64>,
    seq_len: usize,
    vocab_size: usize,
    out: &mut Vec<Example>,
) -> Result<(), ReaderError> {
    let path = &shard.path;
    let file = File::open(path).map_err(|source| ReaderError::Io { path: path.clone(), source })?;
    // The decoder trusts page headers and can loop on a corrupt one (issue 17's second finding): they are
    // walked first, bounded. A row holds at most seq_len ids, one value each (an empty list one level).
    let limits = crate::parquet_guard::PageLimits {
        max_values: shard.row_group_rows[g].saturating_mul(seq_len.max(1) as u64),
        max_bytes_per_value: SHARD_PAGE_BYTES_PER_VALUE,
    };
    crate::parquet_guard::check_row_group_pages(&file, shard.metadata.metadata(), g, limits)
        .map_err(|reason| ReaderError::CorruptPages { path: path.clone(), reason })?;
    let mut reader = parquet_call(path, || {
        ParquetRecordBatchReaderBuilder::new_with_metadata(file, shard.metadata.clone())
            .with_row_groups(vec![g])
            .with_batch_size(4096)
            .build()
    })?;
    let mut row = 0u64;
    // Each batch is decoded by the parquet crate: one guarded call per batch.
    while let Some(batch) = parquet_call(path, || reader.next().transpose())? {
        let ids = batch.column(0).as_list::<i32>();
        let b_starts = batch.column(1).as_primitive::<UInt32Type>();
        for r in 0..batch.num_rows() {
            if rows.contains(&row) {
                let file_row = shard.row_group_first[g] + row;
                let bad = |reason: String| ReaderError::BadRow { path: path.clone(), row: file_row, reason };
                let values = ids.value(r);
                let values = values.as_primitive::<UInt32Type>();
                if values.null_count() > 0 || ids.is_null(r) || b_starts.is_null(r) {
                    return Err(bad("null value".into()));
                }
                let input_ids: Vec<u32> = values.values().to_vec();
                let b = b_starts.value(r) as usize;
                if input_ids.len() > seq_len || input_ids.len() < 2 {
                    return Err(bad(format!("{} ids; expected 2..={seq_len}", input_ids.len())));
                }
                if b > input_ids.len() {
                    return Err(bad(format!("segment B starts at {b}, past the row's {} ids", input_ids.len())));
                }
                if let Some(&id) = input_ids.iter().find(|&&id| id as usize >= vocab_size) {
                    return Err(bad(format!("id {id} is outside the vocabulary of {vocab_size}")));
                }
                out.push(Example { input_ids, segment_b_start: b });
            }
            row += 1;
        }
    }
    Ok(())
}

/// The batches of one rank for one epoch: `Result<Batch, ReaderError>`; stops after the first error.
pub struct EpochBatches<'r> {
    reader: &'r ShardReader,
    /// Units (row groups) of this rank's slice with the row range taken from each, in shuffled order.
    pieces: Vec<(usize, std::ops::Range<u64>)>,
    next_piece: usize,
    buffer: Vec<Example>,
    rng: Rng,
    batch_size: usize,
    /// Rows still to hand out.
    remaining: u64,
    pending_error: Option<ReaderError>,
}

impl EpochBatches<'_> {
    fn refill(&mut self) -> Result<(), ReaderError> {
        while self.buffer.len() < self.reader.shuffle_rows && self.next_piece < self.pieces.len() {
            let (u, rows) = self.pieces[self.next_piece].clone();
            self.next_piece += 1;
            let unit = self.reader.units[u];
            let shard = &self.reader.shards[unit.shard];
            read_row_group(
                shard,
                unit.row_group,
                rows,
                self.reader.seq_len(),
                self.reader.manifest.vocab_size,
                &mut self.buffer,
            )?;
        }
        Ok(())
    }
}

impl Iterator for EpochBatches<'_> {
    type Item = Result<Batch, ReaderError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending_error.take() {
            self.remaining = 0;
            return Some(Err(e));
        }
        if self.remaining == 0 {
            return None;
        }
        let t = self.reader.seq_len();
        let n = (self.batch_size as u64).min(self.remaining) as usize;
        let mut batch = Batch::padding(n, t);
        for i in 0..n {
            if let Err(e) = self.refill() {
                self.remaining = 0;
                return Some(Err(e));
            }
            if self.buffer.is_empty() {
                self.remaining = 0;
                return Some(Err(ReaderError::InvalidRequest { reason: "shards hold fewer rows than planned".into() }));
            }
            let j = self.rng.below(self.buffer.len() as u64) as usize;
            let ex = self.buffer.swap_remove(j);
            let row = i * t;
            let len = ex.input_ids.len();
            batch.input_ids[row..row + len].copy_from_slice(&ex.input_ids);
            batch.attention_mask[row..row + len].fill(1);
            batch.token_type_ids[row + ex.segment_b_start..row + len].fill(1);
        }
        self.remaining -= n as u64;
        Some(Ok(batch))
    }
}
