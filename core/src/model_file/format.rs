//! The bytes of a model file, versions 1 to 7.
//!
//! ```text
//! offset  size  field
//!      0     8  MAGIC                     "\x89ELQ\r\n\x1a\n" (PNG-style: catches text-mode and 7-bit damage)
//!      8     4  format version, u32 LE    1; 2 with a labels section; 3 with pruned word embeddings;
//!                                          4 with int4 encoder weights; 5 with int4 word embeddings;
//!                                          6 with f16 int4 group scales; 7 with f16 biases
//!                                          and LayerNorms
//!     12     4  header length, u32 LE     bytes of the postcard header that follows the preamble
//!     16     8  file length, u64 LE       the whole file, so truncation is told apart from corruption
//!     24     4  CRC32 (IEEE), u32 LE      over every byte of the file except these four
//!     28     4  reserved, zero
//!     32     …  header: postcard(FileHeader), then `tensor_count` × postcard(TensorEntry)
//!  align 64  …  tensor data, each tensor at an offset that is a multiple of TENSOR_ALIGN, in the
//!               canonical order of `layout.rs`; padding bytes are zero
//! ```
//!
//! Every number is little-endian. Tensors are read in place: `I8` as `&[i8]`, `F32` as `&[f32]`,
//! `F16` as `&[u16]` (IEEE binary16 bits), `U32` as `&[u32]`, `U8` as `&[u8]`, which is why the
//! buffer must be 4-byte aligned in memory.
//!
//! # Versions
//!
//! A reader reads every version from 1 up to [`FORMAT_VERSION`] and refuses a newer one with a typed
//! error (never a garbled header). A writer writes the *lowest* version that can hold the file: a
//! file without labels is version 1, byte for byte what builds before version 2 wrote, so firmware
//! built with an older core still reads it; only a file with a labels section needs version 2.
//!
//! - Version 1: [`FileHeader`] without `labels_bytes`.
//! - Version 2: [`FileHeader`] with `labels_bytes` appended (postcard has no field tags, so a new
//!   field is a new version), and the optional labels section after the other optional sections.
//! - Version 3: `word_rows` appended: the word embedding table keeps only some of the vocab's rows,
//!   and a row map follows it (see below). A file that keeps every row stays version 1 or 2.
//! - Version 4: `int4` appended: some encoder linears store int4 weights with one scale per group
//!   of input channels (see below). A file without int4 tensors stays version 1, 2 or 3.
//! - Version 5: the header is version 4's, and `quantization.embeddings` may be
//!   [`WeightScheme::SymmetricGroupI4`]: the word embedding table is int4 (see below). Only the
//!   new scheme needs the new version: a reader built for version 4 would fail to decode the
//!   unknown variant as a garbled header, so the version tells it first that the file is newer.
//!   A file with int8 word embeddings stays version 1 to 4.
//! - Version 6: `int4_scales` appended ([`FloatType`]): with [`FloatType::F16`] every
//!   int4 group scale (encoder linears and word table) is stored as IEEE f16, dtype `F16`, half the
//!   bytes of f32 (see below). A file with f32 group scales stays version 1 to 5.
//! - Version 7: `biases_and_norms` appended ([`FloatType`]): with [`FloatType::F16`] every bias
//!   (linears' and the masked-LM head's) and every LayerNorm weight and bias is stored as IEEE f16,
//!   dtype `F16` (see below). A file with f32 biases and LayerNorms stays version 1 to 6.
//!
//! # int4 encoder weights (version 4)
//!
//! [`Int4Tensors`] in the header says which encoder linears are int4 (one bit per layer for each
//! of a layer's six linears: a per-tensor choice, so sensitive tensors can stay int8) and the group
//! size `G`. Such a linear `[n_out, n_in]` stores, instead of the int8 weight and one scale per
//! output channel:
//!
//! ```text
//! <name>.weight        dtype I4, shape [n_out, n_in], n_out · n_in / 2 bytes: row o, input i is
//!                      the low nibble of byte o·n_in/2 + i/2 for even i, the high nibble for odd
//!                      i, two's complement in [-8, 7] (the writer uses [-7, 7])
//! <name>.weight_scale  dtype F32, shape [n_out, n_in / G]: w[o, i] ≈ scale[o, i / G] · q[o, i]
//! ```
//!
//! `G` is even and divides `n_in` of every int4 tensor (checked by the layout, so a group never
//! straddles a row or a byte). Activations stay int8 per row; a product sums int32 within a group,
//! then adds `scale[o, g] · sum_g` in f32 in group order (see `quant::kernels::int4`). The
//! embeddings' projection and the head stay int8.
//!
//! # int4 word embeddings (version 5)
//!
//! With `quantization.embeddings` = [`WeightScheme::SymmetricGroupI4`] `{ group_size: G }`, the
//! word embedding table `[rows, E]` (pruned or not) is stored like an int4 encoder linear, one
//! row per token:
//!
//! ```text
//! electra.embeddings.word_embeddings.weight        dtype I4, shape [rows, E], rows · E / 2 bytes,
//!                                                  nibbles packed as an int4 linear's (low first)
//! electra.embeddings.word_embeddings.weight_scale  dtype F32, shape [rows, E / G]:
//!                                                  w[r, c] ≈ scale[r, c / G] · q[r, c]
//! ```
//!
//! `G` is even and divides `E` (checked by the layout). The position and token-type tables are
//! small (`max_position_embeddings` and `type_vocab_size` rows) and stay int8 per row. A masked-LM
//! head's tied output layer reads the int4 table as an int4 linear `[V, E]`.
//!
//! # f16 group scales (version 6)
//!
//! With `int4_scales` = [`FloatType::F16`], each `<name>.weight_scale` of an int4 tensor has
//! dtype `F16` (shape unchanged, 2 bytes a scale). The writer picks the f16 scale first, the
//! smallest f16 at or above `max |w| / 7` of the group, then rounds `w / scale` into `[-7, 7]`, so no
//! weight is clipped and the nibbles suit the stored scale; a kernel widens each scale to f32
//! (exact) once per group. Per-output-channel scales of int8 tensors stay f32; biases and
//! LayerNorms follow `biases_and_norms` (version 7). Scales must be finite and non-negative, as f32 ones.
//!
//! # f16 biases and LayerNorms (version 7)
//!
//! With `biases_and_norms` = [`FloatType::F16`], every `.bias` tensor and every LayerNorm
//! `.weight` has dtype `F16` (shape unchanged, 2 bytes a value), rounded to nearest by the writer.
//! The encoder widens them to f32 (exactly) where it reads them, so a version-7 file computes
//! bit for bit what a file with the same values widened to f32 would. Values must be finite.
//!
//! # The word row map (version 3)
//!
//! `electra export --keep-tokens-from` keeps only the word embedding rows of tokens that occur in
//! some texts. The tokenizer is unchanged (it still yields the full vocab's ids); the table has
//! `word_rows` rows, and the directory entry `electra.embeddings.word_embeddings.row_map`, dtype
//! `U32`, shape `[1, word_rows + 1]`, right after the table's scales, maps ids to rows:
//!
//! ```text
//! word   field
//!    0   the row of [UNK]: where every id that was not kept reads its embedding (< word_rows)
//!   1…   the kept vocab ids, strictly increasing, each < vocab_size; row r holds id word[1 + r]
//! ```
//!
//! A lookup is a binary search (no allocation, so firmware runs it as it is): 15 steps for a
//! full 30,522-token vocab. The generator's tied output layer needs every row, so a masked-LM head
//! cannot be pruned.
//!
//! # The labels section (version 2)
//!
//! The class names of a classifier head, so a device can print `positive (0.93)` rather than
//! `class 1`, and whether its outputs are class logits or regression scores. Directory entry
//! `labels`, dtype `U8`, at a multiple of TENSOR_ALIGN after the vocab and tokenizer index (or after
//! the head when there are none), covered by the file's CRC like every other byte:
//!
//! ```text
//! offset  size  field
//!      0     4  section version, u32 LE   LABELS_VERSION (1); a reader refuses a newer one
//!      4     4  label count, u32 LE       = the head's num_labels
//!      8     4  problem type, u32 LE      ProblemType: 0 single-label classification (softmax),
//!                                          1 regression (scores), 2 multi-label classification (sigmoid)
//!     12     4  reserved, zero
//!     16     …  the names in id order, UTF-8, joined by '\n' (count − 1 newlines, none after the last),
//!               so a name cannot contain a newline
//! ```

use crate::config::{ElectraConfig, HeadKind};
use serde::{Deserialize, Serialize};

/// First eight bytes of every model file.
pub const MAGIC: [u8; 8] = *b"\x89ELQ\r\n\x1a\n";
/// The newest format version this build reads and writes (files without labels are written as
/// version 1; see the module docs).
pub const FORMAT_VERSION: u32 = 7;
/// The version of a file without a labels section: what every build before version 2 wrote.
pub const FORMAT_VERSION_WITHOUT_LABELS: u32 = 1;
/// The version of the labels section's own layout, stored in its first four bytes, so the section
/// can grow (say, per-label thresholds) without a new file version for files that do not use it.
pub const LABELS_VERSION: u32 = 1;
/// Bytes of the labels section before the names.
pub const LABELS_HEADER_LEN: usize = 16;
/// Bytes before the postcard header.
pub const PREAMBLE_LEN: usize = 32;
/// Every tensor starts at a multiple of this many bytes from the start of the file (one cache line;
/// also more than any SIMD load needs).
pub const TENSOR_ALIGN: usize = 64;
/// The model buffer must start at an address that is a multiple of this: `f32`/`u32` tensors are
/// borrowed in place. [`crate::include_model_bytes!`] gives 64.
pub const BUFFER_ALIGN: usize = 4;

pub(crate) const VERSION_AT: usize = 8;
pub(crate) const HEADER_LEN_AT: usize = 12;
pub(crate) const FILE_LEN_AT: usize = 16;
pub(crate) const CRC_AT: usize = 24;
pub(crate) const RESERVED_AT: usize = 28;

/// Element type of a stored tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DType {
    /// Quantized weights and embedding rows.
    I8,
    /// Scales, biases, LayerNorm parameters.
    F32,
    /// Raw bytes (the embedded `vocab.txt`).
    U8,
    /// Words of the prebuilt tokenizer index.
    U32,
    /// int4 weights, two per byte (format version 4; see the module docs).
    I4,
    /// IEEE binary16, as `u16` bits: int4 group scales (format version 6; see the module docs).
    F16,
}

impl DType {
    /// Bytes of `elements` values of this type (`None` on overflow, or for an odd count of
    /// [`DType::I4`], which would end in half a byte).
    pub const fn bytes_for(self, elements: usize) -> Option<usize> {
        match self {
            Self::I8 | Self::U8 => Some(elements),
            Self::F32 | Self::U32 => elements.checked_mul(4),
            Self::F16 => elements.checked_mul(2),
            Self::I4 if elements.is_multiple_of(2) => Some(elements / 2),
            Self::I4 => None,
        }
    }
}

/// Number of linears in one encoder layer that may be int4, in file order: `query`, `key`,
/// `value`, `attention.output.dense`, `intermediate.dense`, `output.dense`.
pub const LAYER_LINEARS: usize = 6;

/// Which encoder linears are int4, and their group size (format version 4; see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Int4Tensors {
    /// Input channels per scale: even, dividing `n_in` of every int4 tensor.
    pub group_size: u32,
    /// For each of a layer's [`LAYER_LINEARS`] linears (file order), bit `l` set: layer `l`'s is
    /// int4. Layers from 64 on cannot be int4; a bit at or past `num_hidden_layers` is refused.
    pub layers: [u64; LAYER_LINEARS],
}

impl Int4Tensors {
    /// Every encoder linear of every layer (below 64) int4 with groups of `group_size`.
    pub const fn all(group_size: u32) -> Self {
        Self { group_size, layers: [u64::MAX; LAYER_LINEARS] }
    }

    /// This set restricted to the layers a model of `layers` layers has.
    pub const fn for_layers(self, layers: usize) -> Self {
        let mask = if layers >= 64 { u64::MAX } else { (1u64 << layers) - 1 };
        let mut out = self;
        let mut i = 0;
        while i < LAYER_LINEARS {
            out.layers[i] &= mask;
            i += 1;
        }
        out
    }

    /// The group size of linear `linear` (file order) of layer `layer`, if it is int4.
    pub const fn group_of(&self, layer: usize, linear: usize) -> Option<usize> {
        if layer < 64 && linear < LAYER_LINEARS && self.layers[linear] >> layer & 1 == 1 {
            Some(self.group_size as usize)
        } else {
            None
        }
    }
}

/// How one class of float vectors is stored: the int4 group scales (format version 6) and the
/// biases and LayerNorm parameters (format version 7; see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FloatType {
    /// f32, 4 bytes a value (versions 1 to 5 know only this).
    #[default]
    F32,
    /// IEEE f16, 2 bytes a value: 10 bits of mantissa, a relative step of at most 2⁻¹¹ (against
    /// the int4 step of 1/7 of a group's range for a scale; against the int8 activations' step of
    /// 1/127 of a row's range for a bias or a LayerNorm parameter), and a range (6·10⁻⁸ to 65504)
    /// far past any trained weight's `max |w| / 7`, bias or LayerNorm gain.
    F16,
}

impl FloatType {
    /// The dtype of the tensors stored this way.
    pub const fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::F16 => DType::F16,
        }
    }
}

/// How the numbers in the file were quantized. One variant each today; a reader refuses values it
/// does not know (postcard fails on an unknown variant index), so a later scheme needs a new variant,
/// never a new meaning for an old one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantization {
    /// Linear layer weights.
    pub weights: WeightScheme,
    /// Word, position and token-type embedding tables: all three [`WeightScheme::SymmetricPerRowI8`],
    /// or (format version 5) the word table [`WeightScheme::SymmetricGroupI4`] and the other two
    /// per-row int8.
    pub embeddings: WeightScheme,
    /// Inputs of every int8 matrix product.
    pub activations: ActivationScheme,
}

/// Storage of a quantized matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WeightScheme {
    /// `w[r, c] ≈ scale[r] · q[r, c]`, `q` int8 in `[-127, 127]`, `scale[r] = max_c |w[r, c]| / 127`:
    /// one scale per output channel of a linear layer, per row of an embedding table. The scales
    /// are the `<name>_scale` F32 tensor next to the `I8` one.
    SymmetricPerRowI8,
    /// `w[r, c] ≈ scale[r, c / G] · q[r, c]`, `q` int4 in `[-7, 7]` (two per byte, low nibble
    /// first), `scale[r, g] = max |w| over the group / 7`: one scale per group of `group_size`
    /// columns of a row. Only for the word embedding table (format version 5; encoder linears say
    /// which are int4 in [`Int4Tensors`]); a reader refuses it for `weights`.
    SymmetricGroupI4 { group_size: u32 },
}

/// Quantization of activations at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActivationScheme {
    /// Each row (token) is quantized on the fly with `scale = max |x| / 127`; no calibration data.
    DynamicPerRowI8,
}

impl Quantization {
    /// The scheme this build writes and runs.
    pub const CURRENT: Self = Self {
        weights: WeightScheme::SymmetricPerRowI8,
        embeddings: WeightScheme::SymmetricPerRowI8,
        activations: ActivationScheme::DynamicPerRowI8,
    };

    /// [`Self::CURRENT`] with the word embedding table int4 in groups of `group_size` (format
    /// version 5), or int8 per row when `None`.
    pub const fn with_word_int4(group_size: Option<u32>) -> Self {
        match group_size {
            Some(group_size) => Self { embeddings: WeightScheme::SymmetricGroupI4 { group_size }, ..Self::CURRENT },
            None => Self::CURRENT,
        }
    }

    /// The word table's int4 group size, if the word table is int4.
    pub const fn word_int4_group(&self) -> Option<u32> {
        match self.embeddings {
            WeightScheme::SymmetricGroupI4 { group_size } => Some(group_size),
            WeightScheme::SymmetricPerRowI8 => None,
        }
    }

    /// Whether this build runs the scheme: int8 linears (int4 ones are named by [`Int4Tensors`]),
    /// int8 or int4 word embeddings, dynamic int8 activations.
    pub const fn is_supported(&self) -> bool {
        matches!(self.weights, WeightScheme::SymmetricPerRowI8)
            && matches!(self.activations, ActivationScheme::DynamicPerRowI8)
    }
}

/// What the outputs of a classifier head mean, as HF's `config.problem_type` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemType {
    /// One class per input (or token): softmax over the logits, the argmax is the label.
    SingleLabelClassification,
    /// Each output is a score (HF `num_labels == 1` or `problem_type: "regression"`), not a logit.
    Regression,
    /// Any number of labels per input: a sigmoid on each logit, the labels above 0.5.
    MultiLabelClassification,
}

impl ProblemType {
    /// The section's code for it.
    pub const fn code(self) -> u32 {
        match self {
            Self::SingleLabelClassification => 0,
            Self::Regression => 1,
            Self::MultiLabelClassification => 2,
        }
    }

    /// The problem type stored as `code`, if any.
    pub const fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(Self::SingleLabelClassification),
            1 => Some(Self::Regression),
            2 => Some(Self::MultiLabelClassification),
            _ => None,
        }
    }

    /// HF's `problem_type` string.
    pub const fn hf_name(self) -> &'static str {
        match self {
            Self::SingleLabelClassification => "single_label_classification",
            Self::Regression => "regression",
            Self::MultiLabelClassification => "multi_label_classification",
        }
    }
}

/// The fixed part of the header (version 7; version 6 lacks `biases_and_norms`, versions 4 and 5 also
/// `int4_scales`, version 3 also `int4`,
/// version 2 also `word_rows`, version 1 also `labels_bytes`, see [`FileHeader::version`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileHeader {
    pub config: ElectraConfig,
    pub head: HeadKind,
    pub quantization: Quantization,
    /// Offset of the first tensor: the header's end rounded up to [`TENSOR_ALIGN`].
    pub data_offset: u64,
    /// Number of [`TensorEntry`] records that follow.
    pub tensor_count: u32,
    /// Length of the embedded `vocab.txt`, if any.
    pub vocab_bytes: Option<u64>,
    /// Length in u32 words of the embedded tokenizer index, if any (needs a vocab).
    pub tokenizer_index_words: Option<u64>,
    /// Length of the labels section, if any (version 2 and later).
    pub labels_bytes: Option<u64>,
    /// Rows of the pruned word embedding table, if pruned (version 3; see the module docs).
    pub word_rows: Option<u64>,
    /// Which encoder linears are int4 (version 4; see the module docs).
    pub int4: Option<Int4Tensors>,
    /// How the int4 group scales are stored (version 6; f32 in older versions).
    pub int4_scales: FloatType,
    /// How biases and LayerNorm parameters are stored (version 7; f32 in older versions).
    pub biases_and_norms: FloatType,
}

/// The fields of [`FileHeader`] that every version has, in its order: version 1's header. Versions 2 and 3
/// are this followed by `labels_bytes` (and `word_rows`): postcard lays a struct or tuple out as its fields one
/// after the other, with nothing between, so `(HeaderV1, labels_bytes)` encodes exactly as the flat list of
/// fields, which is what the earlier builds' `FileHeader` wrote.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct HeaderV1 {
    config: ElectraConfig,
    head: HeadKind,
    quantization: Quantization,
    data_offset: u64,
    tensor_count: u32,
    vocab_bytes: Option<u64>,
    tokenizer_index_words: Option<u64>,
}

/// Version 2's header: version 1's, then `labels_bytes`.
type HeaderV2 = (HeaderV1, Option<u64>);
/// Version 3's header: version 2's, then `word_rows`.
type HeaderV3 = (HeaderV1, Option<u64>, Option<u64>);
/// Versions 4 and 5's header: version 3's, then `int4`.
type HeaderV4 = (HeaderV1, Option<u64>, Option<u64>, Option<Int4Tensors>);
/// Version 6's header: version 4's, then `int4_scales`.
type HeaderV6 = (HeaderV1, Option<u64>, Option<u64>, Option<Int4Tensors>, FloatType);

/// Why a header could not be encoded.
///
/// `#[non_exhaustive]`: a later version may add variants; match with a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderEncodeError {
    /// Version 1 cannot hold a labels section.
    LabelsNeedVersion2,
    /// Versions 1 and 2 cannot hold a pruned word embedding table.
    PrunedRowsNeedVersion3,
    /// Versions 1 to 3 cannot hold int4 tensors.
    Int4NeedsVersion4,
    /// Versions 1 to 4 cannot hold int4 word embeddings.
    Int4EmbeddingsNeedVersion5,
    /// Versions 1 to 5 cannot hold f16 group scales.
    F16ScalesNeedVersion6,
    /// Versions 1 to 6 cannot hold f16 biases and LayerNorms.
    F16BiasesNeedVersion7,
    /// A version this build does not write.
    UnknownVersion(u32),
    /// Postcard failed (the output buffer is too small).
    Postcard,
}

impl core::fmt::Display for HeaderEncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::LabelsNeedVersion2 => write!(f, "format version 1 cannot hold a labels section"),
            Self::PrunedRowsNeedVersion3 => {
                write!(f, "format versions 1 and 2 cannot hold a pruned word embedding table")
            }
            Self::Int4NeedsVersion4 => write!(f, "format versions 1 to 3 cannot hold int4 tensors"),
            Self::Int4EmbeddingsNeedVersion5 => write!(f, "format versions 1 to 4 cannot hold int4 word embeddings"),
            Self::F16ScalesNeedVersion6 => write!(f, "format versions 1 to 5 cannot hold f16 group scales"),
            Self::F16BiasesNeedVersion7 => {
                write!(f, "format versions 1 to 6 cannot hold f16 biases and LayerNorm parameters")
            }
            Self::UnknownVersion(v) => write!(f, "format version {v} is not one this build writes"),
            Self::Postcard => write!(f, "the model file header does not fit its buffer (postcard)"),
        }
    }
}

impl core::error::Error for HeaderEncodeError {}

impl FileHeader {
    /// The lowest format version that holds this header: 7 with f16 biases and LayerNorms, else 6
    /// with f16 group scales, else 5 with int4 word embeddings, else 4 with int4 tensors, else 3
    /// with pruned word embeddings, else 2 with a labels section, else 1.
    pub const fn version(&self) -> u32 {
        if matches!(self.biases_and_norms, FloatType::F16) {
            7
        } else if matches!(self.int4_scales, FloatType::F16) {
            6
        } else if self.quantization.word_int4_group().is_some() {
            5
        } else if self.int4.is_some() {
            4
        } else if self.word_rows.is_some() {
            3
        } else if self.labels_bytes.is_some() {
            2
        } else {
            FORMAT_VERSION_WITHOUT_LABELS
        }
    }

    /// The fields version 1 has.
    const fn v1_fields(&self) -> HeaderV1 {
        HeaderV1 {
            config: self.config,
            head: self.head,
            quantization: self.quantization,
            data_offset: self.data_offset,
            tensor_count: self.tensor_count,
            vocab_bytes: self.vocab_bytes,
            tokenizer_index_words: self.tokenizer_index_words,
        }
    }

    /// A header from version 1's fields and the later versions' optional sections (f32 biases and
    /// LayerNorms: all but version 7 have them).
    const fn from_v1_fields(
        v1: HeaderV1,
        labels_bytes: Option<u64>,
        word_rows: Option<u64>,
        int4: Option<Int4Tensors>,
        int4_scales: FloatType,
    ) -> Self {
        Self {
            config: v1.config,
            head: v1.head,
            quantization: v1.quantization,
            data_offset: v1.data_offset,
            tensor_count: v1.tensor_count,
            vocab_bytes: v1.vocab_bytes,
            tokenizer_index_words: v1.tokenizer_index_words,
            labels_bytes,
            word_rows,
            int4,
            int4_scales,
            biases_and_norms: FloatType::F32,
        }
    }

    fn older(&self, version: u32) -> Result<Older, HeaderEncodeError> {
        if version < 7 && matches!(self.biases_and_norms, FloatType::F16) {
            return Err(HeaderEncodeError::F16BiasesNeedVersion7);
        }
        if version < 6 && matches!(self.int4_scales, FloatType::F16) {
            return Err(HeaderEncodeError::F16ScalesNeedVersion6);
        }
        if version < 5 && self.quantization.word_int4_group().is_some() {
            return Err(HeaderEncodeError::Int4EmbeddingsNeedVersion5);
        }
        if version < 4 && self.int4.is_some() {
            return Err(HeaderEncodeError::Int4NeedsVersion4);
        }
        if version < 3 && self.word_rows.is_some() {
            return Err(HeaderEncodeError::PrunedRowsNeedVersion3);
        }
        match version {
            1 if self.labels_bytes.is_some() => Err(HeaderEncodeError::LabelsNeedVersion2),
            1 => Ok(Older::V1(self.v1_fields())),
            2 => Ok(Older::V2((self.v1_fields(), self.labels_bytes))),
            3 => Ok(Older::V3((self.v1_fields(), self.labels_bytes, self.word_rows))),
            4 | 5 => Ok(Older::V4((self.v1_fields(), self.labels_bytes, self.word_rows, self.int4))),
            6 => Ok(Older::V6((self.v1_fields(), self.labels_bytes, self.word_rows, self.int4, self.int4_scales))),
            7 => Ok(Older::Current),
            other => Err(HeaderEncodeError::UnknownVersion(other)),
        }
    }

    /// Bytes of the header encoded as `version` lays it out.
    pub fn encoded_len(&self, version: u32) -> Result<usize, HeaderEncodeError> {
        let size = postcard::ser_flavors::Size::default;
        match self.older(version)? {
            Older::V1(v1) => postcard::serialize_with_flavor(&v1, size()),
            Older::V2(v2) => postcard::serialize_with_flavor(&v2, size()),
            Older::V3(v3) => postcard::serialize_with_flavor(&v3, size()),
            Older::V4(v4) => postcard::serialize_with_flavor(&v4, size()),
            Older::V6(v6) => postcard::serialize_with_flavor(&v6, size()),
            Older::Current => postcard::serialize_with_flavor(self, size()),
        }
        .map_err(|_| HeaderEncodeError::Postcard)
    }

    /// Encodes the header as `version` lays it out at the start of `out`; returns its length.
    pub fn encode(&self, version: u32, out: &mut [u8]) -> Result<usize, HeaderEncodeError> {
        match self.older(version)? {
            Older::V1(v1) => postcard::to_slice(&v1, out).map(|b| b.len()),
            Older::V2(v2) => postcard::to_slice(&v2, out).map(|b| b.len()),
            Older::V3(v3) => postcard::to_slice(&v3, out).map(|b| b.len()),
            Older::V4(v4) => postcard::to_slice(&v4, out).map(|b| b.len()),
            Older::V6(v6) => postcard::to_slice(&v6, out).map(|b| b.len()),
            Older::Current => postcard::to_slice(self, out).map(|b| b.len()),
        }
        .map_err(|_| HeaderEncodeError::Postcard)
    }

    /// Decodes a header of `version` (1 to 7) from the start of `bytes`; returns it and the bytes
    /// after it (the tensor directory), or `None` when they are not one (int4 word embeddings in a
    /// header older than version 5 included: no writer made one).
    pub fn decode(version: u32, bytes: &[u8]) -> Option<(Self, &[u8])> {
        let (header, rest) = Self::decode_fields(version, bytes)?;
        if version < 5 && header.quantization.word_int4_group().is_some() {
            return None;
        }
        Some((header, rest))
    }

    fn decode_fields(version: u32, bytes: &[u8]) -> Option<(Self, &[u8])> {
        match version {
            1 => {
                let (v1, rest) = postcard::take_from_bytes::<HeaderV1>(bytes).ok()?;
                Some((Self::from_v1_fields(v1, None, None, None, FloatType::F32), rest))
            }
            2 => {
                let ((v1, labels_bytes), rest) = postcard::take_from_bytes::<HeaderV2>(bytes).ok()?;
                Some((Self::from_v1_fields(v1, labels_bytes, None, None, FloatType::F32), rest))
            }
            3 => {
                let ((v1, labels_bytes, word_rows), rest) = postcard::take_from_bytes::<HeaderV3>(bytes).ok()?;
                Some((Self::from_v1_fields(v1, labels_bytes, word_rows, None, FloatType::F32), rest))
            }
            4 | 5 => {
                let ((v1, labels_bytes, word_rows, int4), rest) = postcard::take_from_bytes::<HeaderV4>(bytes).ok()?;
                Some((Self::from_v1_fields(v1, labels_bytes, word_rows, int4, FloatType::F32), rest))
            }
            6 => {
                let ((v1, labels_bytes, word_rows, int4, int4_scales), rest) =
                    postcard::take_from_bytes::<HeaderV6>(bytes).ok()?;
                Some((Self::from_v1_fields(v1, labels_bytes, word_rows, int4, int4_scales), rest))
            }
            7 => postcard::take_from_bytes::<Self>(bytes).ok(),
            _ => None,
        }
    }
}

/// A header in the encoding of an older version, or the current one.
enum Older {
    V1(HeaderV1),
    V2(HeaderV2),
    V3(HeaderV3),
    V4(HeaderV4),
    V6(HeaderV6),
    Current,
}

/// One record of the tensor directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorEntry<'a> {
    /// HF name for weights (`electra.encoder.layer.0.attention.self.query.weight`); `<name>_scale`
    /// for the scales of a quantized tensor; `vocab.txt`, `tokenizer.index` for the extras.
    #[serde(borrow)]
    pub name: &'a str,
    pub dtype: DType,
    /// Rows and columns; a vector is `[1, n]`.
    pub shape: [u64; 2],
    /// Byte offset from the start of the file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}
