//! The fine-tuning run (`electra finetune`): an encoder from a checkpoint, a fresh task head, the recipe of
//! [`super::recipe`], dev evaluation every epoch (or every N steps), the best model kept, exact resume.
//!
//! `OUT/` holds:
//! - `model/`: the model to use, HF layout (the best on dev by the task's metric; the last without `--dev`);
//! - `checkpoint-latest/`: `model/` of the latest evaluation point, the AdamW moments (`trainer_state.safetensors`)
//!   and `trainer_state.json` (the run's settings, step, best so far): `--resume` continues from it;
//! - `metrics.jsonl`: one line per step (`loss`, `lr`, `grad_norm`, `examples_per_s`) and one per evaluation
//!   (`"eval": {metric: value}`);
//! - `finetune.png`: the training loss and the dev metric against the step.
//!
//! Everything random is a function of the seed and the step: the data order of epoch `e` comes from
//! `TrainRng::new(seed ⊕ e)`, the dropout masks of step `s` from `(seed, s, example index)`. So a run resumed at
//! step `s` takes exactly the steps an uninterrupted run would.
//!
//! **Data-parallel** under `mpirun`/`srun` (the `mpi` feature): every rank reads the same files and draws the same
//! batches; rank `r` of `W` takes the `r`-th contiguous slice of each batch (length-sorted, so the slices need
//! little padding), and the ranks average their gradients, each weighted by its share of the batch's labels, before
//! the same AdamW step everywhere. A step is the one-process step up to float reassociation (the masks are keyed by
//! example, not by rank), so the world size is not part of the run: a run may resume on another number of ranks.
//! Rank 0 alone evaluates, logs, shows progress and writes; the others wait for it at each checkpoint.

use super::data::{self, Columns, Encoded, LabelMap, PaddedBatch, Target, Task};
use super::error::{io_at, FinetuneError};
use super::evaluate::{predict, score, Evaluation};
use super::recipe::{layer_lr_scale, Hyper};
use super::task_model::{
    model_from_checkpoint, resolve_start, save_task_model, write_task_model_files, TaskMeta, MODEL_DIR,
};
use crate::checkpoint::atomic::{recover_dir, sync_dir, write_dir_atomically, write_file_synced};
use crate::checkpoint::{safetensors_bytes, CheckpointError, HfCheckpoint};
use crate::distributed::{GradPrecision, World};
use crate::model::dropout::{Dropout, DropoutRates};
use crate::model::loss::IGNORE_INDEX;
use crate::model::task::MicroBatch;
use crate::model::{Labels, TaskModel, Tokens};
use crate::optim::{AdamW, LinearSchedule};
use crate::pretrain::state::{moment_blob, moment_tensors, read_moments, M_PREFIX, V_PREFIX};
use crate::rng::TrainRng;
use electra_pipeline::atomic_file::write_bytes_atomically;
use electra_pipeline::tokenizer::HostTokenizer;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub const CHECKPOINT_DIR: &str = "checkpoint-latest";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const PLOT_FILE: &str = "finetune.png";
const STATE_JSON: &str = "trainer_state.json";
const STATE_TENSORS: &str = "trainer_state.safetensors";
/// Version of `trainer_state.json`; a reader refuses others.
const STATE_FORMAT: u32 = 1;
/// Sentences per batch when evaluating (no gradients: larger batches only cost memory).
const EVAL_BATCH: usize = 64;

/// Everything that fixes a run's trajectory; saved with the run, and a resume uses exactly this.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    pub task: Task,
    /// The checkpoint directory the encoder came from.
    pub start: PathBuf,
    /// The encoder was freshly initialized instead (a baseline for "does pre-training pay off").
    pub random_init: bool,
    pub train: PathBuf,
    /// sha256 of the training file, so a resume on changed data is refused.
    pub train_sha256: String,
    pub dev: Option<PathBuf>,
    pub text_a: Option<String>,
    pub text_b: Option<String>,
    pub label: Option<String>,
    pub tag_column: Option<usize>,
    pub hyper: Hyper,
    pub dropout: DropoutRates,
    pub seed: u64,
    /// Evaluate on dev every this many steps; `None`: at the end of every epoch.
    pub eval_every: Option<u64>,
    /// Micro-batches each step's batch (a rank's slice of it) is split into, one per core
    /// ([`TaskModel::loss_and_gradients_split`]); saved, so a resume on another machine adds the same floats in
    /// the same order. Runs saved before micro-batches existed ran one.
    #[serde(default = "one_micro_batch")]
    pub micro_batches: usize,
    /// How gradients travel between MPI ranks (`--grad-precision`, as `electra pretrain`'s); runs saved before it
    /// existed sent float32.
    #[serde(default)]
    pub grad_precision: GradPrecision,
}

fn one_micro_batch() -> usize {
    1
}

impl RunSpec {
    fn columns(&self) -> Columns {
        Columns { text_a: self.text_a.clone(), text_b: self.text_b.clone(), label: self.label.clone() }
    }
}

/// What a new run needs beyond its [`RunSpec`].
pub struct FinetuneOptions {
    pub spec: RunSpec,
    /// `vocab.txt` to tokenize with (the checkpoint's own by default).
    pub vocab: Option<PathBuf>,
    pub out: PathBuf,
}

/// How the session runs: resumed or not, a progress bar, where to stop early.
#[derive(Clone, Debug, Default)]
pub struct Session {
    pub progress: bool,
    /// Stop (with a checkpoint) after this many steps in all, as a crash would; `--resume` continues.
    pub stop_after: Option<u64>,
}

/// One dev evaluation, as logged and kept in the state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    pub step: u64,
    pub epoch: f64,
    pub metrics: Vec<(String, f64)>,
    pub headline: String,
    pub value: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct StateJson {
    format: u32,
    spec: RunSpec,
    meta: TaskMeta,
    step: u64,
    optimizer_t: u64,
    /// Seconds of training so far, over every session.
    seconds: f64,
    evals: Vec<EvalRecord>,
    /// The step whose model `OUT/model/` holds.
    best_step: Option<u64>,
}

/// What the run did, for the summary.
#[derive(Clone, Debug)]
pub struct FinetuneSummary {
    pub out: PathBuf,
    pub model_dir: PathBuf,
    pub steps_done: u64,
    pub total_steps: u64,
    pub resumed_from: Option<u64>,
    pub train_examples: usize,
    pub dev_examples: usize,
    pub evals: Vec<EvalRecord>,
    pub best: Option<EvalRecord>,
    /// Examples per second over this session's steps (data preparation excluded).
    pub examples_per_s: f64,
    pub meta: TaskMeta,
    pub plot: Option<PathBuf>,
    pub finished: bool,
}

/// The run's data, encoded once.
struct Prepared {
    meta: TaskMeta,
    vocab_txt: Vec<u8>,
    train: Vec<Encoded>,
    dev: Vec<Encoded>,
}

/// A tagger's tag set: the training file's tags and the dev file's. A tag only the dev file uses is a real case
/// (CoNLL-2000's test file has `I-LST`, which its training file never uses); as HF's `conll2000` dataset declares
/// all of its tags up front, the model gets an output for it, which training never makes positive, and a notice
/// says so. (A classification label missing from training stays an error: there it is a mistake, not a tag set.)
fn tag_set(
    spec: &RunSpec,
    train: &[data::TaggedSentence],
    dev: &[data::TaggedSentence],
) -> Result<LabelMap, FinetuneError> {
    let mut tags = data::train_tags(train);
    let known: std::collections::HashSet<&str> = tags.iter().map(String::as_str).collect();
    let mut dev_only: Vec<String> = data::train_tags(dev).into_iter().filter(|t| !known.contains(t.as_str())).collect();
    dev_only.sort();
    dev_only.dedup();
    if let (Some(path), false) = (&spec.dev, dev_only.is_empty()) {
        eprintln!(
            "note: {}: tags not in the training file: {}; the model gets an output for each, never trained positive",
            path.display(),
            dev_only.join(", ")
        );
    }
    tags.extend(dev_only);
    Ok(LabelMap::for_task(Task::Tagging, tags)?)
}

/// Reads and encodes the training and dev files, fixing the label set from the training file (and the task
/// model's `meta`, when resuming).
fn prepare(spec: &RunSpec, vocab_txt: Vec<u8>, resumed_meta: Option<&TaskMeta>) -> Result<Prepared, FinetuneError> {
    let tokenizer = HostTokenizer::from_bytes(vocab_txt.clone())?;
    let max_len = spec.hyper.max_len;
    let (meta, train, dev) = if spec.task == Task::Tagging {
        let train = data::read_tagged(&spec.train, spec.tag_column)?;
        let dev_sentences = match &spec.dev {
            Some(path) => data::read_tagged(path, spec.tag_column)?,
            None => Vec::new(),
        };
        let labels = match resumed_meta {
            Some(m) => m.label_map(),
            None => tag_set(spec, &train, &dev_sentences)?,
        };
        let dev = match &spec.dev {
            Some(path) => data::encode_all_tagged(&tokenizer, &dev_sentences, &labels, max_len, path)?,
            None => Vec::new(),
        };
        let encoded = data::encode_all_tagged(&tokenizer, &train, &labels, max_len, &spec.train)?;
        let meta = TaskMeta { task: Task::Tagging, labels: labels.labels().to_vec(), dropout: spec.dropout };
        (meta, encoded, dev)
    } else {
        let columns = spec.columns();
        let train = data::read_text_examples(&spec.train, spec.task, &columns)?;
        let regression = match resumed_meta {
            Some(m) => m.is_regression(),
            None => spec.task.regression_for(&train),
        };
        let labels = match (regression, resumed_meta) {
            (true, _) => None,
            (false, Some(m)) => Some(m.label_map()),
            (false, None) => Some(LabelMap::for_task(spec.task, data::train_labels(&train))?),
        };
        let encode = |examples: &[data::TextExample], path: &Path| {
            data::encode_all_text(&tokenizer, examples, labels.as_ref(), max_len, path)
        };
        let dev = match &spec.dev {
            Some(path) => encode(&data::read_text_examples(path, spec.task, &columns)?, path)?,
            None => Vec::new(),
        };
        let encoded = encode(&train, &spec.train)?;
        let names = labels.map(|l| l.labels().to_vec()).unwrap_or_default();
        (TaskMeta { task: spec.task, labels: names, dropout: spec.dropout }, encoded, dev)
    };
    if let Some(e) = train.iter().find(|e| matches!(e.target, Target::None)) {
        return Err(FinetuneError::Invalid {
            message: format!(
                "{}: line {} has no label; every training example needs one",
                spec.train.display(),
                e.line
            ),
        });
    }
    if meta.task != Task::Tagging && !meta.is_regression() && meta.labels.len() < 2 {
        return Err(FinetuneError::Invalid {
            message: format!(
                "{}: only one class ({:?}); a classifier needs two or more",
                spec.train.display(),
                meta.labels
            ),
        });
    }
    Ok(Prepared { meta, vocab_txt, train, dev })
}

/// The trainer: model, optimizer and where the run stands.
struct Run {
    spec: RunSpec,
    data: Prepared,
    model: TaskModel,
    opt: AdamW,
    schedule: LinearSchedule,
    step: u64,
    steps_per_epoch: u64,
    total_steps: u64,
    seconds: f64,
    evals: Vec<EvalRecord>,
    best_step: Option<u64>,
    /// The data-parallel ranks (a world of one without a launcher).
    world: World,
}

fn file_sha256(path: &Path) -> Result<String, FinetuneError> {
    let bytes = std::fs::read(path).map_err(io_at(path))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// Fills in the training file's checksum of a new run's spec.
pub fn with_train_checksum(mut spec: RunSpec) -> Result<RunSpec, FinetuneError> {
    spec.train_sha256 = file_sha256(&spec.train)?;
    Ok(spec)
}

impl Run {
    fn optimizer(spec: &RunSpec, model: &TaskModel) -> AdamW {
        let layers = model.config.num_hidden_layers;
        let decay = spec.hyper.layer_decay;
        AdamW::new(spec.hyper.adamw, model.params())
            .with_lr_scales(model.params(), |name| layer_lr_scale(name, layers, decay))
    }

    fn new(spec: RunSpec, vocab: Option<&Path>, world: World) -> Result<Self, FinetuneError> {
        let start = resolve_start(&spec.start)?;
        let ckpt = HfCheckpoint::load(&start)?;
        // The CLI's one vocab rule: --vocab, else the checkpoint's own vocab.txt, else the bundled BERT uncased
        // vocab (a checkpoint exported without one, such as some hub uploads, is still BERT's).
        let own = start.join("vocab.txt");
        let vocab_txt = match vocab.map(Path::to_path_buf).or_else(|| own.is_file().then_some(own)) {
            Some(path) => std::fs::read(&path).map_err(io_at(&path))?,
            None => crate::pretrain::BUNDLED_VOCAB.to_vec(),
        };
        let data = prepare(&spec, vocab_txt, None)?;
        let model = model_from_checkpoint(&ckpt, data.meta.head(), spec.seed, spec.random_init)?;
        let opt = Self::optimizer(&spec, &model);
        Self::assemble(spec, data, model, opt, 0, 0.0, Vec::new(), None, world)
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        spec: RunSpec,
        data: Prepared,
        model: TaskModel,
        opt: AdamW,
        step: u64,
        seconds: f64,
        evals: Vec<EvalRecord>,
        best_step: Option<u64>,
        mut world: World,
    ) -> Result<Self, FinetuneError> {
        world.set_grad_precision(spec.grad_precision);
        if data.train.is_empty() {
            return Err(FinetuneError::Invalid { message: format!("{}: no training examples", spec.train.display()) });
        }
        let h = &spec.hyper;
        if h.batch_size == 0 || h.epochs == 0 {
            return Err(FinetuneError::Invalid { message: "--batch and --epochs must be at least 1".into() });
        }
        let steps_per_epoch = data.train.len().div_ceil(h.batch_size) as u64;
        let total_steps = steps_per_epoch * h.epochs as u64;
        let warmup_steps = (h.warmup_fraction as f64 * total_steps as f64).round() as u64;
        let schedule = LinearSchedule { warmup_steps, total_steps, peak_lr: h.lr };
        Ok(Self {
            spec,
            data,
            model,
            opt,
            schedule,
            step,
            steps_per_epoch,
            total_steps,
            seconds,
            evals,
            best_step,
            world,
        })
    }

    /// The batches of epoch `epoch`, a pure function of the seed and the epoch.
    fn epoch_order(&self, epoch: u64) -> Vec<Vec<usize>> {
        let mut rng = TrainRng::new(self.spec.seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        data::epoch_batches(&self.data.train, self.spec.hyper.batch_size, &mut rng)
    }

    /// One optimizer step on the batch of training examples `indices` (this rank's slice of it when
    /// data-parallel); returns the batch's loss and what the optimizer reported.
    fn train_step(&mut self, indices: &[usize]) -> Result<(f32, f32, f32), FinetuneError> {
        let (rank, ranks) = (self.world.rank(), self.world.world_size());
        let step = self.step + 1;
        let loss = if ranks == 1 {
            self.loss_and_gradients(indices)?
        } else {
            // Each rank's loss is a mean over its slice's labels; weighting each rank's gradient by its share of
            // the batch's labels makes the mean over ranks the gradient of the whole batch's mean loss.
            let whole = label_count(&self.data.train, indices);
            let slice = &indices[rank * indices.len() / ranks..(rank + 1) * indices.len() / ranks];
            let mine = label_count(&self.data.train, slice);
            let loss = if mine > 0 {
                let loss = self.loss_and_gradients(slice)?;
                let share = (mine * ranks) as f32 / whole as f32;
                self.model.grads_mut().data_mut().iter_mut().for_each(|g| *g *= share);
                loss
            } else {
                // Nothing to learn from here (a batch smaller than the world): a zero gradient still joins the mean.
                self.model.grads_mut().fill_zero();
                0.0
            };
            self.world.allreduce_mean(self.model.grads_mut().data_mut())?;
            let mut sums = [loss as f64 * mine as f64 / whole.max(1) as f64];
            self.world.allreduce_sum_f64(&mut sums)?;
            sums[0] as f32
        };
        if !loss.is_finite() {
            return Err(FinetuneError::NonFiniteLoss { step });
        }
        let lr = self.schedule.lr(self.step);
        let (params, grads) = self.model.params_mut_and_grads();
        let report = self.opt.step(params, grads, lr).map_err(|source| FinetuneError::Optim { step, source })?;
        self.step = step;
        Ok((loss, lr, report.grad_norm))
    }

    /// Forward and backward on the training examples `indices`, split into the run's micro-batches: the gradients
    /// of their mean loss are left in the model.
    fn loss_and_gradients(&mut self, indices: &[usize]) -> Result<f32, FinetuneError> {
        let train = &self.data.train;
        let whole = label_count(train, indices);
        // Micro-batch k takes every `parts`-th example from the k-th: a batch comes from a length-sorted window, so
        // each micro-batch gets a like share of its tokens. Each is padded to its own longest example.
        let parts = self.spec.micro_batches.clamp(1, indices.len().max(1));
        let slices: Vec<(Vec<usize>, usize)> = (0..parts)
            .map(|k| {
                let slice: Vec<usize> = indices.iter().skip(k).step_by(parts).copied().collect();
                let labels = label_count(train, &slice);
                (slice, labels)
            })
            .filter(|&(_, labels)| whole == 0 || labels > 0)
            .collect();
        let batches: Vec<PaddedBatch> = slices.iter().map(|(slice, _)| data::pad_batch(train, slice)).collect();
        // Each example's masks depend on its index in the training file and on the step, nothing else.
        let keys: Vec<Vec<u64>> = batches.iter().map(|b| b.examples.iter().map(|&i| i as u64).collect()).collect();
        let step_seed = self.spec.seed ^ self.step.wrapping_add(1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let drops: Vec<Dropout<'_>> = keys.iter().map(|k| Dropout::seeded(self.spec.dropout, step_seed, k)).collect();
        let regression = self.data.meta.is_regression();
        let micro: Vec<MicroBatch<'_>> = batches
            .iter()
            .zip(&drops)
            .zip(&slices)
            .map(|((batch, drop), &(_, labels))| MicroBatch {
                tokens: Tokens::from(batch),
                labels: if regression { Labels::Scores(&batch.scores) } else { Labels::Classes(&batch.classes) },
                drop,
                // Each micro-batch's loss is a mean over its own labels: weighted by its share of the batch's,
                // their sum is the whole batch's mean (a batch without labels keeps one micro-batch, and fails
                // as a non-finite loss would).
                weight: if whole == 0 { 1.0 } else { labels as f32 / whole as f32 },
            })
            .collect();
        Ok(self.model.loss_and_gradients_split(&micro)?)
    }

    fn evaluate_dev(&mut self) -> Result<Option<(Evaluation, EvalRecord)>, FinetuneError> {
        if self.data.dev.is_empty() {
            return Ok(None);
        }
        self.model.refresh_transposes();
        let predictions = predict(&self.model, &self.data.dev, EVAL_BATCH)?;
        let evaluation = score(&self.data.meta, &self.data.dev, &predictions);
        let record = EvalRecord {
            step: self.step,
            epoch: self.step as f64 / self.steps_per_epoch as f64,
            metrics: evaluation.report.metrics.clone(),
            headline: evaluation.report.headline.clone(),
            value: evaluation.report.headline_value(),
        };
        Ok(Some((evaluation, record)))
    }

    fn is_best(&self, value: f64) -> bool {
        let best = self.evals.iter().filter(|e| Some(e.step) == self.best_step).map(|e| e.value).next();
        // NaN (an undefined correlation) never wins; ties keep the earlier model.
        value.is_finite() && best.is_none_or(|b| !b.is_finite() || value > b)
    }

    fn state_json(&self) -> StateJson {
        StateJson {
            format: STATE_FORMAT,
            spec: self.spec.clone(),
            meta: self.data.meta.clone(),
            step: self.step,
            optimizer_t: self.opt.t,
            seconds: self.seconds,
            evals: self.evals.clone(),
            best_step: self.best_step,
        }
    }

    /// Writes `OUT/checkpoint-latest` atomically (rank 0; the other ranks wait for it).
    fn save_checkpoint(&self, out: &Path) -> Result<(), FinetuneError> {
        if self.world.is_root() {
            self.write_checkpoint(out)?;
        }
        self.world.barrier();
        Ok(())
    }

    fn write_checkpoint(&self, out: &Path) -> Result<(), FinetuneError> {
        let mut tensors = moment_tensors(self.model.params(), &self.opt.m, M_PREFIX);
        tensors.extend(moment_tensors(self.model.params(), &self.opt.v, V_PREFIX));
        let json = serde_json::to_string_pretty(&self.state_json())
            .map_err(|e| FinetuneError::Invalid { message: format!("trainer state: {e}") })?;
        write_dir_atomically(&out.join(CHECKPOINT_DIR), |tmp: &Path| -> Result<(), FinetuneError> {
            let model_dir = tmp.join(MODEL_DIR);
            std::fs::create_dir(&model_dir).map_err(io_at(&model_dir))?;
            write_task_model_files(&model_dir, &self.model, &self.data.meta, &self.data.vocab_txt)?;
            sync_dir(&model_dir)?;
            let path = tmp.join(STATE_TENSORS);
            write_file_synced(&path, &safetensors_bytes(&path, &tensors)?)?;
            write_file_synced(&tmp.join(STATE_JSON), format!("{json}\n").as_bytes())?;
            Ok(())
        })
    }

    /// Reads the run saved in `out` (whose interrupted swap, if any, the caller has recovered).
    fn resume(out: &Path, world: World) -> Result<Self, FinetuneError> {
        let dir = out.join(CHECKPOINT_DIR);
        let json_path = dir.join(STATE_JSON);
        if !json_path.is_file() {
            return Err(FinetuneError::NoCheckpoint { dir: out.to_path_buf() });
        }
        let text = std::fs::read_to_string(&json_path).map_err(io_at(&json_path))?;
        let state: StateJson = serde_json::from_str(&text)
            .map_err(|e| FinetuneError::Invalid { message: format!("{}: {e}", json_path.display()) })?;
        if state.format != STATE_FORMAT {
            return Err(FinetuneError::Invalid {
                message: format!(
                    "{}: trainer state format {} (this build reads {STATE_FORMAT})",
                    json_path.display(),
                    state.format
                ),
            });
        }
        let sha = file_sha256(&state.spec.train)?;
        if sha != state.spec.train_sha256 {
            return Err(FinetuneError::ResumeMismatch {
                field: "the training file's sha256",
                saved: state.spec.train_sha256.clone(),
                given: sha,
            });
        }
        let model_dir = dir.join(MODEL_DIR);
        let mut ckpt = HfCheckpoint::load(&model_dir)?;
        ckpt.head = state.meta.head();
        let model = TaskModel::from_checkpoint(&ckpt)?;
        let vocab_path = model_dir.join("vocab.txt");
        let vocab_txt = std::fs::read(&vocab_path).map_err(io_at(&vocab_path))?;
        let data = prepare(&state.spec, vocab_txt, Some(&state.meta))?;
        let tensors_path = dir.join(STATE_TENSORS);
        let invalid =
            |message: String| FinetuneError::Invalid { message: format!("{}: {message}", tensors_path.display()) };
        let moments = read_moments(&tensors_path).map_err(|e| FinetuneError::Invalid { message: e.to_string() })?;
        let m = moment_blob(model.params(), &moments, M_PREFIX).map_err(invalid)?;
        let v = moment_blob(model.params(), &moments, V_PREFIX).map_err(invalid)?;
        let opt = AdamW::from_state(state.spec.hyper.adamw, model.params(), m, v, state.optimizer_t)
            .map_err(|source| FinetuneError::Optim { step: state.step, source })?;
        let layers = model.config.num_hidden_layers;
        let decay = state.spec.hyper.layer_decay;
        let opt = opt.with_lr_scales(model.params(), |name| layer_lr_scale(name, layers, decay));
        Self::assemble(state.spec, data, model, opt, state.step, state.seconds, state.evals, state.best_step, world)
    }
}

/// How many targets the mean loss over the examples at `indices` averages over: one per class or score, the
/// tagged tokens (targets other than [`IGNORE_INDEX`]) of a tagging example (`task.rs`'s `cross_entropy` and
/// `mse`; training examples are never unlabelled, `prepare` refuses them).
fn label_count(examples: &[Encoded], indices: &[usize]) -> usize {
    indices
        .iter()
        .filter_map(|&i| examples.get(i))
        .map(|e| match &e.target {
            Target::None => 0,
            Target::Class(_) | Target::Score(_) => 1,
            Target::Tokens(tags) => tags.iter().filter(|&&t| t != IGNORE_INDEX).count(),
        })
        .sum()
}

/// The run's JSON lines log: rewritten up to the resumed step, then appended to line by line.
struct Log {
    path: PathBuf,
    file: std::fs::File,
}

impl Log {
    fn open(path: &Path, keep_through_step: Option<u64>) -> Result<Self, FinetuneError> {
        let kept = match keep_through_step {
            Some(step) if path.exists() => {
                let text = std::fs::read_to_string(path).map_err(io_at(path))?;
                text.lines()
                    .filter(|line| {
                        serde_json::from_str::<serde_json::Value>(line)
                            .ok()
                            .and_then(|v| v["step"].as_u64())
                            .is_some_and(|s| s <= step)
                    })
                    .map(|line| format!("{line}\n"))
                    .collect::<String>()
            }
            _ => String::new(),
        };
        write_bytes_atomically(path, kept.as_bytes()).map_err(CheckpointError::from)?;
        let file = std::fs::OpenOptions::new().append(true).open(path).map_err(io_at(path))?;
        Ok(Self { path: path.to_path_buf(), file })
    }

    fn append(&mut self, value: &serde_json::Value) -> Result<(), FinetuneError> {
        let line = format!("{value}\n");
        self.file.write_all(line.as_bytes()).map_err(io_at(&self.path))
    }
}

/// Starts a run in `options.out` (which must not hold one) and trains it to the end, or to `session.stop_after`.
pub fn finetune(options: FinetuneOptions, session: &Session) -> Result<FinetuneSummary, FinetuneError> {
    finetune_in(options, session, World::single())
}

/// [`finetune`] as one rank of `world` (see the module doc); every rank calls it with the same options.
pub fn finetune_in(
    options: FinetuneOptions,
    session: &Session,
    world: World,
) -> Result<FinetuneSummary, FinetuneError> {
    let out = &options.out;
    let root = world.is_root();
    // Locked first, so that a second run on a busy `--out` is told which pid holds it. Rank 0 alone writes `out`,
    // so it alone holds the lock.
    let _lock = match root {
        true => Some(
            electra_pipeline::lock::OutputLock::dir(out).map_err(crate::checkpoint::CheckpointError::Lock)?.report(),
        ),
        false => None,
    };
    // Only a checkpoint (or the `.old` half of a swap a kill interrupted) makes a run: one killed between opening
    // its log and its first save (the step-0 checkpoint) has nothing to `--resume`, so it may start again, and
    // `Log::open(…, None)` truncates the log (found by scripts/reliability/kill_resume.sh).
    if out.join(CHECKPOINT_DIR).exists() || out.join(format!("{CHECKPOINT_DIR}.old")).exists() {
        return Err(FinetuneError::RunExists { dir: out.clone() });
    }
    let spec = with_train_checksum(options.spec)?;
    let run = Run::new(spec, options.vocab.as_deref(), world)?;
    let log = match root {
        true => {
            std::fs::create_dir_all(out).map_err(io_at(out))?;
            Some(Log::open(&out.join(METRICS_FILE), None)?)
        }
        false => None,
    };
    train(run, log, out, session, None)
}

/// Continues the run in `out` from its last checkpoint.
pub fn resume(out: &Path, session: &Session) -> Result<FinetuneSummary, FinetuneError> {
    resume_in(out, session, World::single())
}

/// [`resume`] as one rank of `world`: any number of ranks may continue a run (see the module doc).
pub fn resume_in(out: &Path, session: &Session, world: World) -> Result<FinetuneSummary, FinetuneError> {
    let root = world.is_root();
    let _lock = match root {
        true => {
            let lock = electra_pipeline::lock::OutputLock::dir(out)
                .map_err(crate::checkpoint::CheckpointError::Lock)?
                .report();
            // A swap a kill interrupted is finished (or undone) before any rank reads the checkpoint.
            recover_dir(&out.join(CHECKPOINT_DIR))?;
            Some(lock)
        }
        false => None,
    };
    world.barrier();
    let run = Run::resume(out, world)?;
    let log = match root {
        true => Some(Log::open(&out.join(METRICS_FILE), Some(run.step))?),
        false => None,
    };
    let from = run.step;
    train(run, log, out, session, Some(from))
}

fn train(
    mut run: Run,
    mut log: Option<Log>,
    out: &Path,
    session: &Session,
    resumed_from: Option<u64>,
) -> Result<FinetuneSummary, FinetuneError> {
    let stop = session.stop_after.map_or(run.total_steps, |s| s.min(run.total_steps));
    let root = run.world.is_root();
    let bar = progress_bar(session.progress && root, run.total_steps, run.step);
    let mut order: Option<(u64, Vec<Vec<usize>>)> = None;
    let (mut examples_done, mut busy) = (0usize, 0.0f64);
    let mut loss_avg: Option<f32> = None;
    if run.step == 0 && resumed_from.is_none() {
        // A checkpoint before the first step: a kill during step 1 still leaves something to resume.
        run.save_checkpoint(out)?;
    }
    while run.step < stop {
        let epoch = run.step / run.steps_per_epoch;
        let index = (run.step % run.steps_per_epoch) as usize;
        if order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            order = Some((epoch, run.epoch_order(epoch)));
        }
        let Some((_, batches)) = &order else { continue };
        let Some(indices) = batches.get(index) else {
            return Err(FinetuneError::Invalid { message: format!("epoch {epoch} has no batch {index}") });
        };
        let started = Instant::now();
        let result = run.train_step(indices);
        let (loss, lr, grad_norm) = match result {
            Ok(r) => r,
            Err(e) => {
                bar.abandon();
                return Err(e);
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        run.seconds += seconds;
        busy += seconds;
        examples_done += indices.len();
        let examples_per_s = indices.len() as f64 / seconds.max(1e-9);
        if let Some(log) = &mut log {
            log.append(&serde_json::json!({
                "step": run.step, "epoch": run.step as f64 / run.steps_per_epoch as f64, "loss": loss, "lr": lr,
                "grad_norm": grad_norm, "examples_per_s": examples_per_s,
            }))?;
        }
        loss_avg = Some(loss_avg.map_or(loss, |a| 0.95 * a + 0.05 * loss));
        bar.set_position(run.step);
        bar.set_message(format!("loss {:.4}", loss_avg.unwrap_or(loss)));

        let end_of_epoch = run.step.is_multiple_of(run.steps_per_epoch);
        let eval_point = match run.spec.eval_every {
            Some(n) if n > 0 => run.step.is_multiple_of(n) || run.step == run.total_steps,
            _ => end_of_epoch,
        };
        if eval_point {
            // Rank 0 alone evaluates (the others hold the same weights) and keeps the best model.
            let evaluated = match log.as_mut() {
                Some(log) => run.evaluate_dev()?.map(|evaluated| (evaluated, log)),
                None => None,
            };
            if let Some(((evaluation, record), log)) = evaluated {
                log.append(&serde_json::json!({
                    "step": record.step, "epoch": record.epoch,
                    "eval": record.metrics.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(*v))).collect::<serde_json::Map<String, serde_json::Value>>(),
                }))?;
                let line = format!(
                    "step {} (epoch {:.2}): dev {} = {:.4} over {} examples",
                    record.step, record.epoch, record.headline, record.value, evaluation.scored
                );
                if bar.is_hidden() {
                    if session.progress {
                        eprintln!("{line}");
                    }
                } else {
                    bar.println(line);
                }
                let improved = run.is_best(record.value);
                run.evals.push(record);
                if improved {
                    run.best_step = Some(run.step);
                    save_task_model(&out.join(MODEL_DIR), &run.model, &run.data.meta, &run.data.vocab_txt)?;
                }
            }
            run.save_checkpoint(out)?;
        } else if run.step == stop {
            run.save_checkpoint(out)?;
        }
    }
    bar.finish_and_clear();
    let finished = run.step >= run.total_steps;
    if finished && run.data.dev.is_empty() && root {
        // No dev set: the model to use is the last one.
        run.best_step = Some(run.step);
        save_task_model(&out.join(MODEL_DIR), &run.model, &run.data.meta, &run.data.vocab_txt)?;
        run.write_checkpoint(out)?;
    }
    let plot = if finished && root { Some(plot(out, &run)?) } else { None };
    let best = run.evals.iter().find(|e| Some(e.step) == run.best_step).cloned();
    Ok(FinetuneSummary {
        out: out.to_path_buf(),
        model_dir: out.join(MODEL_DIR),
        steps_done: run.step,
        total_steps: run.total_steps,
        resumed_from,
        train_examples: run.data.train.len(),
        dev_examples: run.data.dev.len(),
        evals: run.evals.clone(),
        best,
        examples_per_s: if busy > 0.0 { examples_done as f64 / busy } else { 0.0 },
        meta: run.data.meta.clone(),
        plot,
        finished,
    })
}

/// `finetune.png`: training loss (per step and smoothed) and the dev metric at each evaluation.
fn plot(out: &Path, run: &Run) -> Result<PathBuf, FinetuneError> {
    use crate::pretrain::plot::{draw_panels, moving_average, Panel};
    use plotters::prelude::{RGBColor, SeriesLabelPosition};
    let path = out.join(PLOT_FILE);
    let text = std::fs::read_to_string(out.join(METRICS_FILE)).map_err(io_at(&out.join(METRICS_FILE)))?;
    let losses: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some((v["step"].as_f64()?, v["loss"].as_f64()?)))
        .collect();
    let window = (losses.len() / 20).clamp(1, 50);
    let dev: Vec<(f64, f64)> = run.evals.iter().map(|e| (e.step as f64, e.value)).collect();
    let headline = run.evals.first().map_or("metric".to_string(), |e| e.headline.clone());
    let panels = [
        Panel {
            title: format!("training loss ({})", run.spec.task.name()),
            legend: SeriesLabelPosition::UpperRight,
            curves: vec![
                ("per step", RGBColor(170, 200, 230), losses.clone()),
                ("moving average", RGBColor(31, 119, 180), moving_average(&losses, window)),
            ],
        },
        Panel {
            title: format!("dev {headline}"),
            legend: SeriesLabelPosition::LowerRight,
            curves: vec![("dev", RGBColor(214, 39, 40), dev)],
        },
    ];
    draw_panels(&path, &panels, (1, 2))
        .map_err(|message| FinetuneError::Invalid { message: format!("{}: {message}", path.display()) })?;
    Ok(path)
}

fn progress_bar(visible: bool, total: u64, position: u64) -> ProgressBar {
    if !visible || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("{bar:30.cyan/blue} {pos:>6}/{len} steps  {msg}  [{elapsed_precise} < {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_position(position);
    bar
}
