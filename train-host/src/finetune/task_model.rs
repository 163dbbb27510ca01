//! Task models on disk, in HF's layout so `transformers` loads them (`ElectraForSequenceClassification`,
//! `ElectraForTokenClassification`): `config.json` (with `id2label`/`label2id`, `problem_type`,
//! `finetuning_task` and the dropout rates), `model.safetensors`, `vocab.txt`.
//!
//! A fine-tuning run starts from any ELECTRA checkpoint: a pre-training run's `--out` (its
//! `checkpoint-latest/discriminator`), a discriminator directory, or an HF checkpoint a user brings. The encoder
//! (`electra.*`) is copied; the checkpoint's own head (RTD, MLM, another task's) is dropped and the task head is
//! initialized as HF initializes a missing one: normal(0, 0.02) weights, zero biases.

use super::data::{LabelMap, Task};
use super::error::{io_at, FinetuneError};
use crate::checkpoint::atomic::write_dir_atomically;
use crate::checkpoint::{hf_config_json, write_hf_files, CheckpointError, HfCheckpoint};
use crate::model::dropout::DropoutRates;
use crate::model::TaskModel;
use clap::ValueEnum;
use electra_core::HeadKind;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a task model adds to an encoder's `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskMeta {
    pub task: Task,
    /// Class or tag names in id order; empty for a regression head.
    pub labels: Vec<String>,
    /// The rates training used (and that HF reads back for further training).
    pub dropout: DropoutRates,
}

impl TaskMeta {
    /// A regression head: one output, no label names.
    pub fn is_regression(&self) -> bool {
        self.labels.is_empty() && self.task != Task::Tagging
    }

    pub fn head(&self) -> HeadKind {
        match (self.task, self.is_regression()) {
            (Task::Tagging, _) => HeadKind::TokenClassification { num_labels: self.labels.len() },
            (_, true) => HeadKind::SequenceClassification { num_labels: 1 },
            (_, false) => HeadKind::SequenceClassification { num_labels: self.labels.len() },
        }
    }

    pub fn label_map(&self) -> LabelMap {
        LabelMap::from_labels(self.labels.clone())
    }
}

/// The HF directory a fine-tuning run starts from, given what the user named: a pre-training run's `--out`, a
/// fine-tuning run's `--out`, or a checkpoint directory itself.
pub fn resolve_start(dir: &Path) -> Result<PathBuf, FinetuneError> {
    let candidates = [
        dir.join("checkpoint-latest").join("discriminator"),
        dir.join("discriminator"),
        dir.join(MODEL_DIR),
        dir.into(),
    ];
    candidates.into_iter().find(|c| c.join("config.json").is_file()).ok_or_else(|| FinetuneError::Invalid {
        message: format!(
            "{}: no config.json there, nor in checkpoint-latest/discriminator/, discriminator/ or {MODEL_DIR}/ \
             (give an HF ELECTRA checkpoint directory or a pre-training run's --out)",
            dir.display()
        ),
    })
}

/// Where a fine-tuning run's `--out` keeps the model to use (the best on dev).
pub const MODEL_DIR: &str = "model";

/// A task model whose encoder comes from `ckpt` (or is freshly initialized when `random_encoder`), with a
/// fresh task head; `seed` seeds every fresh tensor.
pub fn model_from_checkpoint(
    ckpt: &HfCheckpoint,
    head: HeadKind,
    seed: u64,
    random_encoder: bool,
) -> Result<TaskModel, FinetuneError> {
    let mut model = TaskModel::init(ckpt.config, head, seed)?;
    if random_encoder {
        return Ok(model);
    }
    let entries: Vec<_> = model.params().entries().iter().filter(|e| e.name.starts_with("electra.")).cloned().collect();
    for e in &entries {
        // `ElectraModel` checkpoints name the encoder's tensors without the `electra.` prefix.
        let name = if ckpt.tensors.contains_key(&e.name) { e.name.as_str() } else { &e.name["electra.".len()..] };
        let values = ckpt.get(name, &e.shape).map_err(|err| match err {
            CheckpointError::MissingTensor { dir, .. } => {
                CheckpointError::MissingTensor { tensor: e.name.clone(), dir }.into()
            }
            other => FinetuneError::from(other),
        })?;
        model.params_mut().data_mut()[e.offset..e.offset + e.len].copy_from_slice(values);
    }
    Ok(model)
}

/// `config.json` for a task model: HF's fields for the head, the label names, the problem type, the task and
/// the dropout rates.
pub fn task_config_json(model: &TaskModel, meta: &TaskMeta) -> serde_json::Value {
    let mut json = hf_config_json(&model.config, meta.head());
    if let Some(map) = json.as_object_mut() {
        if !meta.labels.is_empty() {
            let id2label: serde_json::Map<String, serde_json::Value> =
                meta.labels.iter().enumerate().map(|(i, l)| (i.to_string(), l.clone().into())).collect();
            let label2id: serde_json::Map<String, serde_json::Value> =
                meta.labels.iter().enumerate().map(|(i, l)| (l.clone(), i.into())).collect();
            map.insert("id2label".into(), id2label.into());
            map.insert("label2id".into(), label2id.into());
        }
        if let HeadKind::SequenceClassification { .. } = meta.head() {
            let problem = if meta.is_regression() { "regression" } else { "single_label_classification" };
            map.insert("problem_type".into(), problem.into());
        }
        map.insert("finetuning_task".into(), meta.task.name().into());
        map.insert("hidden_dropout_prob".into(), f64::from(meta.dropout.hidden).into());
        map.insert("attention_probs_dropout_prob".into(), f64::from(meta.dropout.attention).into());
        map.insert("classifier_dropout".into(), f64::from(meta.dropout.classifier).into());
    }
    json
}

/// Writes the task model's files into `dir`, an existing empty directory (see
/// [`crate::checkpoint::write_hf_files`]).
pub fn write_task_model_files(
    dir: &Path,
    model: &TaskModel,
    meta: &TaskMeta,
    vocab_txt: &[u8],
) -> Result<(), CheckpointError> {
    write_hf_files(dir, &model.config, &task_config_json(model, meta), &model.tensors(), vocab_txt)
}

/// Saves a task model as an HF directory that appears whole or not at all.
pub fn save_task_model(dir: &Path, model: &TaskModel, meta: &TaskMeta, vocab_txt: &[u8]) -> Result<(), FinetuneError> {
    write_dir_atomically(dir, |tmp: &Path| -> Result<(), FinetuneError> {
        Ok(write_task_model_files(tmp, model, meta, vocab_txt)?)
    })
}

/// Reads the task fields of `dir/config.json`: label names (`id2label` in id order), regression, the task
/// (`finetuning_task`, `custom` when absent or unknown) and the dropout rates (HF's 0.1 where absent;
/// `classifier_dropout: null` falls back to the hidden rate, as HF does).
pub fn read_task_meta(dir: &Path) -> Result<TaskMeta, FinetuneError> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(io_at(&path))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| CheckpointError::Config { path: path.clone(), message: e.to_string() })?;
    let bad = |message: String| FinetuneError::Checkpoint(CheckpointError::Config { path: path.clone(), message });
    let architecture = json["architectures"].get(0).and_then(|a| a.as_str()).unwrap_or("");
    let task_name = json["finetuning_task"].as_str().unwrap_or("");
    let mut task = Task::from_str(task_name, true).unwrap_or(Task::Custom);
    if architecture == "ElectraForTokenClassification" {
        task = Task::Tagging;
    } else if task == Task::Tagging {
        return Err(bad(format!("finetuning_task `tagging` with architecture `{architecture}`")));
    }
    let mut labels: Vec<(usize, String)> = Vec::new();
    if let Some(map) = json["id2label"].as_object() {
        for (id, name) in map {
            let id = id.parse::<usize>().map_err(|_| bad(format!("id2label key `{id}` is not a class index")))?;
            let name = name.as_str().ok_or_else(|| bad(format!("id2label[{id}] is not a string")))?;
            labels.push((id, name.to_string()));
        }
    }
    labels.sort();
    if labels.iter().enumerate().any(|(i, (id, _))| *id != i) {
        return Err(bad("id2label keys are not 0, 1, 2, …".into()));
    }
    let regression = json["problem_type"].as_str() == Some("regression")
        || (architecture == "ElectraForSequenceClassification" && labels.len() == 1);
    let rate = |key: &str| json[key].as_f64().map(|v| v as f32);
    let hidden = rate("hidden_dropout_prob").unwrap_or(0.1);
    let dropout = DropoutRates {
        hidden,
        attention: rate("attention_probs_dropout_prob").unwrap_or(0.1),
        classifier: rate("classifier_dropout").unwrap_or(hidden),
    };
    dropout.validate().map_err(bad)?;
    let labels = if regression { Vec::new() } else { labels.into_iter().map(|(_, name)| name).collect() };
    Ok(TaskMeta { task, labels, dropout })
}

/// A saved task model, its task fields and its vocabulary.
pub struct LoadedTaskModel {
    pub model: TaskModel,
    pub meta: TaskMeta,
    pub vocab_txt: Vec<u8>,
    pub dir: PathBuf,
}

/// Loads a task model directory (an `electra finetune` output, or an HF one with the same layout).
pub fn load_task_model(dir: &Path) -> Result<LoadedTaskModel, FinetuneError> {
    let dir = resolve_start(dir)?;
    let ckpt = HfCheckpoint::load(&dir)?;
    let meta = read_task_meta(&dir)?;
    match (ckpt.head, meta.head()) {
        (HeadKind::SequenceClassification { .. }, HeadKind::SequenceClassification { .. })
        | (HeadKind::TokenClassification { .. }, HeadKind::TokenClassification { .. }) => {}
        (found, _) => {
            return Err(FinetuneError::Invalid {
                message: format!(
                    "{}: `{}` is not a task model (fine-tune it first with `electra finetune`)",
                    dir.display(),
                    found.hf_architecture()
                ),
            })
        }
    }
    let mut loaded = ckpt;
    loaded.head = meta.head();
    let model = TaskModel::from_checkpoint(&loaded)?;
    let vocab_path = dir.join("vocab.txt");
    let vocab_txt = std::fs::read(&vocab_path).map_err(io_at(&vocab_path))?;
    Ok(LoadedTaskModel { model, meta, vocab_txt, dir })
}
