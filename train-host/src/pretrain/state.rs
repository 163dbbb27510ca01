//! The run's checkpoint: `OUT/checkpoint-latest/` holds
//!
//! - `discriminator/` and `generator/`: HF checkpoints (`ElectraForPreTraining`, `ElectraForMaskedLM`),
//! - `trainer_state.safetensors`: the AdamW moments, `optimizer.m.<param>` and `optimizer.v.<param>`,
//! - `trainer_state.json`: step, data position, RNG state, optimizer step count, the run's settings.
//!
//! The directory is replaced as a whole ([`crate::checkpoint::atomic`]), so it always holds one consistent step.

use super::backend::{AdamW, AdamWConfig, ElectraPretraining, ParamSet, TrainRng};
use super::PretrainError;
use crate::checkpoint::atomic::{recover_dir, sync_dir, write_dir_atomically, write_file_synced};
use crate::checkpoint::{
    hf_config_json, safetensors_bytes, write_hf_files, CheckpointError, HfCheckpoint, NamedTensor,
};
use crate::distributed::GradPrecision;
use crate::model::dropout::DropoutRates;
use electra_core::{ElectraConfig, HeadKind};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Version of `trainer_state.json`; a reader refuses others.
pub const STATE_FORMAT: u32 = 1;
pub const CHECKPOINT_DIR: &str = "checkpoint-latest";
pub const DISCRIMINATOR_DIR: &str = "discriminator";
pub const GENERATOR_DIR: &str = "generator";
pub const STATE_JSON: &str = "trainer_state.json";
pub const STATE_TENSORS: &str = "trainer_state.safetensors";
pub(crate) const M_PREFIX: &str = "optimizer.m.";
pub(crate) const V_PREFIX: &str = "optimizer.v.";

/// Everything that fixes a run's trajectory. A resumed run must use exactly these.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub generator: ElectraConfig,
    pub discriminator: ElectraConfig,
    /// Total optimizer steps; the learning-rate schedule decays to 0 at this step.
    pub steps: u64,
    /// Sequences per step on each process.
    pub batch_size: usize,
    /// Seeds the initial weights, the data order and the masking/sampling RNG.
    pub seed: u64,
    pub lr: f32,
    pub warmup_steps: u64,
    pub weight_decay: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Global gradient-norm clipping threshold; `None` turns clipping off.
    pub clip_norm: Option<f32>,
    /// torch's AdamW divides the moments by `1 - beta^t`; ELECTRA's optimizer does not.
    pub bias_correction: bool,
    /// Weight of the discriminator's RTD loss: loss = MLM + disc_weight × RTD.
    pub disc_weight: f32,
    /// Processes training together (data-parallel ranks).
    pub world_size: usize,
    /// Micro-batches each process splits its batch into, one per core (the gradient is their sum). Saved with
    /// the run so a resume on a machine with another core count adds the floats in the same order.
    #[serde(default = "one_micro_batch")]
    pub micro_batches: usize,
    /// Dropout in the generator's and the discriminator's encoders (ELECTRA: 0.1); written to both `config.json`s.
    #[serde(default = "no_dropout")]
    pub dropout: DropoutRates,
    /// How gradients travel between MPI ranks (`--grad-precision`); bf16 changes the sums, so it is part of the
    /// run. Runs saved before it existed sent float32.
    #[serde(default)]
    pub grad_precision: GradPrecision,
    /// Where the initial weights came from (`--init`): the directory holding `discriminator/` and `generator/`.
    /// `None`: initialized as HF does, from `seed`. Only a fresh run reads it; a resumed run's weights are its
    /// checkpoint's, and this stays as the record of where the run began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<PathBuf>,
}

/// Runs saved before micro-batches existed ran each step in one pass.
fn one_micro_batch() -> usize {
    1
}

/// Runs saved before dropout existed trained without it, and resume that way.
fn no_dropout() -> DropoutRates {
    DropoutRates::OFF
}

pub use crate::objective::default_micro_batches;

/// ELECTRA's learning rate for ELECTRA-Small.
pub const DEFAULT_LR: f32 = 5e-4;
/// ELECTRA's warmup (10,000 steps of a 1M-step run), capped for short runs at a tenth of the steps.
pub const DEFAULT_MAX_WARMUP: u64 = 10_000;
pub const DEFAULT_DISC_WEIGHT: f32 = 50.0;

impl RunConfig {
    /// ELECTRA's pre-training settings (`configure_pretraining.py`): lr 5e-4, warmup min(10000, steps / 10),
    /// AdamW β (0.9, 0.999), ε 1e-6, weight decay 0.01, no bias correction, clipping at 1, RTD weight 50, dropout
    /// 0.1; seed 0.
    pub fn electra(models: super::ModelPair, steps: u64, batch_size: usize) -> Self {
        let adam = AdamWConfig::electra();
        Self {
            generator: models.generator,
            discriminator: models.discriminator,
            steps,
            batch_size,
            seed: 0,
            lr: DEFAULT_LR,
            warmup_steps: DEFAULT_MAX_WARMUP.min(steps / 10),
            weight_decay: adam.weight_decay,
            beta1: adam.beta1,
            beta2: adam.beta2,
            eps: adam.eps,
            clip_norm: adam.clip_norm,
            bias_correction: adam.bias_correction,
            disc_weight: DEFAULT_DISC_WEIGHT,
            world_size: 1,
            micro_batches: default_micro_batches(batch_size),
            dropout: DropoutRates::ELECTRA,
            grad_precision: GradPrecision::F32,
            init: None,
        }
    }
}

/// A float32 rate as `config.json` writes it: through its decimal string, so 0.1 stays 0.1.
fn json_rate(p: f32) -> serde_json::Value {
    p.to_string().parse::<f64>().unwrap_or(p as f64).into()
}

/// HF's `config.json` of one model of the run, with the run's dropout rates (HF's `classifier_dropout` is null
/// when it equals `hidden_dropout_prob`, which HF then uses).
pub fn run_config_json(config: &ElectraConfig, head: HeadKind, dropout: &DropoutRates) -> serde_json::Value {
    let mut json = hf_config_json(config, head);
    if let Some(map) = json.as_object_mut() {
        map.insert("hidden_dropout_prob".into(), json_rate(dropout.hidden));
        map.insert("attention_probs_dropout_prob".into(), json_rate(dropout.attention));
        let classifier =
            if dropout.classifier == dropout.hidden { serde_json::Value::Null } else { json_rate(dropout.classifier) };
        map.insert("classifier_dropout".into(), classifier);
    }
    json
}

/// Which data the run reads, to refuse resuming on other shards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataIdentity {
    pub dir: PathBuf,
    /// The shard manifest's `run_fingerprint`.
    pub run_fingerprint: String,
    pub vocab_sha256: String,
    pub seq_len: usize,
    pub rows: u64,
}

/// Where training stands after `step` optimizer steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub step: u64,
    /// The data position of the next batch: `batch_in_epoch` batches of `epoch` are consumed.
    pub epoch: u64,
    pub batch_in_epoch: u64,
    /// Training seconds so far, over all sessions.
    pub elapsed_seconds: f64,
    /// Real (non-padding) tokens trained on so far, all ranks.
    pub tokens_seen: u64,
}

/// `trainer_state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerStateJson {
    pub format: u32,
    pub progress: Progress,
    /// The masking/sampling RNG, each word as 16 hex digits (JSON numbers lose bits above 2^53).
    pub rng_state: Vec<String>,
    /// AdamW's step count `t` (the bias-correction exponent).
    pub optimizer_t: u64,
    pub config: RunConfig,
    pub data: DataIdentity,
}

/// A checkpoint read back: the model, optimizer and RNG exactly as they were, and where training stood.
pub struct LoadedCheckpoint {
    pub dir: PathBuf,
    pub model: ElectraPretraining,
    pub optimizer: AdamW,
    pub rng: TrainRng,
    pub state: TrainerStateJson,
}

fn bad(path: &Path, message: impl Into<String>) -> PretrainError {
    PretrainError::BadFile { path: path.to_path_buf(), message: message.into() }
}

/// The checkpoint directory of the run in `out_dir`.
pub fn checkpoint_dir(out_dir: &Path) -> PathBuf {
    out_dir.join(CHECKPOINT_DIR)
}

/// The tensors of a blob laid out as `params` (AdamW's moments), named `<prefix><parameter name>`.
pub(crate) fn moment_tensors(params: &ParamSet, blob: &[f32], prefix: &str) -> Vec<NamedTensor> {
    params
        .entries()
        .iter()
        .map(|e| (format!("{prefix}{}", e.name), e.shape.clone(), blob[e.offset..e.offset + e.len].to_vec()))
        .collect()
}

fn make_subdir(dir: &Path) -> Result<(), CheckpointError> {
    std::fs::create_dir(dir).map_err(|source| CheckpointError::Io { path: dir.to_path_buf(), source })
}

/// Writes `OUT/checkpoint-latest` atomically and returns its path. Nothing is replaced unless every file was
/// written and flushed; a non-finite weight refuses the save and keeps the previous checkpoint.
pub fn save_checkpoint(
    out_dir: &Path,
    model: &ElectraPretraining,
    optimizer: &AdamW,
    rng: &TrainRng,
    state: &TrainerStateJson,
    vocab_txt: &[u8],
) -> Result<PathBuf, PretrainError> {
    let dest = checkpoint_dir(out_dir);
    let mut moments = moment_tensors(model.params(), &optimizer.m, M_PREFIX);
    moments.extend(moment_tensors(model.params(), &optimizer.v, V_PREFIX));
    let mut json = state.clone();
    json.rng_state = rng.state().iter().map(|w| format!("{w:016x}")).collect();
    json.optimizer_t = optimizer.t;
    write_dir_atomically(&dest, |tmp: &Path| -> Result<(), PretrainError> {
        write_models(tmp, model, state, vocab_txt)?;
        let tensors_path = tmp.join(STATE_TENSORS);
        if let Some((name, _, _)) = moments.iter().find(|(_, _, d)| d.iter().any(|x| !x.is_finite())) {
            return Err(CheckpointError::NonFinite { tensor: name.clone() }.into());
        }
        write_file_synced(&tensors_path, &safetensors_bytes(&tensors_path, &moments)?)?;
        let json_path = tmp.join(STATE_JSON);
        let mut text = serde_json::to_string_pretty(&json).map_err(|e| bad(&json_path, e.to_string()))?;
        text.push('\n');
        write_file_synced(&json_path, text.as_bytes())?;
        Ok(())
    })?;
    Ok(dest)
}

/// `OUT/checkpoint-<step>`: the models of step `step`, kept beside `checkpoint-latest` when the session asks for it
/// ([`crate::pretrain::trainer::SessionOptions::keep_every`]).
pub fn kept_checkpoint_dir(out_dir: &Path, step: u64) -> PathBuf {
    out_dir.join(format!("checkpoint-{step}"))
}

/// Writes `OUT/checkpoint-<step>` atomically: `discriminator/` and `generator/` exactly as in `checkpoint-latest`,
/// without the optimizer's moments and trainer state (a kept step is for fine-tuning, not for resuming).
pub fn save_models(
    out_dir: &Path,
    model: &ElectraPretraining,
    state: &TrainerStateJson,
    vocab_txt: &[u8],
) -> Result<PathBuf, PretrainError> {
    let dest = kept_checkpoint_dir(out_dir, state.progress.step);
    write_dir_atomically(&dest, |tmp: &Path| write_models(tmp, model, state, vocab_txt))?;
    Ok(dest)
}

/// The discriminator and the generator as HF model directories under `dir`.
fn write_models(
    dir: &Path,
    model: &ElectraPretraining,
    state: &TrainerStateJson,
    vocab_txt: &[u8],
) -> Result<(), PretrainError> {
    for (sub, config, head, tensors) in [
        (
            DISCRIMINATOR_DIR,
            &state.config.discriminator,
            HeadKind::ReplacedTokenDetection,
            model.discriminator_tensors(),
        ),
        (GENERATOR_DIR, &state.config.generator, HeadKind::MaskedLm, model.generator_tensors()),
    ] {
        let dir = dir.join(sub);
        make_subdir(&dir)?;
        write_hf_files(&dir, config, &run_config_json(config, head, &state.config.dropout), &tensors, vocab_txt)?;
        sync_dir(&dir)?;
    }
    Ok(())
}

/// Reads `trainer_state.json` of a checkpoint directory.
pub fn read_state_json(dir: &Path) -> Result<TrainerStateJson, PretrainError> {
    let path = dir.join(STATE_JSON);
    let text = std::fs::read_to_string(&path).map_err(|source| PretrainError::Io { path: path.clone(), source })?;
    let state: TrainerStateJson = serde_json::from_str(&text).map_err(|e| bad(&path, e.to_string()))?;
    if state.format != STATE_FORMAT {
        return Err(bad(&path, format!("trainer state format {} (this build reads {STATE_FORMAT})", state.format)));
    }
    Ok(state)
}

fn parse_rng(path: &Path, words: &[String]) -> Result<TrainRng, PretrainError> {
    let mut state = Vec::with_capacity(words.len());
    for w in words {
        state.push(u64::from_str_radix(w, 16).map_err(|e| bad(path, format!("rng_state word `{w}`: {e}")))?);
    }
    rng_from_words(&state).ok_or_else(|| bad(path, format!("rng_state has {} words", words.len())))
}

/// Repairs what a kill during a save left behind in `out_dir` (see [`recover_dir`]); one process at a time.
/// Returns whether a checkpoint exists.
pub fn recover_checkpoint(out_dir: &Path) -> Result<bool, PretrainError> {
    Ok(recover_dir(&checkpoint_dir(out_dir))?)
}

/// Loads `OUT/checkpoint-latest` (call [`recover_checkpoint`] first). `Ok(None)`: no checkpoint.
pub fn load_checkpoint(out_dir: &Path) -> Result<Option<LoadedCheckpoint>, PretrainError> {
    let dir = checkpoint_dir(out_dir);
    if !dir.exists() {
        return Ok(None);
    }
    let state = read_state_json(&dir)?;
    let json_path = dir.join(STATE_JSON);
    let disc = HfCheckpoint::load(&dir.join(DISCRIMINATOR_DIR))?;
    let gen = HfCheckpoint::load(&dir.join(GENERATOR_DIR))?;
    for (what, saved, file) in [
        ("discriminator", &state.config.discriminator, &disc.config),
        ("generator", &state.config.generator, &gen.config),
    ] {
        if saved != file {
            return Err(bad(&json_path, format!("the {what} config.json does not match the run's config")));
        }
    }
    let model = ElectraPretraining::from_tensors(state.config.generator, state.config.discriminator, &gen, &disc)
        .map_err(|e| bad(&dir, e.to_string()))?;
    let tensors_path = dir.join(STATE_TENSORS);
    let moments = read_moments(&tensors_path)?;
    let optimizer = restore_optimizer(&state.config, model.params(), &moments, state.optimizer_t)
        .map_err(|message| bad(&tensors_path, message))?;
    let rng = parse_rng(&json_path, &state.rng_state)?;
    Ok(Some(LoadedCheckpoint { dir, model, optimizer, rng, state }))
}

/// The directory `--init DIR` takes its models from: `DIR/checkpoint-latest` (a pre-training run's `--out`) or
/// `DIR` itself, whichever holds both `discriminator/config.json` and `generator/config.json`.
pub fn resolve_init(dir: &Path) -> Result<PathBuf, PretrainError> {
    let holds_pair =
        |d: &Path| [DISCRIMINATOR_DIR, GENERATOR_DIR].iter().all(|m| d.join(m).join("config.json").is_file());
    [checkpoint_dir(dir), dir.to_path_buf()].into_iter().find(|d| holds_pair(d)).ok_or_else(|| PretrainError::Invalid {
        message: format!(
            "--init {}: no {DISCRIMINATOR_DIR}/config.json and {GENERATOR_DIR}/config.json there nor in \
                 {CHECKPOINT_DIR}/ (give a pre-training run's --out, one of its checkpoint-N/ directories, or a \
                 directory holding an HF ElectraForPreTraining as {DISCRIMINATOR_DIR}/ and an ElectraForMaskedLM as \
                 {GENERATOR_DIR}/)",
            dir.display()
        ),
    })
}

/// The generator's and the discriminator's configs of the models `--init DIR` names (only their `config.json`s
/// are read), in that order.
pub fn init_configs(dir: &Path) -> Result<(ElectraConfig, ElectraConfig), PretrainError> {
    let dir = resolve_init(dir)?;
    let (generator, _) = HfCheckpoint::read_config(&dir.join(GENERATOR_DIR))?;
    let (discriminator, _) = HfCheckpoint::read_config(&dir.join(DISCRIMINATOR_DIR))?;
    Ok((generator, discriminator))
}

/// The models `--init DIR` names, as the run's `config` describes them: each checkpoint's config must equal the
/// run's, its head must be ELECTRA's (`ElectraForMaskedLM`, `ElectraForPreTraining`), and both must hold the same
/// embeddings, which ELECTRA shares.
pub fn load_init(dir: &Path, config: &RunConfig) -> Result<ElectraPretraining, PretrainError> {
    let dir = resolve_init(dir)?;
    let gen = HfCheckpoint::load(&dir.join(GENERATOR_DIR))?;
    let disc = HfCheckpoint::load(&dir.join(DISCRIMINATOR_DIR))?;
    for (what, run, file, ckpt) in [
        ("generator", &config.generator, &gen.config, &gen),
        ("discriminator", &config.discriminator, &disc.config, &disc),
    ] {
        if run != file {
            return Err(bad(
                &ckpt.dir.join("config.json"),
                format!("--init: this {what} config differs from the run's (--model-size cannot change it)"),
            ));
        }
    }
    ElectraPretraining::from_tensors(config.generator, config.discriminator, &gen, &disc)
        .map_err(|e| bad(&dir, format!("--init: {e}")))
}

pub(crate) fn read_moments(
    path: &Path,
) -> Result<std::collections::BTreeMap<String, crate::checkpoint::Tensor>, PretrainError> {
    let bytes = std::fs::read(path).map_err(|source| PretrainError::Io { path: path.to_path_buf(), source })?;
    let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(path, e.to_string()))?;
    let mut out = std::collections::BTreeMap::new();
    for (name, view) in file.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(bad(path, format!("tensor `{name}` is {:?}, optimizer moments are F32", view.dtype())));
        }
        let data = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        out.insert(name, crate::checkpoint::Tensor { shape: view.shape().to_vec(), data });
    }
    Ok(out)
}

/// A moment blob of `params`' layout from `<prefix><name>` tensors; every parameter must be there.
pub(crate) fn moment_blob(
    params: &ParamSet,
    moments: &std::collections::BTreeMap<String, crate::checkpoint::Tensor>,
    prefix: &str,
) -> Result<Vec<f32>, String> {
    let mut blob = vec![0.0f32; params.len()];
    for e in params.entries() {
        let key = format!("{prefix}{}", e.name);
        let tensor = moments.get(&key).ok_or_else(|| format!("no tensor `{key}`"))?;
        if tensor.shape != e.shape {
            return Err(format!("tensor `{key}` has shape {:?}, the parameter has {:?}", tensor.shape, e.shape));
        }
        blob[e.offset..e.offset + e.len].copy_from_slice(&tensor.data);
    }
    Ok(blob)
}

/// AdamW exactly as it was saved: its moments and step count.
fn restore_optimizer(
    config: &RunConfig,
    params: &ParamSet,
    moments: &std::collections::BTreeMap<String, crate::checkpoint::Tensor>,
    t: u64,
) -> Result<AdamW, String> {
    let m = moment_blob(params, moments, M_PREFIX)?;
    let v = moment_blob(params, moments, V_PREFIX)?;
    AdamW::from_state(super::trainer::adamw_config(config), params, m, v, t).map_err(|e| e.to_string())
}

fn rng_from_words(words: &[u64]) -> Option<TrainRng> {
    Some(TrainRng::from_state(words.try_into().ok()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_run_config_saved_before_dropout_reads_with_none_and_new_runs_use_electras() {
        let fresh = RunConfig::electra(super::super::ModelPair::from_arg("tiny").unwrap(), 10, 4);
        assert_eq!(fresh.dropout, DropoutRates::ELECTRA);
        let mut json = serde_json::to_value(&fresh).unwrap();
        assert!(json.as_object_mut().unwrap().remove("dropout").is_some());
        let old: RunConfig = serde_json::from_value(json).unwrap();
        assert_eq!(old.dropout, DropoutRates::OFF);
        assert_eq!(old, RunConfig { dropout: DropoutRates::OFF, ..fresh.clone() });
        // And it round-trips when present.
        let back: RunConfig = serde_json::from_str(&serde_json::to_string(&fresh).unwrap()).unwrap();
        assert_eq!(back, fresh);
    }

    #[test]
    fn config_json_carries_the_runs_dropout() {
        let c = ElectraConfig::tiny();
        let json = run_config_json(&c, HeadKind::ReplacedTokenDetection, &DropoutRates::ELECTRA);
        assert_eq!(json["hidden_dropout_prob"], serde_json::json!(0.1));
        assert_eq!(json["attention_probs_dropout_prob"], serde_json::json!(0.1));
        assert!(json["classifier_dropout"].is_null());
        let off = run_config_json(&c, HeadKind::MaskedLm, &DropoutRates::OFF);
        assert_eq!(off["hidden_dropout_prob"], serde_json::json!(0.0));
        assert_eq!(off["attention_probs_dropout_prob"], serde_json::json!(0.0));
        let mixed = DropoutRates { hidden: 0.2, attention: 0.05, classifier: 0.3 };
        let json = run_config_json(&c, HeadKind::MaskedLm, &mixed);
        assert_eq!(json["classifier_dropout"], serde_json::json!(0.3));
        assert_eq!(json["attention_probs_dropout_prob"], serde_json::json!(0.05));
        // Everything else is hf_config_json's.
        let mut plain = hf_config_json(&c, HeadKind::MaskedLm);
        let mut ours = run_config_json(&c, HeadKind::MaskedLm, &DropoutRates::ELECTRA);
        for j in [&mut plain, &mut ours] {
            for key in ["hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"] {
                j.as_object_mut().unwrap().remove(key);
            }
        }
        assert_eq!(plain, ours);
    }
}
