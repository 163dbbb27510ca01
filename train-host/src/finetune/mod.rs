//! Fine-tuning: an ELECTRA encoder with a task head trained on labelled data (`electra finetune`), evaluated
//! with the task's metrics (`electra evaluate`).
//!
//! - [`data`]: task files (GLUE TSV, CSV, JSON lines, Parquet, CoNLL) → labelled examples → token ids.
//! - [`metrics`]: accuracy, F1, Matthews correlation, Pearson/Spearman, seqeval span F1, confusion matrix.
//! - [`recipe`]: ELECTRA's and HF's hyper-parameters, layer-wise learning-rate decay.

pub mod data;
pub mod metrics;
pub mod recipe;
