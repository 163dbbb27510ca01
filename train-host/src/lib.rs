//! electra-train: ELECTRA on the host.
//!
//! - [`checkpoint`]: HF-format checkpoints (`config.json` + safetensors), read and written with names kept verbatim.
//! - [`infer`]: float32 inference on all cores ([`infer::FloatModel`]) and the losses HF reports.
//! - [`export`]: HF checkpoint → int8 model file (`electra export`).
//! - [`int8`]: int8 model files on the host: aligned loading, a rayon executor.
//! - [`model`]: forward and backward of every layer, by hand, with the parameter blob ([`model::ParamSet`]).
//! - [`objective`]: ELECTRA's joint generator + discriminator step ([`objective::ElectraPretraining`]).
//! - [`optim`]: AdamW with ELECTRA's and torch's semantics, and the learning-rate schedule.
//! - [`distributed`]: data-parallel training over MPI.
//! - [`pretrain`]: the pre-training driver: loop, exact resume, checkpoints, metrics, loss plot, RTD evaluation.
//! - [`cli`]: the `electra` subcommands.
//! - [`memory`]: the binaries' allocator settings.
#![deny(clippy::unwrap_used)]

pub mod checkpoint;
pub mod cli;
pub mod distributed;
pub mod export;
pub mod finetune;
pub mod infer;
pub mod int8;
pub mod memory;
pub mod model;
pub mod objective;
pub mod optim;
pub mod pretrain;
pub mod rng;
