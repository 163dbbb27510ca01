//! electra-train: ELECTRA on the host.
//!
//! - [`checkpoint`]: HF-format checkpoints (`config.json` + safetensors), read and written with names kept verbatim.
//! - [`infer`]: float32 inference on all cores ([`infer::FloatModel`]) and the losses HF reports.
//! - [`export`]: HF checkpoint → int8 model file (`electra export`).
#![deny(clippy::unwrap_used)]

pub mod batch;
pub mod checkpoint;
pub mod cli;
pub mod distributed;
pub mod infer;
pub mod model;
pub mod objective;
pub mod optim;
pub mod rng;
pub mod export;
