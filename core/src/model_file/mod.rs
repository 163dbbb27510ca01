//! The model file: one versioned, checksummed binary that a microcontroller runs in place.
//!
//! A preamble (magic, version, length, CRC32), a `postcard` header (config, head, quantization
//! scheme, tensor directory), then 64-byte aligned tensor data: int8 weights with one f32 scale per
//! output channel (or, format version 4, int4 encoder weights with one f32 scale per group of input
//! channels), int8 embedding rows with one scale per row, f32 biases and LayerNorm parameters,
//! and optionally the `vocab.txt`, a prebuilt tokenizer index and a classifier's label names. See
//! [`format`](mod@format) for the bytes and [`layout`] for where each tensor goes.
//!
//! - [`Model::from_bytes`] checks a buffer and borrows it: no copy, no allocation. Any damage is a
//!   typed [`ModelFileError`], never a panic or an out-of-bounds read.
//! - [`write_model_file`] writes one from float tensors into a caller buffer (host: `electra export`).
//! - [`crate::include_model_bytes!`] embeds a file in firmware with the alignment it needs.

mod error;
pub mod format;
mod labels;
pub mod layout;
mod read;
mod write;

pub use error::{ModelFileError, WordRowMapError};
pub use format::{FloatType, Int4Tensors, ProblemType, FORMAT_VERSION, MAGIC};
pub use labels::{LabelIter, Labels, LabelsError, LabelsSpec};
pub use layout::{LayoutError, MAX_INNER_DIM};
pub use read::Model;
pub use write::{
    model_file_len, model_file_len_keeping, write_model_file, write_model_file_keeping, KeptWordRows, ModelFileSpec,
    WriteError,
};

/// Embeds a model file in the binary at 64-byte alignment (plain `include_bytes!` only guarantees
/// 1) and evaluates to `&'static [u8]`, ready for [`Model::from_bytes`].
///
/// ```text
/// static MODEL: &[u8] = electra_core::include_model_bytes!("../model.elq");
/// let model = electra_core::model_file::Model::from_bytes(MODEL)?;
/// ```
#[macro_export]
macro_rules! include_model_bytes {
    ($path:expr) => {{
        #[repr(C, align(64))]
        struct Aligned<B: ?Sized>(B);
        static ALIGNED: &Aligned<[u8]> = &Aligned(*include_bytes!($path));
        &ALIGNED.0
    }};
}
