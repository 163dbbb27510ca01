//! HF-format checkpoints: `config.json` + `model.safetensors` (or a sharded `model.safetensors.index.json`).
//!
//! Tensor names are kept verbatim (`electra.encoder.layer.3.attention.self.query.weight`), so every
//! weight maps one to one onto the HF module it came from.

pub mod atomic;
mod error;
mod hf_config;
mod load;
mod save;

pub use error::{try_filled, CheckpointError};
pub use hf_config::{config_from_hf_json, HfConfigJson};
pub use load::{HfCheckpoint, Tensor};
pub use save::{
    hf_config_json, safetensors_bytes, save_hf_checkpoint, write_hf_checkpoint_files, write_hf_files, NamedTensor,
};
