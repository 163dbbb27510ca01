use super::layout::{LayoutError, TensorName};
use crate::config::ConfigError;
use core::fmt;

/// Why a byte buffer is not a model file this build can run. Every check happens in
/// [`super::Model::from_bytes`]; none of them reads outside the buffer or panics.
///
/// `#[non_exhaustive]`: a later format feature brings its own reason (as the labels section did);
/// match with a `_` arm.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ModelFileError {
    /// Shorter than the fixed 32-byte preamble.
    TooShort { len: usize },
    /// The first eight bytes are not the model-file magic: some other kind of file.
    NotAModelFile,
    /// Written by a newer electra-edge; this build reads up to `supported`.
    NewerVersion { found: u32, supported: u32 },
    /// A version number no electra-edge ever wrote (0).
    UnknownVersion { found: u32 },
    /// The buffer does not start at a multiple of `required` bytes in memory, so f32 tensors cannot
    /// be read in place. Embed with [`crate::include_model_bytes!`] or copy into aligned memory.
    Misaligned { address: usize, required: usize },
    /// The preamble's file length differs from the buffer's: truncated, or with bytes appended.
    LengthMismatch { expected: u64, actual: usize },
    /// The CRC32 over the file does not match the one stored in it: the bytes were damaged.
    ChecksumMismatch { stored: u32, computed: u32 },
    /// The reserved preamble bytes are not zero.
    ReservedNotZero,
    /// The header cannot be decoded (`part` says which record).
    BadHeader { part: &'static str },
    /// The header's length field points past the end of the file or into the tensor data.
    HeaderOutOfRange { header_len: u64, data_offset: u64, file_len: usize },
    /// The config in the header is invalid.
    BadConfig(ConfigError),
    /// The config or head cannot be laid out on this machine.
    BadLayout(LayoutError),
    /// The file uses a quantization scheme this build does not run.
    UnsupportedQuantization,
    /// The directory holds a different number of tensors than the config implies.
    TensorCountMismatch { expected: usize, found: u32 },
    /// Directory entry `index` differs from the layout the config implies in `field`.
    TensorMismatch { index: usize, expected: TensorName, field: &'static str },
    /// A tensor's bytes lie (partly) outside the file.
    TensorOutOfRange { tensor: TensorName, offset: u64, len: u64, file_len: usize },
    /// A scale, bias or LayerNorm parameter is NaN or infinite, or a scale is negative.
    BadValue { tensor: TensorName, index: usize },
    /// The embedded vocab does not have one line per row of the word embeddings.
    VocabSizeMismatch { lines: usize, vocab_size: usize },
    /// The embedded tokenizer index does not fit the embedded vocab.
    BadTokenizerIndex(crate::tokenizer::VocabError),
    /// The labels section is damaged or does not fit the head (format version 2).
    BadLabels(super::labels::LabelsError),
    /// The pruned word table's id → row map is damaged (format version 3).
    BadWordRowMap(WordRowMapError),
    /// Model files are little-endian; this machine is not.
    BigEndianMachine,
}

/// What is wrong with a pruned word table's id → row map (its length is checked by the directory).
///
/// `#[non_exhaustive]`: a later version may add variants; match with a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WordRowMapError {
    /// The row that dropped ids read (`[UNK]`'s) is not a row of the table.
    UnkRowOutOfRange { unk_row: u32, rows: usize },
    /// Row `row` maps an id that is not in the vocab.
    IdOutOfRange { row: usize, id: u32, vocab_size: usize },
    /// Row `row`'s id is not greater than the row before's: the binary search needs them sorted.
    NotIncreasing { row: usize, id: u32, previous: u32 },
}

impl fmt::Display for WordRowMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnkRowOutOfRange { unk_row, rows } => {
                write!(f, "[UNK]'s row {unk_row} is not one of the table's {rows} rows")
            }
            Self::IdOutOfRange { row, id, vocab_size } => {
                write!(f, "row {row} holds id {id}, outside the vocab of {vocab_size}")
            }
            Self::NotIncreasing { row, id, previous } => {
                write!(f, "row {row} holds id {id}, not greater than the previous row's {previous}")
            }
        }
    }
}

impl fmt::Display for ModelFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => write!(f, "model file is {len} bytes, shorter than its 32-byte preamble"),
            Self::NotAModelFile => write!(f, "not an electra-edge model file (wrong magic bytes)"),
            Self::NewerVersion { found, supported } => write!(
                f,
                "model file format version {found} is newer than this build reads (up to {supported}); \
                 upgrade electra-edge or re-export the model"
            ),
            Self::UnknownVersion { found } => write!(f, "model file format version {found} does not exist"),
            Self::Misaligned { address, required } => write!(
                f,
                "model buffer at address {address:#x} is not aligned to {required} bytes; \
                 embed it with include_model_bytes! or copy it into aligned memory"
            ),
            Self::LengthMismatch { expected, actual } => {
                if (*actual as u64) < *expected {
                    write!(f, "model file is truncated: {actual} bytes of {expected}")
                } else {
                    write!(f, "model file has {actual} bytes, its preamble says {expected}")
                }
            }
            Self::ChecksumMismatch { stored, computed } => {
                write!(f, "model file is corrupt: CRC32 is {computed:#010x}, the file says {stored:#010x}")
            }
            Self::ReservedNotZero => write!(f, "model file preamble has non-zero reserved bytes"),
            Self::BadHeader { part } => write!(f, "model file header cannot be decoded ({part})"),
            Self::HeaderOutOfRange { header_len, data_offset, file_len } => write!(
                f,
                "model file header of {header_len} bytes with data at {data_offset} does not fit a file of {file_len} bytes"
            ),
            Self::BadConfig(e) => write!(f, "model file config is invalid: {e}"),
            Self::BadLayout(e) => write!(f, "model file cannot be laid out: {e}"),
            Self::UnsupportedQuantization => write!(f, "model file uses a quantization scheme this build cannot run"),
            Self::TensorCountMismatch { expected, found } => {
                write!(f, "model file lists {found} tensors, its config implies {expected}")
            }
            Self::TensorMismatch { index, expected, field } => {
                write!(f, "model file tensor #{index} (expected `{expected}`) has the wrong {field}")
            }
            Self::TensorOutOfRange { tensor, offset, len, file_len } => write!(
                f,
                "model file tensor `{tensor}` at {offset}..+{len} lies outside the {file_len}-byte file"
            ),
            Self::BadValue { tensor, index } => {
                write!(f, "model file tensor `{tensor}` holds an invalid value at index {index}")
            }
            Self::VocabSizeMismatch { lines, vocab_size } => {
                write!(f, "embedded vocab has {lines} lines, the model has {vocab_size} word embeddings")
            }
            Self::BadTokenizerIndex(e) => write!(f, "model file's tokenizer index does not fit its vocab: {e}"),
            Self::BadLabels(e) => write!(f, "model file's labels section is invalid: {e}"),
            Self::BadWordRowMap(e) => write!(f, "model file tensor `{}` is invalid: {e}", super::layout::WORD_ROW_MAP_NAME),
            Self::BigEndianMachine => write!(f, "model files are little-endian and this machine is big-endian"),
        }
    }
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DimensionTooLarge { field, value } => {
                write!(f, "{field} = {value} exceeds {} (int32 accumulators must stay exact)", super::MAX_INNER_DIM)
            }
            Self::NoLabels => write!(f, "a classifier head needs at least one label"),
            Self::TooLarge => write!(f, "tensor sizes overflow this machine's address space"),
            Self::IndexWithoutVocab => write!(f, "a tokenizer index needs an embedded vocab"),
            Self::BadWordRows { rows, vocab_size } => {
                write!(f, "a pruned word embedding table of {rows} rows for a vocab of {vocab_size} ids")
            }
            Self::PrunedTiedHead => {
                write!(f, "a masked-LM head is tied to every word embedding row, so they cannot be pruned")
            }
            Self::Int4GroupSize { group_size, linear, n_in } => write!(
                f,
                "int4 group size {group_size} is not an even divisor of the {n_in} inputs of every layer's {}",
                super::layout::LAYER_LINEAR_NAMES.get(*linear).copied().unwrap_or("linear")
            ),
            Self::Int4NoSuchLayer { linear, layer, layers } => write!(
                f,
                "int4 tensor {} of layer {layer} named, the model has {layers} layers",
                super::layout::LAYER_LINEAR_NAMES.get(*linear).copied().unwrap_or("linear")
            ),
            Self::Int4NoTensors => write!(f, "an int4 section that names no tensor"),
            Self::Int4EmbeddingGroupSize { group_size, dim } => write!(
                f,
                "int4 word embedding group size {group_size} is not an even divisor of the embedding width {dim} \
                 (electra.embeddings.word_embeddings.weight)"
            ),
            Self::F16ScalesWithoutInt4 => write!(f, "f16 group scales, but no tensor is int4"),
        }
    }
}

impl core::error::Error for ModelFileError {}

impl core::error::Error for LayoutError {}

impl core::error::Error for WordRowMapError {}
