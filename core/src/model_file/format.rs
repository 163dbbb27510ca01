//! The bytes of a model file, version 1.
//!
//! ```text
//! offset  size  field
//!      0     8  MAGIC                     "\x89ELQ\r\n\x1a\n" (PNG-style: catches text-mode and 7-bit damage)
//!      8     4  format version, u32 LE    FORMAT_VERSION
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
//! `U32` as `&[u32]`, `U8` as `&[u8]`, which is why the buffer must be 4-byte aligned in memory.

use crate::config::{ElectraConfig, HeadKind};
use serde::{Deserialize, Serialize};

/// First eight bytes of every model file.
pub const MAGIC: [u8; 8] = *b"\x89ELQ\r\n\x1a\n";
/// The format version this build writes, and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
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
}

impl DType {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            Self::I8 | Self::U8 => 1,
            Self::F32 | Self::U32 => 4,
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
    /// Word, position and token-type embedding tables.
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
}

/// The fixed part of the header.
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
