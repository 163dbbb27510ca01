//! HF-format checkpoints: `config.json` + `model.safetensors` (or a sharded `model.safetensors.index.json`).
//!
//! Tensor names are kept verbatim (`electra.encoder.layer.3.attention.self.query.weight`), so every
//! weight maps one to one onto the HF module it came from.

mod error;
mod hf_config;
mod load;

pub use error::CheckpointError;
pub use hf_config::{config_from_hf_json, HfConfigJson};
pub use load::{HfCheckpoint, Tensor};
