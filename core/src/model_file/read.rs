//! [`Model::from_bytes`]: every check of a model file, then zero-copy views of its tensors.

use super::error::{ModelFileError, WordRowMapError};
use super::format::*;
use super::labels::{self, Labels};
use super::layout::{align_up, Group, LayerSpans, Layout, LinearSpans, Span, TensorName};
use crate::config::{ElectraConfig, HeadKind};
use crate::quant::floats::Floats;
use crate::quant::kernels::int4::Scales;
use crate::quant::weights::{QEmbedding, QLayerNorm, QLinear};

/// A model file checked and borrowed in place. Cheap to copy; holds no tensor data of its own.
#[derive(Clone, Copy, Debug)]
pub struct Model<'a> {
    bytes: &'a [u8],
    layout: Layout,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// CRC32 of a whole file except the four bytes that store it.
pub(crate) fn file_crc(bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&bytes[..CRC_AT]);
    hasher.update(&bytes[CRC_AT + 4..]);
    hasher.finalize()
}

impl<'a> Model<'a> {
    /// Checks `bytes` (magic, version, length, CRC32, header, every directory entry against the
    /// layout the config implies, every float parameter) and borrows its tensors in place.
    ///
    /// `bytes` must start at a 4-byte aligned address. Costs one pass over the file for the CRC.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, ModelFileError> {
        Self::parse(bytes, true)
    }

    /// [`Model::from_bytes`] without the CRC pass, for bytes that already passed `from_bytes` (a
    /// host re-borrowing a file it checked at load, firmware that checked its flash image once).
    /// Every other check still runs, so damage cannot cause a panic or an out-of-bounds read, only
    /// wrong numbers.
    pub fn from_bytes_skip_checksum(bytes: &'a [u8]) -> Result<Self, ModelFileError> {
        Self::parse(bytes, false)
    }

    fn parse(bytes: &'a [u8], verify_checksum: bool) -> Result<Self, ModelFileError> {
        if bytes.len() < PREAMBLE_LEN {
            return Err(ModelFileError::TooShort { len: bytes.len() });
        }
        if bytes[..MAGIC.len()] != MAGIC {
            return Err(ModelFileError::NotAModelFile);
        }
        let version = u32_at(bytes, VERSION_AT);
        if version == 0 {
            return Err(ModelFileError::UnknownVersion { found: version });
        }
        if version > FORMAT_VERSION {
            return Err(ModelFileError::NewerVersion { found: version, supported: FORMAT_VERSION });
        }
        if cfg!(target_endian = "big") {
            return Err(ModelFileError::BigEndianMachine);
        }
        let address = bytes.as_ptr() as usize;
        if !address.is_multiple_of(BUFFER_ALIGN) {
            return Err(ModelFileError::Misaligned { address, required: BUFFER_ALIGN });
        }
        let expected_len = u64_at(bytes, FILE_LEN_AT);
        if expected_len != bytes.len() as u64 {
            return Err(ModelFileError::LengthMismatch { expected: expected_len, actual: bytes.len() });
        }
        if verify_checksum {
            let stored = u32_at(bytes, CRC_AT);
            let computed = file_crc(bytes);
            if stored != computed {
                return Err(ModelFileError::ChecksumMismatch { stored, computed });
            }
        }
        if u32_at(bytes, RESERVED_AT) != 0 {
            return Err(ModelFileError::ReservedNotZero);
        }

        let header_len = u32_at(bytes, HEADER_LEN_AT) as usize;
        let header_end = PREAMBLE_LEN.saturating_add(header_len);
        let header_bytes = bytes.get(PREAMBLE_LEN..header_end).ok_or(ModelFileError::HeaderOutOfRange {
            header_len: header_len as u64,
            data_offset: 0,
            file_len: bytes.len(),
        })?;
        // Each version has its own header encoding (version 1 lacks `labels_bytes`).
        let (header, mut directory) =
            FileHeader::decode(version, header_bytes).ok_or(ModelFileError::BadHeader { part: "fixed header" })?;
        header.config.validate().map_err(ModelFileError::BadConfig)?;
        if !header.quantization.is_supported() {
            return Err(ModelFileError::UnsupportedQuantization);
        }
        if align_up(header_end).map(|a| a as u64) != Some(header.data_offset) || header.data_offset > bytes.len() as u64
        {
            return Err(ModelFileError::HeaderOutOfRange {
                header_len: header_len as u64,
                data_offset: header.data_offset,
                file_len: bytes.len(),
            });
        }
        let too_large = ModelFileError::BadLayout(super::layout::LayoutError::TooLarge);
        let to_usize = |v: Option<u64>| -> Result<Option<usize>, ModelFileError> {
            v.map(|n| usize::try_from(n).map_err(|_| too_large.clone())).transpose()
        };
        let layout = Layout::new(
            &header.config,
            header.head,
            header.data_offset as usize,
            to_usize(header.vocab_bytes)?,
            to_usize(header.tokenizer_index_words)?,
            to_usize(header.labels_bytes)?,
            to_usize(header.word_rows)?,
            header.quantization.word_int4_group(),
            header.int4,
            header.int4_scales,
            header.biases_and_norms,
        )
        .map_err(ModelFileError::BadLayout)?;

        let expected = layout.tensor_count();
        if header.tensor_count as usize != expected {
            return Err(ModelFileError::TensorCountMismatch { expected, found: header.tensor_count });
        }
        let mut index = 0;
        layout.try_for_each_entry(|spec| {
            let (entry, rest) = postcard::take_from_bytes::<TensorEntry>(directory)
                .map_err(|_| ModelFileError::BadHeader { part: "tensor directory entry" })?;
            directory = rest;
            let in_file = entry.offset.checked_add(entry.len).is_some_and(|end| end <= bytes.len() as u64);
            if !in_file {
                return Err(ModelFileError::TensorOutOfRange {
                    tensor: truncated_name(entry.name),
                    offset: entry.offset,
                    len: entry.len,
                    file_len: bytes.len(),
                });
            }
            let mismatch = |field| ModelFileError::TensorMismatch { index, expected: spec.name.clone(), field };
            if entry.name != spec.name.as_str() {
                return Err(mismatch("name"));
            }
            if entry.dtype != spec.dtype {
                return Err(mismatch("dtype"));
            }
            if entry.shape != [spec.shape[0] as u64, spec.shape[1] as u64] {
                return Err(mismatch("shape"));
            }
            if entry.offset != spec.span.offset as u64 {
                return Err(mismatch("offset"));
            }
            if entry.len != spec.span.len as u64 {
                return Err(mismatch("length"));
            }
            index += 1;
            Ok(())
        })?;
        if !directory.is_empty() {
            return Err(ModelFileError::BadHeader { part: "bytes after the tensor directory" });
        }
        if layout.file_len != bytes.len() {
            return Err(ModelFileError::LengthMismatch { expected: layout.file_len as u64, actual: bytes.len() });
        }

        let model = Self { bytes, layout };
        model.check_values()?;
        if let Some(span) = model.layout.word_row_map {
            check_word_row_map(model.u32s(span)?, header.config.vocab_size).map_err(ModelFileError::BadWordRowMap)?;
        }
        if let Some(vocab) = model.vocab() {
            let lines = count_lines(vocab);
            if lines != header.config.vocab_size {
                return Err(ModelFileError::VocabSizeMismatch { lines, vocab_size: header.config.vocab_size });
            }
            if let Some(index) = model.layout.tokenizer_index {
                // The index's header holds its shape (token count, line block shift), and opening it checks the
                // index's length against that shape and the vocab's length, O(1): no pass over the vocab to size
                // it (`index_len` makes one, for a builder that has no index yet). The header's token count must
                // be the vocab's lines, counted above.
                let tokenizer = crate::tokenizer::Tokenizer::new(vocab, model.u32s(index)?)
                    .map_err(ModelFileError::BadTokenizerIndex)?;
                if tokenizer.vocab_size() != lines {
                    return Err(ModelFileError::BadTokenizerIndex(crate::tokenizer::VocabError::IndexMismatch));
                }
            }
        }
        if let Some(span) = model.layout.labels {
            labels::parse(model.raw(span)?, model.layout.head).map_err(ModelFileError::BadLabels)?;
        }
        Ok(model)
    }

    /// Every float parameter must be finite, and every scale non-negative: a file can carry a valid
    /// CRC and still have been written wrong.
    fn check_values(&self) -> Result<(), ModelFileError> {
        // Each value is widened once (f16 ones exactly), whatever its storage.
        let check = |name: TensorName, values: Floats<'a>, is_scale: bool| match (0..values.len())
            .map(|i| values.get(i))
            .position(|v| !v.is_finite() || (is_scale && v < 0.0))
        {
            Some(index) => Err(ModelFileError::BadValue { tensor: name, index }),
            None => Ok(()),
        };
        self.layout.try_for_each_group(|group| match group {
            Group::Linear(p, s) => {
                check(p.name(".weight_scale"), self.scales(s.scale, s.group.is_some())?, true)?;
                check(p.name(".bias"), self.biases_and_norms(s.bias)?, false)
            }
            Group::LayerNorm(p, s) => {
                check(p.name(".weight"), self.biases_and_norms(s.weight)?, false)?;
                check(p.name(".bias"), self.biases_and_norms(s.bias)?, false)
            }
            Group::Embedding(p, s) => check(p.name(".weight_scale"), self.scales(s.scale, s.group.is_some())?, true),
            Group::Bias(p, span, _) => check(p.name(".bias"), self.biases_and_norms(span)?, false),
            Group::Vocab(_) | Group::TokenizerIndex(_) | Group::Labels(_) | Group::WordRowMap(_) => Ok(()),
        })
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &ElectraConfig {
        &self.layout.config
    }

    /// Which output head the model has.
    pub fn head(&self) -> HeadKind {
        self.layout.head
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The embedded `vocab.txt`, if the file has one.
    pub fn vocab(&self) -> Option<&'a [u8]> {
        self.layout.vocab.and_then(|s| self.bytes.get(s.offset..s.offset + s.len))
    }

    /// The embedded prebuilt tokenizer index, if the file has one.
    pub fn tokenizer_index(&self) -> Option<&'a [u32]> {
        self.layout.tokenizer_index.and_then(|s| self.u32s(s).ok())
    }

    /// The classifier's label names (HF `id2label`, in id order) and problem type, if the file has
    /// them (format version 2; checked in `from_bytes` against the head's `num_labels`).
    pub fn labels(&self) -> Option<Labels<'a>> {
        let span = self.layout.labels?;
        labels::parse(self.bytes.get(span.offset..span.offset + span.len)?, self.layout.head).ok()
    }

    /// The id → row map of a pruned word embedding table (format version 3), if the file has one:
    /// word 0 is `[UNK]`'s row, words `1..` the kept ids in increasing order (see `format`).
    pub fn word_row_map(&self) -> Option<&'a [u32]> {
        self.layout.word_row_map.and_then(|s| self.u32s(s).ok())
    }

    /// Which encoder linears are int4 and their group size (format version 4), if any.
    pub fn int4_tensors(&self) -> Option<crate::model_file::Int4Tensors> {
        self.layout.int4
    }

    /// How the int4 group scales are stored (f16: format version 6).
    pub fn int4_scales(&self) -> FloatType {
        self.layout.int4_scales
    }

    /// How the biases and LayerNorm parameters are stored (f16: format version 7).
    pub fn biases_and_norms_type(&self) -> FloatType {
        self.layout.biases_and_norms
    }

    /// The group size of the int4 word embedding table (format version 5), if it is int4.
    pub fn word_embeddings_int4_group(&self) -> Option<usize> {
        self.layout.word_embeddings.group
    }

    /// The format version in the file's preamble (1; 2 with labels; 3 with pruned word embeddings;
    /// 4 with int4 encoder weights; 5 with int4 word embeddings; 6 with f16 int4 group scales; 7 with
    /// f16 biases and LayerNorms).
    pub fn format_version(&self) -> u32 {
        u32_at(self.bytes, VERSION_AT)
    }

    /// The WordPiece tokenizer over the embedded vocab and index (both checked in `from_bytes`),
    /// if the file has them: text in, token ids out, on the device.
    pub fn tokenizer(&self) -> Option<crate::tokenizer::Tokenizer<'a>> {
        crate::tokenizer::Tokenizer::new(self.vocab()?, self.tokenizer_index()?).ok()
    }

    /// Where every tensor lies (what `electra inspect` tabulates).
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn raw(&self, span: Span) -> Result<&'a [u8], ModelFileError> {
        self.bytes.get(span.offset..span.offset + span.len).ok_or(ModelFileError::TensorOutOfRange {
            tensor: TensorName::new(),
            offset: span.offset as u64,
            len: span.len as u64,
            file_len: self.bytes.len(),
        })
    }

    fn misaligned(&self) -> ModelFileError {
        ModelFileError::Misaligned { address: self.bytes.as_ptr() as usize, required: BUFFER_ALIGN }
    }

    fn f32s(&self, span: Span) -> Result<&'a [f32], ModelFileError> {
        bytemuck::try_cast_slice(self.raw(span)?).map_err(|_| self.misaligned())
    }

    fn f16s(&self, span: Span) -> Result<&'a [u16], ModelFileError> {
        bytemuck::try_cast_slice(self.raw(span)?).map_err(|_| self.misaligned())
    }

    /// The bias or LayerNorm parameter at `span`: f32, or f16 in a file with f16 biases and
    /// LayerNorms (format version 7).
    pub(crate) fn biases_and_norms(&self, span: Span) -> Result<Floats<'a>, ModelFileError> {
        match self.layout.biases_and_norms {
            FloatType::F16 => Ok(Floats::F16(self.f16s(span)?)),
            FloatType::F32 => Ok(Floats::F32(self.f32s(span)?)),
        }
    }

    /// The scales at `span`: f32, or f16 for an int4 tensor's (`int4`) in a file with f16 group
    /// scales (format version 6).
    pub(crate) fn scales(&self, span: Span, int4: bool) -> Result<Scales<'a>, ModelFileError> {
        if int4 && self.layout.int4_scales == FloatType::F16 {
            Ok(Scales::F16(self.f16s(span)?))
        } else {
            Ok(Scales::F32(self.f32s(span)?))
        }
    }

    fn u32s(&self, span: Span) -> Result<&'a [u32], ModelFileError> {
        bytemuck::try_cast_slice(self.raw(span)?).map_err(|_| self.misaligned())
    }

    fn i8s(&self, span: Span) -> Result<&'a [i8], ModelFileError> {
        Ok(bytemuck::cast_slice(self.raw(span)?))
    }

    pub(crate) fn linear(&self, s: LinearSpans) -> Result<QLinear<'a>, ModelFileError> {
        Ok(QLinear {
            weight: self.i8s(s.weight)?,
            scale: self.scales(s.scale, s.group.is_some())?,
            bias: self.biases_and_norms(s.bias)?,
            n_out: s.n_out,
            n_in: s.n_in,
            group: s.group,
            packed: None,
        })
    }

    pub(crate) fn layer_norm(&self, s: super::layout::LayerNormSpans) -> Result<QLayerNorm<'a>, ModelFileError> {
        Ok(QLayerNorm {
            weight: self.biases_and_norms(s.weight)?,
            bias: self.biases_and_norms(s.bias)?,
            eps: self.layout.config.layer_norm_eps,
        })
    }

    pub(crate) fn embedding(&self, s: super::layout::EmbeddingSpans) -> Result<QEmbedding<'a>, ModelFileError> {
        // Only the word table is ever pruned; the map belongs to it alone.
        let row_map = match self.layout.word_row_map {
            Some(map) if s == self.layout.word_embeddings => Some(self.u32s(map)?),
            _ => None,
        };
        Ok(QEmbedding {
            weight: self.i8s(s.weight)?,
            scale: self.scales(s.scale, s.group.is_some())?,
            rows: s.rows,
            dim: s.dim,
            group: s.group,
            row_map,
        })
    }

    pub(crate) fn layer_spans(&self, index: usize) -> LayerSpans {
        self.layout.layer(index)
    }
}

/// Checks a pruned word table's id → row map (`rows + 1` words, see `format`): `[UNK]`'s row is a
/// row, and the ids are in the vocab and strictly increasing.
pub(crate) fn check_word_row_map(map: &[u32], vocab_size: usize) -> Result<(), WordRowMapError> {
    let (&unk_row, ids) = map.split_first().unwrap_or((&0, &[]));
    if unk_row as usize >= ids.len() {
        return Err(WordRowMapError::UnkRowOutOfRange { unk_row, rows: ids.len() });
    }
    let mut previous: Option<u32> = None;
    for (row, &id) in ids.iter().enumerate() {
        if id as usize >= vocab_size {
            return Err(WordRowMapError::IdOutOfRange { row, id, vocab_size });
        }
        if let Some(previous) = previous.filter(|&p| id <= p) {
            return Err(WordRowMapError::NotIncreasing { row, id, previous });
        }
        previous = Some(id);
    }
    Ok(())
}

/// Lines of a `vocab.txt`: the tokenizer's own count (one per token, the last with or without a final newline).
pub(crate) use crate::tokenizer::count_lines;

/// A name from the file for an error message, cut to fit.
fn truncated_name(name: &str) -> TensorName {
    let mut out = TensorName::new();
    for c in name.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}
