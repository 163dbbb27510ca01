//! ELECTRA pre-training around the model ([`crate::model`]), objective and AdamW: the training loop, exact
//! resume, checkpoints in HF layout, metrics, the loss plot, and RTD evaluation.
//!
//! A run lives in one output directory:
//!
//! | path | what |
//! |---|---|
//! | `checkpoint-latest/discriminator/` | HF `ElectraForPreTraining` (`config.json`, `model.safetensors`, `vocab.txt`) |
//! | `checkpoint-latest/generator/` | HF `ElectraForMaskedLM`, same layout |
//! | `checkpoint-latest/trainer_state.{json,safetensors}` | step, data position, RNG state, AdamW moments, settings |
//! | `checkpoint-<step>/{discriminator,generator}/` | with `--keep-every N`: the models of every N-th step, to fine-tune along the run |
//! | `metrics.jsonl` | one line per step: losses, RTD accuracy, replaced fraction, lr, tokens/s, seconds |
//! | `loss.png` | the loss curves, drawn when the run reaches its last step |
//!
//! A run starts from HF's initialization (from `--seed`), or from the models of an earlier one (`--init`,
//! [`state::load_init`]) with a fresh optimizer, schedule and data order.

mod backend;
mod error;
pub mod evaluate;
pub mod metrics_log;
pub mod model_size;
pub mod plot;
pub mod rtd_metrics;
pub mod state;
pub mod trainer;

pub use error::PretrainError;
pub use metrics_log::StepRecord;
pub use model_size::ModelPair;
pub use state::RunConfig;
pub use trainer::{pretrain, RunSummary, SessionOptions, Trainer};

/// The BERT uncased WordPiece vocab bundled in `data/vocab.txt`, for runs that name no other.
pub const BUNDLED_VOCAB: &[u8] = include_bytes!("../../../data/vocab.txt");
