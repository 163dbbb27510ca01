//! Fine-tuning: an ELECTRA encoder with a task head trained on labelled data (`electra finetune`), evaluated
//! with the task's metrics (`electra evaluate`).
//!
//! - [`data`]: task files (GLUE TSV, CSV, JSON lines, Parquet, CoNLL) → labelled examples → token ids.
//! - [`metrics`]: accuracy, F1, Matthews correlation, Pearson/Spearman, seqeval span F1, confusion matrix.
//! - [`recipe`]: ELECTRA's and HF's hyper-parameters, layer-wise learning-rate decay.
//! - [`task_model`]: task models on disk (HF layout with label names), starting points.
//! - [`trainer`]: the run: steps, dev evaluations, the best model kept, exact resume.
//! - [`evaluate`]: predictions and the task's metrics over a file.

pub mod data;
pub mod error;
pub mod evaluate;
pub mod metrics;
pub mod recipe;
pub mod task_model;
pub mod trainer;

pub use error::FinetuneError;
