//! Writes one shard: a Parquet file built under a temporary name, hashed as it is written, flushed,
//! and renamed into place only when complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, ListArray, RecordBatch, UInt32Array};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use super::format::{self, ROW_GROUP_ROWS, ZSTD_LEVEL};
use super::manifest::{sync_dir, ShardEntry, ShardStats};
use super::ShardError;
use crate::packing::Examples;

/// A file writer that hashes and counts every byte on its way out.
struct HashingFile {
    inner: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 of a file's bytes, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let n = std::io::copy(&mut f, &mut hasher)?;
    Ok((hex(&hasher.finalize()), n))
}

pub struct ShardWriter {
    tmp_path: PathBuf,
    final_path: PathBuf,
    file_name: String,
    schema: SchemaRef,
    writer: ArrowWriter<HashingFile>,
    stats: ShardStats,
}

impl ShardWriter {
    /// Starts shard `index` of `count` in `dir`; `metadata` goes into the footer.
    pub fn create(dir: &Path, index: usize, count: usize, metadata: Vec<KeyValue>) -> Result<Self, ShardError> {
        let file_name = format::shard_file_name(index, count);
        let final_path = dir.join(&file_name);
        let tmp_path = dir.join(format!("{}-{}", format::temp_prefix(index, count), std::process::id()));
        let file = File::create(&tmp_path).map_err(|e| ShardError::io(&tmp_path, e))?;
        let sink = HashingFile { inner: BufWriter::with_capacity(1 << 20, file), hasher: Sha256::new(), bytes: 0 };
        let level = ZstdLevel::try_new(ZSTD_LEVEL)
            .map_err(|e| ShardError::Parquet { path: final_path.clone(), message: e.to_string() })?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_max_row_group_bytes(None)
            .set_key_value_metadata(Some(metadata))
            .build();
        let schema = format::schema();
        let writer = ArrowWriter::try_new(sink, schema.clone(), Some(props))
            .map_err(|e| ShardError::Parquet { path: final_path.clone(), message: e.to_string() })?;
        Ok(ShardWriter { tmp_path, final_path, file_name, schema, writer, stats: ShardStats::default() })
    }

    fn parquet_err(&self, e: impl std::fmt::Display) -> ShardError {
        ShardError::Parquet { path: self.final_path.clone(), message: e.to_string() }
    }

    /// Appends examples as rows.
    pub fn write(&mut self, examples: Examples) -> Result<(), ShardError> {
        if examples.is_empty() {
            return Ok(());
        }
        self.stats.rows += examples.len() as u64;
        self.stats.tokens += examples.ids.len() as u64;
        let offsets: Vec<i32> = examples.offsets.iter().map(|&o| o as i32).collect();
        let item = match self.schema.field(0).data_type() {
            DataType::List(item) => item.clone(),
            _ => return Err(self.parquet_err("schema: input_ids is not a list")),
        };
        let ids = ListArray::try_new(
            item,
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Arc::new(UInt32Array::from(examples.ids)),
            None,
        )
        .map_err(|e| self.parquet_err(e))?;
        let b_start = UInt32Array::from(examples.segment_b_start);
        let batch = RecordBatch::try_new(self.schema.clone(), vec![Arc::new(ids) as ArrayRef, Arc::new(b_start)])
            .map_err(|e| self.parquet_err(e))?;
        self.writer.write(&batch).map_err(|e| self.parquet_err(e))?;
        Ok(())
    }

    /// Adds the reading and packing counts of the chunks written.
    pub fn add_stats(&mut self, read: &crate::chunk::ReadStats, pack: &crate::packing::PackStats) {
        self.stats.read.add(read);
        self.stats.pack.add(pack);
    }

    /// Writes the footer (with the counts), flushes to disk and renames into place.
    pub fn finish(mut self) -> Result<ShardEntry, ShardError> {
        let stats_json = serde_json::to_string(&self.stats).map_err(|e| self.parquet_err(e))?;
        self.writer.append_key_value_metadata(KeyValue::new(format::META_STATS.to_string(), stats_json));
        let path = self.final_path.clone();
        let sink =
            self.writer.into_inner().map_err(|e| ShardError::Parquet { path: path.clone(), message: e.to_string() })?;
        let HashingFile { inner, hasher, bytes } = sink;
        let file = inner.into_inner().map_err(|e| ShardError::io(&self.tmp_path, e.into_error()))?;
        file.sync_all().map_err(|e| ShardError::io(&self.tmp_path, e))?;
        drop(file);
        std::fs::rename(&self.tmp_path, &self.final_path).map_err(|e| ShardError::io(&self.final_path, e))?;
        if let Some(dir) = self.final_path.parent() {
            sync_dir(dir).map_err(|e| ShardError::io(dir, e))?;
        }
        Ok(ShardEntry { file: self.file_name, bytes, sha256: hex(&hasher.finalize()), stats: self.stats })
    }
}
