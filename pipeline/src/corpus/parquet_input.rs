//! `.parquet` inputs: one document per row of a string column (`--text-field`, default `text`).
//!
//! Offsets inside a Parquet input are those of its row groups: row group `g` starts at the sum of
//! the uncompressed sizes of the text column in the row groups before it. A row group is the unit a
//! shard boundary can fall between, so a row group is never split across shards.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::parquet_guard::{catch_decoder_panic, check_any_row_group, check_footer};
use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;

use super::text::push_document;
use super::{CorpusError, DocSink};

/// Rows decoded at a time.
const READ_BATCH_ROWS: usize = 1024;

/// Where the text column is and how big each row group is.
#[derive(Clone, Debug)]
pub struct ParquetLayout {
    /// Top-level column index of the text column.
    pub root_index: usize,
    /// Start offset of each row group.
    pub row_group_starts: Vec<u64>,
    /// Size of each row group's text column (at least 1, so that every row group owns its start offset).
    pub row_group_sizes: Vec<u64>,
}

impl ParquetLayout {
    pub fn total(&self) -> u64 {
        self.row_group_sizes.iter().sum()
    }
}

fn parquet_error(path: &Path, e: impl std::fmt::Display) -> CorpusError {
    CorpusError::Parquet { path: path.to_path_buf(), message: e.to_string() }
}

fn metadata(path: &Path) -> Result<ArrowReaderMetadata, CorpusError> {
    let file = File::open(path).map_err(|e| CorpusError::io(path, e))?;
    // The crate's footer parser can spin on a crafted footer (issue 17): bounded first.
    check_footer(&file).map_err(|message| parquet_error(path, message))?;
    catch_decoder_panic(|| ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()))
        .map_err(|message| parquet_error(path, message))?
        .map_err(|e| parquet_error(path, e))
}

fn is_text_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    )
}

/// Reads the footer of `path` (the decompressed copy for `.parquet.gz`/`.zst`, whose name the messages
/// use as `shown`) and locates the text column.
pub(crate) fn plan(path: &Path, shown: &Path, text_field: &str) -> Result<ParquetLayout, CorpusError> {
    let meta = metadata(path).map_err(|e| match e {
        CorpusError::Parquet { message, .. } => parquet_error(shown, message),
        other => other,
    })?;
    let schema = meta.schema();
    let root_index =
        schema.fields().iter().position(|f| f.name() == text_field && is_text_type(f.data_type())).ok_or_else(
            || CorpusError::NoTextColumn {
                path: shown.to_path_buf(),
                column: text_field.to_string(),
                found: schema
                    .fields()
                    .iter()
                    .map(|f| format!("{} ({})", f.name(), f.data_type()))
                    .collect::<Vec<_>>()
                    .join(", "),
            },
        )?;
    let descr = meta.metadata().file_metadata().schema_descr();
    let leaf = (0..descr.num_columns())
        .find(|&leaf| descr.get_column_root_idx(leaf) == root_index)
        .ok_or_else(|| parquet_error(shown, "text column has no leaf column"))?;
    let mut row_group_starts = Vec::new();
    let mut row_group_sizes = Vec::new();
    let mut at = 0u64;
    for rg in meta.metadata().row_groups() {
        let size = (rg.column(leaf).uncompressed_size().max(0) as u64).max(1);
        row_group_starts.push(at);
        row_group_sizes.push(size);
        at += size;
    }
    Ok(ParquetLayout { root_index, row_group_starts, row_group_sizes })
}

/// Documents of the row groups that start in `[start, end)`.
pub(crate) fn read_range(
    path: &Path,
    shown: &Path,
    layout: &ParquetLayout,
    start: u64,
    end: u64,
    sink: &mut dyn DocSink,
) -> Result<(), CorpusError> {
    let groups: Vec<usize> =
        (0..layout.row_group_starts.len()).filter(|&g| (start..end).contains(&layout.row_group_starts[g])).collect();
    if groups.is_empty() {
        return Ok(());
    }
    let err = |e: parquet::errors::ParquetError| parquet_error(shown, e);
    let meta = metadata(path)?;
    let mask = ProjectionMask::roots(meta.metadata().file_metadata().schema_descr(), [layout.root_index]);
    let file = File::open(path).map_err(|e| CorpusError::io(path, e))?;
    // Row number of the first row of each selected group, for messages about skipped rows.
    let mut first_row: Vec<u64> = Vec::with_capacity(groups.len());
    let row_groups = meta.metadata().row_groups();
    for &g in &groups {
        first_row.push(row_groups[..g].iter().map(|rg| rg.num_rows().max(0) as u64).sum());
    }
    for (i, &g) in groups.iter().enumerate() {
        let clone = file.try_clone().map_err(|e| CorpusError::io(path, e))?;
        // Every call into the parquet crate goes through the one guard (crate::parquet_guard), after its
        // page headers are walked, bounded (the crate's decoder can loop on a corrupt one).
        let guarded = |message: String| parquet_error(shown, message);
        check_any_row_group(&file, meta.metadata(), g).map_err(guarded)?;
        let mut reader = catch_decoder_panic(|| {
            ParquetRecordBatchReaderBuilder::new_with_metadata(clone, meta.clone())
                .with_projection(mask.clone())
                .with_row_groups(vec![g])
                .with_batch_size(READ_BATCH_ROWS)
                .build()
        })
        .map_err(guarded)?
        .map_err(err)?;
        let mut row = first_row[i];
        while let Some(batch) = catch_decoder_panic(|| reader.next()).map_err(guarded)? {
            let batch: RecordBatch = batch.map_err(|e| parquet_error(shown, e))?;
            let column = batch.column(0);
            for r in 0..column.len() {
                if column.is_null(r) {
                    sink.skipped_record(shown, &format!("row {row}"), "text is null");
                } else {
                    let text = cell_text(column.as_ref(), r, sink);
                    push_document(&text, sink)?;
                }
                row += 1;
            }
        }
        sink.consumed(layout.row_group_sizes[g]);
    }
    Ok(())
}

/// The text of one non-null cell; binary cells are decoded lossily and counted as bad lines when invalid.
fn cell_text<'a>(column: &'a dyn Array, row: usize, sink: &mut dyn DocSink) -> std::borrow::Cow<'a, str> {
    use std::borrow::Cow;
    let bytes: &[u8] = match column.data_type() {
        DataType::Utf8 => return Cow::Borrowed(column.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => return Cow::Borrowed(column.as_string::<i64>().value(row)),
        DataType::Utf8View => return Cow::Borrowed(column.as_string_view().value(row)),
        DataType::Binary => column.as_binary::<i32>().value(row),
        DataType::LargeBinary => column.as_binary::<i64>().value(row),
        DataType::BinaryView => column.as_binary_view().value(row),
        // `plan` only accepts the types above.
        _ => return Cow::Borrowed(""),
    };
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => {
            sink.bad_line();
            String::from_utf8_lossy(bytes)
        }
    }
}

/// Keeps the decompressed copy of a `.parquet.gz`/`.parquet.zst` input alive for the whole run.
pub(crate) type DecompressedCopy = Arc<tempfile::TempPath>;
