//! Writing a model file from float tensors, into a caller buffer (no allocation, so the core stays
//! `no_std`; the host's `electra export` allocates the buffer and writes it atomically).
//!
//! ```text
//! let len = model_file_len(&spec)?;            // exact size
//! let mut out = vec![0u8; len];
//! write_model_file(&spec, |name, shape| checkpoint.get(name, shape), &mut out)?;
//! ```

use super::error::WordRowMapError;
use super::format::*;
use super::labels::{self, LabelsError, LabelsSpec};
use super::layout::{align_up, Group, Layout, LayoutError, Span, TensorName};
use super::read::{check_word_row_map, count_lines, file_crc};
use crate::config::{ConfigError, ElectraConfig, HeadKind};
use crate::quant::quantize::{quantize_group_i4, quantize_group_i4_f16, quantize_row};
use core::fmt;
use postcard::ser_flavors::Size;

/// What to write besides the weights.
#[derive(Clone, Copy, Debug)]
pub struct ModelFileSpec<'v> {
    pub config: ElectraConfig,
    pub head: HeadKind,
    /// The raw `vocab.txt` to embed for on-device tokenization (one line per word embedding).
    pub vocab: Option<&'v [u8]>,
    /// A prebuilt tokenizer index over `vocab` (see `electra_core::tokenizer::build_index`).
    pub tokenizer_index: Option<&'v [u32]>,
    /// A classifier's label names and problem type. With them the file is format version 2;
    /// without, version 1 (what every earlier build wrote and reads).
    pub labels: Option<LabelsSpec<'v>>,
    /// The encoder linears to store as int4 with one scale per group of input channels (format
    /// version 4); `None`: every linear int8.
    pub int4: Option<Int4Tensors>,
    /// Store the word embedding table int4 with one scale per group of this many columns (format
    /// version 5; even, dividing `embedding_size`), quantized exactly as an int4 encoder linear;
    /// `None`: int8 rows. The position and token-type tables stay int8 either way.
    pub word_int4_group: Option<u32>,
    /// How the group scales of every int4 tensor are stored: f32, or f16 (format version 6; half
    /// the scale bytes). Must be f32 when nothing is int4.
    pub int4_scales: FloatType,
    /// How every bias and LayerNorm parameter is stored: f32, or f16 rounded to nearest (format
    /// version 7; half their bytes).
    pub biases_and_norms: FloatType,
}

/// The word embedding rows to keep (`electra export --keep-tokens-from`; format version 3).
#[derive(Clone, Copy, Debug)]
pub struct KeptWordRows<'k> {
    /// The kept vocab ids, strictly increasing; they must include `unk`.
    pub ids: &'k [u32],
    /// The id of `[UNK]`, whose row every dropped id reads.
    pub unk: u32,
}

/// Why a model file could not be written.
///
/// `#[non_exhaustive]`: a later version may add variants; match with a `_` arm.
#[derive(Debug)]
#[non_exhaustive]
pub enum WriteError<E> {
    /// The tensor source failed (a missing or misshaped tensor); its error is kept.
    Source(E),
    /// The source gave a tensor of the wrong length.
    SourceLength { tensor: TensorName, expected: usize, found: usize },
    /// The config is invalid.
    BadConfig(ConfigError),
    /// The config or head cannot be laid out.
    BadLayout(LayoutError),
    /// `out` is not exactly [`model_file_len`] bytes.
    BufferSize { needed: usize, found: usize },
    /// A weight is NaN or infinite.
    NonFinite { tensor: TensorName },
    /// The vocab does not have one line per word embedding.
    VocabSizeMismatch { lines: usize, vocab_size: usize },
    /// The labels do not fit the head (count, a newline in a name, a head without labels, …).
    BadLabels(LabelsError),
    /// The kept word rows are not sorted or not in the vocab.
    BadKeptRows(WordRowMapError),
    /// The kept word rows do not include `[UNK]`'s, which dropped ids read.
    UnkNotKept { unk: u32 },
    /// A group of the int4 tensor has a scale (`max |w| / 7`) beyond f16's largest finite value, so
    /// f16 group scales cannot hold it (`--scales f32` can).
    ScaleOutOfF16Range { tensor: TensorName, scale: f32 },
    /// A bias or LayerNorm value beyond f16's largest finite value, so f16 biases and LayerNorms
    /// cannot hold it (f32 ones can).
    ValueOutOfF16Range { tensor: TensorName, value: f32 },
    /// The header could not be encoded (a postcard error; not expected).
    Encode,
}

impl<E: fmt::Display> fmt::Display for WriteError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Source(e) => write!(f, "{e}"),
            Self::SourceLength { tensor, expected, found } => {
                write!(f, "tensor `{tensor}` has {found} values, {expected} expected")
            }
            Self::BadConfig(e) => write!(f, "invalid config: {e}"),
            Self::BadLayout(e) => write!(f, "cannot lay out the model: {e}"),
            Self::BufferSize { needed, found } => write!(f, "output buffer is {found} bytes, the file needs {needed}"),
            Self::NonFinite { tensor } => write!(f, "tensor `{tensor}` holds NaN or infinity"),
            Self::VocabSizeMismatch { lines, vocab_size } => {
                write!(f, "vocab has {lines} lines but the model has {vocab_size} word embeddings")
            }
            Self::BadLabels(e) => write!(f, "labels: {e}"),
            Self::BadKeptRows(e) => write!(f, "kept word embedding rows: {e}"),
            Self::UnkNotKept { unk } => write!(f, "kept word embedding rows lack [UNK] (id {unk})"),
            Self::ScaleOutOfF16Range { tensor, scale } => {
                write!(f, "tensor `{tensor}` has an int4 group scale of {scale}, beyond f16's range (65504)")
            }
            Self::ValueOutOfF16Range { tensor, value } => {
                write!(
                    f,
                    "tensor `{tensor}` holds {value}, beyond f16's range (65504): store biases and LayerNorms as f32"
                )
            }
            Self::Encode => write!(f, "model file header could not be encoded"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for WriteError<E> {}

/// The header and layout of a file, with the data offset settled: the header's varints grow with
/// the offsets they hold, so the offset is recomputed until it no longer moves.
fn plan<E>(spec: &ModelFileSpec, keep: Option<KeptWordRows>) -> Result<(FileHeader, Layout, usize), WriteError<E>> {
    spec.config.validate().map_err(WriteError::BadConfig)?;
    let word_rows = match keep {
        Some(keep) => {
            // The map as the file will hold it must pass the reader's own check.
            let unk_row = keep.ids.binary_search(&keep.unk);
            if let Some((row, pair)) = keep.ids.windows(2).enumerate().find(|(_, w)| w[1] <= w[0]) {
                return Err(WriteError::BadKeptRows(WordRowMapError::NotIncreasing {
                    row: row + 1,
                    id: pair[1],
                    previous: pair[0],
                }));
            }
            if let Some((row, &id)) = keep.ids.iter().enumerate().find(|(_, &id)| id as usize >= spec.config.vocab_size)
            {
                let vocab_size = spec.config.vocab_size;
                return Err(WriteError::BadKeptRows(WordRowMapError::IdOutOfRange { row, id, vocab_size }));
            }
            if unk_row.is_err() {
                return Err(WriteError::UnkNotKept { unk: keep.unk });
            }
            Some(keep.ids.len())
        }
        None => None,
    };
    if let Some(vocab) = spec.vocab {
        let lines = count_lines(vocab);
        if lines != spec.config.vocab_size {
            return Err(WriteError::VocabSizeMismatch { lines, vocab_size: spec.config.vocab_size });
        }
    }
    let vocab_bytes = spec.vocab.map(|v| v.len());
    let index_words = spec.tokenizer_index.map(|i| i.len());
    let labels_bytes =
        spec.labels.as_ref().map(|l| labels::section_len(l, spec.head)).transpose().map_err(WriteError::BadLabels)?;
    let mut data_offset = align_up(PREAMBLE_LEN).ok_or(WriteError::BadLayout(LayoutError::TooLarge))?;
    loop {
        let layout = Layout::new(
            &spec.config,
            spec.head,
            data_offset,
            vocab_bytes,
            index_words,
            labels_bytes,
            word_rows,
            spec.word_int4_group,
            spec.int4,
            spec.int4_scales,
            spec.biases_and_norms,
        )
        .map_err(WriteError::BadLayout)?;
        let header = FileHeader {
            config: spec.config,
            head: spec.head,
            quantization: Quantization::with_word_int4(spec.word_int4_group),
            data_offset: data_offset as u64,
            tensor_count: layout.tensor_count() as u32,
            vocab_bytes: vocab_bytes.map(|n| n as u64),
            tokenizer_index_words: index_words.map(|n| n as u64),
            labels_bytes: labels_bytes.map(|n| n as u64),
            word_rows: word_rows.map(|n| n as u64),
            int4: spec.int4,
            int4_scales: spec.int4_scales,
            biases_and_norms: spec.biases_and_norms,
        };
        let mut header_len = header.encoded_len(header.version()).map_err(|_| WriteError::Encode)?;
        layout.try_for_each_entry(|e| {
            header_len +=
                postcard::serialize_with_flavor(&entry(e), Size::default()).map_err(|_| WriteError::Encode)?;
            Ok(())
        })?;
        let needed = align_up(PREAMBLE_LEN + header_len).ok_or(WriteError::BadLayout(LayoutError::TooLarge))?;
        if needed == data_offset {
            return Ok((header, layout, header_len));
        }
        data_offset = needed;
    }
}

fn entry(e: &super::layout::EntrySpec) -> TensorEntry<'_> {
    TensorEntry {
        name: e.name.as_str(),
        dtype: e.dtype,
        shape: [e.shape[0] as u64, e.shape[1] as u64],
        offset: e.span.offset as u64,
        len: e.span.len as u64,
    }
}

/// The exact length of the file [`write_model_file`] writes for `spec` (`E` is the source's
/// error type, unused here, so that one error type serves both calls).
pub fn model_file_len<E>(spec: &ModelFileSpec) -> Result<usize, WriteError<E>> {
    model_file_len_keeping(spec, None)
}

/// [`model_file_len`] for a file that keeps only the word embedding rows `keep` (when given).
pub fn model_file_len_keeping<E>(spec: &ModelFileSpec, keep: Option<KeptWordRows>) -> Result<usize, WriteError<E>> {
    plan(spec, keep).map(|(_, layout, _)| layout.file_len)
}

/// Writes a complete model file into `out` (exactly [`model_file_len`] bytes), quantizing every
/// linear weight and embedding table per row to int8 (or in int4 groups where `spec` says so). The version in the preamble is the lowest that
/// holds the file ([`FileHeader::version`]). `source(name, shape)` returns the float32
/// tensor `name` (HF name) of that shape, row-major (`Linear.weight` is `[out, in]`).
pub fn write_model_file<'s, E>(
    spec: &ModelFileSpec,
    source: impl FnMut(&str, &[usize]) -> Result<&'s [f32], E>,
    out: &mut [u8],
) -> Result<usize, WriteError<E>> {
    write_model_file_keeping(spec, None, source, out)
}

/// [`write_model_file`] keeping only the word embedding rows of the ids in `keep` (when given),
/// with the id → row map that sends every other id to `[UNK]`'s row (format version 3; out is
/// exactly [`model_file_len_keeping`] bytes). Each kept row is quantized exactly as in a full file.
pub fn write_model_file_keeping<'s, E>(
    spec: &ModelFileSpec,
    keep: Option<KeptWordRows>,
    mut source: impl FnMut(&str, &[usize]) -> Result<&'s [f32], E>,
    out: &mut [u8],
) -> Result<usize, WriteError<E>> {
    let (header, layout, header_len) = plan(spec, keep)?;
    if out.len() != layout.file_len {
        return Err(WriteError::BufferSize { needed: layout.file_len, found: out.len() });
    }
    out.fill(0);
    out[..MAGIC.len()].copy_from_slice(&MAGIC);
    out[VERSION_AT..VERSION_AT + 4].copy_from_slice(&header.version().to_le_bytes());
    out[HEADER_LEN_AT..HEADER_LEN_AT + 4].copy_from_slice(&(header_len as u32).to_le_bytes());
    out[FILE_LEN_AT..FILE_LEN_AT + 8].copy_from_slice(&(layout.file_len as u64).to_le_bytes());
    let mut at = PREAMBLE_LEN;
    at += header.encode(header.version(), &mut out[at..]).map_err(|_| WriteError::Encode)?;
    layout.try_for_each_entry(|e| {
        at += postcard::to_slice(&entry(e), &mut out[at..]).map_err(|_| WriteError::Encode)?.len();
        Ok(())
    })?;
    debug_assert_eq!(at, PREAMBLE_LEN + header_len);

    let mut fetch = |name: TensorName, shape: &[usize]| -> Result<&'s [f32], WriteError<E>> {
        let values = source(name.as_str(), shape).map_err(WriteError::Source)?;
        let expected: usize = shape.iter().product();
        if values.len() != expected {
            return Err(WriteError::SourceLength { tensor: name, expected, found: values.len() });
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(WriteError::NonFinite { tensor: name });
        }
        Ok(values)
    };
    let f16_scales = spec.int4_scales == FloatType::F16;
    let f16_params = spec.biases_and_norms == FloatType::F16;
    let write_params = |out: &mut [u8], name: TensorName, span: Span, values: &[f32]| {
        write_floats(out, span, values, f16_params)
            .map_err(|value| WriteError::ValueOutOfF16Range { tensor: name, value })
    };
    layout.try_for_each_group(|group| match group {
        Group::Linear(p, s) => {
            let weight = fetch(p.name(".weight"), &[s.n_out, s.n_in])?;
            match s.group {
                None => write_quantized_rows(out, weight, s.n_in, s.weight, s.scale),
                Some(group) => write_int4_groups(out, weight, group, s.weight, s.scale, f16_scales)
                    .map_err(|scale| WriteError::ScaleOutOfF16Range { tensor: p.name(".weight"), scale })?,
            }
            write_params(out, p.name(".bias"), s.bias, fetch(p.name(".bias"), &[s.n_out])?)
        }
        Group::Embedding(p, s) => {
            // The int8 table's row, or the int4 table's groups (the layout checked that the group
            // size is even and divides the row), with their scales.
            let write_rows = |out: &mut [u8], weight: &[f32], q: Span, scale: Span| match s.group {
                None => {
                    write_quantized_rows(out, weight, s.dim, q, scale);
                    Ok(())
                }
                Some(group) => write_int4_groups(out, weight, group, q, scale, f16_scales)
                    .map_err(|scale| WriteError::ScaleOutOfF16Range { tensor: p.name(".weight"), scale }),
            };
            match keep.filter(|_| s == layout.word_embeddings) {
                None => {
                    let weight = fetch(p.name(".weight"), &[s.rows, s.dim])?;
                    write_rows(out, weight, s.weight, s.scale)
                }
                Some(keep) => {
                    let weight = fetch(p.name(".weight"), &[spec.config.vocab_size, s.dim])?;
                    // Bytes of one row's values and of its scales: one row per kept id.
                    let (q_width, scale_width) = (s.weight.len / s.rows.max(1), s.scale.len / s.rows.max(1));
                    // One row at a time: a row's values and scales depend on that row alone.
                    for (row, &id) in keep.ids.iter().enumerate() {
                        let at = |span: Span, width: usize| Span { offset: span.offset + row * width, len: width };
                        let w = &weight[id as usize * s.dim..(id as usize + 1) * s.dim];
                        write_rows(out, w, at(s.weight, q_width), at(s.scale, scale_width))?;
                    }
                    Ok(())
                }
            }
        }
        Group::WordRowMap(span) => {
            if let Some(keep) = keep {
                // `plan` checked that `[UNK]` is kept.
                let unk_row = keep.ids.binary_search(&keep.unk).unwrap_or(0) as u32;
                let words = core::iter::once(unk_row).chain(keep.ids.iter().copied());
                for (chunk, word) in out[span.offset..span.offset + span.len].chunks_exact_mut(4).zip(words) {
                    chunk.copy_from_slice(&word.to_le_bytes());
                }
                let map: &[u32] = bytemuck::try_cast_slice(&out[span.offset..span.offset + span.len]).unwrap_or(&[]);
                debug_assert!(map.is_empty() || check_word_row_map(map, spec.config.vocab_size).is_ok());
            }
            Ok(())
        }
        Group::LayerNorm(p, s) => {
            write_params(out, p.name(".weight"), s.weight, fetch(p.name(".weight"), &[s.n])?)?;
            write_params(out, p.name(".bias"), s.bias, fetch(p.name(".bias"), &[s.n])?)
        }
        Group::Bias(p, span, n) => write_params(out, p.name(".bias"), span, fetch(p.name(".bias"), &[n])?),
        Group::Vocab(span) => {
            if let Some(vocab) = spec.vocab {
                out[span.offset..span.offset + span.len].copy_from_slice(vocab);
            }
            Ok(())
        }
        Group::TokenizerIndex(span) => {
            let words = spec.tokenizer_index.unwrap_or(&[]);
            for (chunk, word) in out[span.offset..span.offset + span.len].chunks_exact_mut(4).zip(words) {
                chunk.copy_from_slice(&word.to_le_bytes());
            }
            Ok(())
        }
        Group::Labels(span) => {
            if let Some(spec) = &spec.labels {
                labels::write_section(spec, &mut out[span.offset..span.offset + span.len]);
            }
            Ok(())
        }
    })?;
    let crc = file_crc(out);
    out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
    Ok(layout.file_len)
}

/// Quantizes `weight` (`rows × cols`, row-major) one row at a time into the int8 span and the
/// row scales into the scale span (which the layout always places after the int8 one).
fn write_quantized_rows(out: &mut [u8], weight: &[f32], cols: usize, q_span: Span, scale_span: Span) {
    let (left, right) = out.split_at_mut(scale_span.offset);
    let q: &mut [i8] = bytemuck::cast_slice_mut(&mut left[q_span.offset..q_span.offset + q_span.len]);
    let scale_bytes = &mut right[..scale_span.len];
    let rows = q.chunks_exact_mut(cols).zip(weight.chunks_exact(cols));
    for ((q_row, w_row), scale) in rows.zip(scale_bytes.chunks_exact_mut(4)) {
        scale.copy_from_slice(&quantize_row(w_row, q_row).to_le_bytes());
    }
}

/// Quantizes `weight` (row-major, groups of `group` never straddling a row: the layout checked
/// that `group` divides the row width) one group at a time into the int4 span, and the group
/// scales, in the same order, into the scale span (after the int4 one): f32, or f16 when
/// `f16_scales`. `Err(scale)`: a group's scale is beyond f16's range.
fn write_int4_groups(
    out: &mut [u8],
    weight: &[f32],
    group: usize,
    q_span: Span,
    scale_span: Span,
    f16_scales: bool,
) -> Result<(), f32> {
    let (left, right) = out.split_at_mut(scale_span.offset);
    let q = &mut left[q_span.offset..q_span.offset + q_span.len];
    let scale_bytes = &mut right[..scale_span.len];
    let groups = q.chunks_exact_mut(group / 2).zip(weight.chunks_exact(group));
    if f16_scales {
        for ((q_group, w_group), scale) in groups.zip(scale_bytes.chunks_exact_mut(2)) {
            scale.copy_from_slice(&quantize_group_i4_f16(w_group, q_group)?.to_le_bytes());
        }
    } else {
        for ((q_group, w_group), scale) in groups.zip(scale_bytes.chunks_exact_mut(4)) {
            scale.copy_from_slice(&quantize_group_i4(w_group, q_group).to_le_bytes());
        }
    }
    Ok(())
}

/// Writes `values` into `span` as f32, or as f16 rounded to nearest when `f16`. `Err(value)`: a
/// value beyond f16's range.
fn write_floats(out: &mut [u8], span: Span, values: &[f32], f16: bool) -> Result<(), f32> {
    let bytes = &mut out[span.offset..span.offset + span.len];
    if !f16 {
        for (chunk, v) in bytes.chunks_exact_mut(4).zip(values) {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        return Ok(());
    }
    for (chunk, &v) in bytes.chunks_exact_mut(2).zip(values) {
        let half = half::f16::from_f32(v);
        if !half.is_finite() {
            return Err(v);
        }
        chunk.copy_from_slice(&half.to_bits().to_le_bytes());
    }
    Ok(())
}
