//! electra-core: ELECTRA for machines without a heap.
//!
//! Everything here is `no_std` and allocation-free: weights are borrowed slices (read in place from
//! flash or from a memory-mapped file), and every intermediate lives in scratch memory that the
//! caller passes in, sized by a function of the config and the sequence length. The one exception is
//! opt-in: [`float::MatrixMultiply`] (feature `matrixmultiply`, for hosts) takes `matrixmultiply`'s
//! packing buffers from the heap on every call. `tests/no_alloc.rs` runs the float path (with
//! `float::gemm::NaiveGemm`) and the int8 path under an allocator that counts every allocation: none.
//!
//! Modules:
//! - [`config`]: [`ElectraConfig`] with named presets and validation.
//! - [`float`]: the float32 encoder and heads, matching HF transformers.
//! - [`tokenizer`]: BERT-uncased WordPiece, exactly as HF tokenizers, on a borrowed vocabulary.
//! - [`model_file`]: the int8 model file, checked and read in place ([`model_file::Model`]).
//! - [`quant`]: the int8 encoder (`Model::run`) and its kernels.
//! - [`input`]: [`SequenceInput`] and the one check of it both forward passes make ([`InputError`]).
//! - [`math`]: `exp`, `erf`, GELU and the other scalar functions, defined once for every path (and the trainer).
//! - [`simd`]: the one run-time SIMD dispatch ([`multiversion!`]) of the float loops, the trainer's included.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
// Library code returns errors, never panics on user data; its unit tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod float;
pub mod input;
pub mod math;
pub mod model_file;
pub mod quant;
pub mod simd;
pub mod tokenizer;

#[cfg(test)]
extern crate std;

pub use config::{ConfigError, ElectraConfig, HeadKind};
pub use input::{InputError, SequenceInput};
