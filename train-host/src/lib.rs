//! electra-train: ELECTRA on the host.
//!
//! - [`checkpoint`]: HF-format checkpoints (`config.json` + safetensors), read and written with names kept verbatim.
//! - [`infer`]: float32 inference on all cores ([`infer::FloatModel`]) and the losses HF reports.
#![deny(clippy::unwrap_used)]

pub mod checkpoint;
pub mod cli;
pub mod distributed;
pub mod infer;
