//! electra-train: ELECTRA on the host.
//!
//! - [`checkpoint`]: HF-format checkpoints (`config.json` + safetensors), read and written with names kept verbatim.
//! - [`export`]: HF checkpoint → int8 model file (`electra export`).
//! - [`int8`]: int8 model files on the host: aligned loading, a rayon executor.
#![deny(clippy::unwrap_used)]

pub mod checkpoint;
pub mod cli;
pub mod export;
pub mod int8;
