//! electra-core: ELECTRA for machines without a heap.
//!
//! Everything here is `no_std` and allocation-free: weights are borrowed slices (read in place from
//! flash or from a memory-mapped file), and every intermediate lives in scratch memory that the
//! caller passes in, sized by a function of the config and the sequence length.
//!
//! Modules:
//! - [`config`]: [`ElectraConfig`] with named presets and validation.
//! - [`float`]: the float32 encoder and heads, matching HF transformers.
//! - [`tokenizer`]: BERT-uncased WordPiece, exactly as HF tokenizers, on a borrowed vocabulary.
//! - [`model_file`]: the int8 model file, checked and read in place ([`model_file::Model`]).
//! - [`quant`]: the int8 encoder (`Model::run`) and its kernels.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod config;
pub mod float;
pub mod model_file;
pub mod quant;
pub mod tokenizer;

#[cfg(test)]
extern crate std;

pub use config::{ConfigError, ElectraConfig, HeadKind};
