//! The pre-training loop: batches → `step_gradients` (posting gradient buckets for the allreduce as they become
//! final) → wait for the allreduce → AdamW, with checkpoints, metrics,
//! a progress bar, a NaN guard and exact resume.
//!
//! Exact resume rests on four things saved with every checkpoint: the weights (float32, bit for bit), the AdamW
//! moments and step count, the masking/sampling RNG state, and the data position (epoch, batches consumed).
//! Every other input of a step (learning rate, data order) is a pure function of the step and the seed, and the
//! dropout masks of the RNG state and each sequence's global row (`crate::objective`).

use super::backend::{AdamW, AdamWConfig, Batch, ElectraPretraining, EpochBatches, LinearSchedule, ObjectiveOptions};
use super::backend::{ShardReader, StepShare, TrainRng};
use super::metrics_log::{MetricsLog, StepRecord};
use super::state::{self, DataIdentity, Progress, RunConfig, TrainerStateJson, STATE_FORMAT};
use super::PretrainError;
use crate::distributed::World;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub const METRICS_FILE: &str = "metrics.jsonl";
pub const PLOT_FILE: &str = "loss.png";

/// Seed offsets so that weights, data order and masking draw from unrelated streams of one `--seed`.
const RNG_STREAM: u64 = 0x005e_ed0f_a5c1;

/// Where the run reads and writes, and how this session behaves (none of it changes the trajectory).
#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub data_dir: PathBuf,
    /// The vocab the shards were made with (its sha256 is checked); copied into every checkpoint.
    pub vocab_txt: Vec<u8>,
    pub out_dir: PathBuf,
    /// Write a checkpoint every this many steps (and always at the end). 0: only at the end.
    pub save_every: u64,
    /// Also keep the models of every this many steps in `OUT/checkpoint-<step>/` ([`state::save_models`]), to
    /// fine-tune along the run. Such a step is checkpointed too. 0: keep none.
    pub keep_every: u64,
    /// Draw the progress bar (on rank 0, when stderr is a terminal).
    pub progress: bool,
    /// Stop after this step as if interrupted: checkpoint written, no plot. For tests and time-boxed runs.
    pub stop_after: Option<u64>,
}

/// What a finished (or stopped) session produced.
#[derive(Clone, Debug)]
pub struct RunSummary {
    pub out_dir: PathBuf,
    pub checkpoint: PathBuf,
    pub metrics: PathBuf,
    /// `None` when the session stopped early (`stop_after`) or on a rank other than 0.
    pub plot: Option<PathBuf>,
    pub resumed_from_step: Option<u64>,
    pub steps_done: u64,
    pub last: Option<StepRecord>,
    /// Mean over the last [`TAIL_STEPS`] steps, for summaries.
    pub tail_mean: Option<StepRecord>,
}

/// Steps averaged for [`RunSummary::tail_mean`].
pub const TAIL_STEPS: usize = 20;

/// The optimizer settings of a run.
pub fn adamw_config(config: &RunConfig) -> AdamWConfig {
    AdamWConfig {
        lr: config.lr,
        beta1: config.beta1,
        beta2: config.beta2,
        eps: config.eps,
        weight_decay: config.weight_decay,
        bias_correction: config.bias_correction,
        clip_norm: config.clip_norm,
    }
}

fn schedule(config: &RunConfig) -> LinearSchedule {
    LinearSchedule { warmup_steps: config.warmup_steps, total_steps: config.steps, peak_lr: config.lr }
}

/// The objective with ELECTRA's settings, the run's RTD weight and the special ids of `vocab_txt` (one token a
/// line, the id is the line number), without dropout (evaluation); a run trains with [`run_objective`].
pub fn objective_for_vocab(vocab_txt: &[u8], disc_weight: f32) -> Result<ObjectiveOptions, PretrainError> {
    let text = String::from_utf8_lossy(vocab_txt);
    let id_of = |token: &str| -> Result<u32, PretrainError> {
        text.lines().position(|line| line.trim_end_matches('\r') == token).map(|i| i as u32).ok_or_else(|| {
            PretrainError::Invalid { message: format!("the vocab has no `{token}` token, which the objective needs") }
        })
    };
    Ok(ObjectiveOptions {
        disc_weight,
        pad_id: id_of("[PAD]")?,
        cls_id: id_of("[CLS]")?,
        sep_id: id_of("[SEP]")?,
        mask_id: id_of("[MASK]")?,
        ..ObjectiveOptions::default()
    })
}

/// The objective of a run: [`objective_for_vocab`] with the run's dropout.
pub fn run_objective(vocab_txt: &[u8], config: &RunConfig) -> Result<ObjectiveOptions, PretrainError> {
    Ok(ObjectiveOptions { dropout: config.dropout, ..objective_for_vocab(vocab_txt, config.disc_weight)? })
}

/// Batches in training order across epochs, from a saved position.
pub struct DataStream<'r> {
    reader: &'r ShardReader,
    batch_size: usize,
    rank: usize,
    world_size: usize,
    seed: u64,
    epoch: u64,
    batch_in_epoch: u64,
    batches: EpochBatches<'r>,
}

impl<'r> DataStream<'r> {
    /// The stream positioned after `batch_in_epoch` batches of `epoch`.
    pub fn new(
        reader: &'r ShardReader,
        config: &RunConfig,
        rank: usize,
        epoch: u64,
        batch_in_epoch: u64,
    ) -> Result<Self, PretrainError> {
        let mut batches = reader.epoch_batches(epoch, config.batch_size, rank, config.world_size, config.seed);
        for _ in 0..batch_in_epoch {
            match batches.next() {
                Some(batch) => drop(batch?),
                None => break,
            }
        }
        Ok(Self {
            reader,
            batch_size: config.batch_size,
            rank,
            world_size: config.world_size,
            seed: config.seed,
            epoch,
            batch_in_epoch,
            batches,
        })
    }

    /// The next batch, moving on to the next epoch when one ends.
    pub fn next_batch(&mut self) -> Result<Batch, PretrainError> {
        loop {
            if let Some(batch) = self.batches.next() {
                self.batch_in_epoch += 1;
                return Ok(batch?);
            }
            if self.batch_in_epoch == 0 {
                return Err(PretrainError::Invalid {
                    message: format!("epoch {} of the data has no batches", self.epoch),
                });
            }
            self.epoch += 1;
            self.batch_in_epoch = 0;
            self.batches =
                self.reader.epoch_batches(self.epoch, self.batch_size, self.rank, self.world_size, self.seed);
        }
    }

    /// (epoch, batches consumed in it).
    pub fn position(&self) -> (u64, u64) {
        (self.epoch, self.batch_in_epoch)
    }
}

/// Model, optimizer, RNG and progress of one run.
pub struct Trainer {
    model: ElectraPretraining,
    optimizer: AdamW,
    rng: TrainRng,
    schedule: LinearSchedule,
    objective: ObjectiveOptions,
    config: RunConfig,
    data: DataIdentity,
    progress: Progress,
    vocab_txt: Vec<u8>,
    world: World,
    /// The last checkpoint written or loaded.
    last_good: Option<PathBuf>,
    resumed_from_step: Option<u64>,
}

/// The vocab sha256 as the shard manifest records it.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Opens the shard directory with the vocab the run trains with.
pub fn open_data(data_dir: &Path, vocab_txt: &[u8]) -> Result<(ShardReader, DataIdentity), PretrainError> {
    let vocab_sha256 = sha256_hex(vocab_txt);
    let manifest_path = data_dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path)
        .map_err(|source| PretrainError::Io { path: manifest_path.clone(), source })?;
    let manifest: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| PretrainError::BadFile { path: manifest_path.clone(), message: e.to_string() })?;
    let seq_len = manifest
        .get("seq_len")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| PretrainError::BadFile { path: manifest_path.clone(), message: "no `seq_len`".into() })?
        as usize;
    let reader = ShardReader::open(data_dir, &vocab_sha256, seq_len)?;
    let identity = DataIdentity {
        dir: data_dir.to_path_buf(),
        run_fingerprint: reader.manifest().run_fingerprint.clone(),
        vocab_sha256,
        seq_len,
        rows: reader.num_rows(),
    };
    Ok((reader, identity))
}

fn check_resume(path: &Path, saved: &RunConfig, requested: &RunConfig) -> Result<(), PretrainError> {
    let mismatch = |field: &'static str, s: String, r: String| -> Result<(), PretrainError> {
        if s == r {
            Ok(())
        } else {
            Err(PretrainError::ResumeMismatch { path: path.to_path_buf(), field, saved: s, requested: r })
        }
    };
    mismatch("generator config", format!("{:?}", saved.generator), format!("{:?}", requested.generator))?;
    mismatch("discriminator config", format!("{:?}", saved.discriminator), format!("{:?}", requested.discriminator))?;
    mismatch("steps", saved.steps.to_string(), requested.steps.to_string())?;
    mismatch("batch", saved.batch_size.to_string(), requested.batch_size.to_string())?;
    mismatch("seed", saved.seed.to_string(), requested.seed.to_string())?;
    mismatch("lr", saved.lr.to_string(), requested.lr.to_string())?;
    mismatch("warmup", saved.warmup_steps.to_string(), requested.warmup_steps.to_string())?;
    mismatch("weight decay", saved.weight_decay.to_string(), requested.weight_decay.to_string())?;
    mismatch("betas", format!("{} {}", saved.beta1, saved.beta2), format!("{} {}", requested.beta1, requested.beta2))?;
    mismatch("eps", saved.eps.to_string(), requested.eps.to_string())?;
    mismatch("clip norm", format!("{:?}", saved.clip_norm), format!("{:?}", requested.clip_norm))?;
    mismatch("bias correction", saved.bias_correction.to_string(), requested.bias_correction.to_string())?;
    mismatch("disc weight", saved.disc_weight.to_string(), requested.disc_weight.to_string())?;
    mismatch("micro-batches", saved.micro_batches.to_string(), requested.micro_batches.to_string())?;
    mismatch("dropout", format!("{:?}", saved.dropout), format!("{:?}", requested.dropout))?;
    mismatch("gradient precision", format!("{:?}", saved.grad_precision), format!("{:?}", requested.grad_precision))?;
    mismatch("world size", saved.world_size.to_string(), requested.world_size.to_string())
}

impl Trainer {
    /// A fresh run: weights initialised from `config.seed`, or read from `config.init` (`--init`).
    pub fn new(
        config: RunConfig,
        data: DataIdentity,
        vocab_txt: Vec<u8>,
        mut world: World,
    ) -> Result<Self, PretrainError> {
        validate(&config, &data, &vocab_txt, &world)?;
        let mut model = match &config.init {
            None => ElectraPretraining::init(config.generator, config.discriminator, config.seed)?,
            Some(dir) => {
                let mut model = state::load_init(dir, &config)?;
                // Every rank read the same files; rank 0's copy is made authoritative, as on --resume.
                world
                    .broadcast_f32(model.params_mut().data_mut())
                    .map_err(|e| PretrainError::Invalid { message: e.to_string() })?;
                model
            }
        };
        model.set_micro_batches(Some(config.micro_batches));
        let objective = run_objective(&vocab_txt, &config)?;
        let optimizer = AdamW::new(adamw_config(&config), model.params());
        Ok(Self {
            model,
            optimizer,
            rng: TrainRng::new(config.seed ^ RNG_STREAM),
            schedule: schedule(&config),
            objective,
            data,
            config,
            progress: Progress { step: 0, epoch: 0, batch_in_epoch: 0, elapsed_seconds: 0.0, tokens_seen: 0 },
            vocab_txt,
            world,
            last_good: None,
            resumed_from_step: None,
        })
    }

    /// Continues the run checkpointed in `out_dir`, after checking that `config` and `data` are the run's own.
    pub fn resume(
        out_dir: &Path,
        config: RunConfig,
        data: DataIdentity,
        vocab_txt: Vec<u8>,
        mut world: World,
    ) -> Result<Self, PretrainError> {
        // Rank 0 alone repairs an interrupted save; the others wait, then every rank reads the same files.
        if world.is_root() {
            state::recover_checkpoint(out_dir)?;
        }
        world.barrier();
        let loaded = state::load_checkpoint(out_dir)?
            .ok_or_else(|| PretrainError::NothingToResume { dir: out_dir.to_path_buf() })?;
        let json_path = loaded.dir.join(state::STATE_JSON);
        check_resume(&json_path, &loaded.state.config, &config)?;
        let saved = &loaded.state.data;
        if saved.run_fingerprint != data.run_fingerprint || saved.vocab_sha256 != data.vocab_sha256 {
            return Err(PretrainError::ResumeMismatch {
                path: json_path,
                field: "training data",
                saved: format!("{} (fingerprint {})", saved.dir.display(), saved.run_fingerprint),
                requested: format!("{} (fingerprint {})", data.dir.display(), data.run_fingerprint),
            });
        }
        validate(&config, &data, &vocab_txt, &world)?;
        let mut model = loaded.model;
        model.set_micro_batches(Some(config.micro_batches));
        let mut optimizer = loaded.optimizer;
        // Every rank loaded the same files; rank 0's copy is made authoritative all the same.
        for blob in [model.params_mut().data_mut(), &mut optimizer.m[..], &mut optimizer.v[..]] {
            world.broadcast_f32(blob).map_err(|e| PretrainError::Invalid { message: e.to_string() })?;
        }
        let progress = loaded.state.progress.clone();
        let objective = run_objective(&vocab_txt, &config)?;
        Ok(Self {
            model,
            optimizer,
            rng: loaded.rng,
            schedule: schedule(&config),
            objective,
            data,
            config,
            resumed_from_step: Some(progress.step),
            progress,
            vocab_txt,
            world,
            last_good: Some(loaded.dir),
        })
    }

    pub fn step(&self) -> u64 {
        self.progress.step
    }

    pub fn model(&self) -> &ElectraPretraining {
        &self.model
    }

    /// Mutable access to the model, for tests that corrupt weights on purpose.
    pub fn model_mut(&mut self) -> &mut ElectraPretraining {
        &mut self.model
    }

    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    pub fn world(&self) -> &World {
        &self.world
    }

    pub fn last_good_checkpoint(&self) -> Option<&Path> {
        self.last_good.as_deref()
    }

    /// The data stream positioned where this trainer stands.
    pub fn data_stream<'r>(&self, reader: &'r ShardReader) -> Result<DataStream<'r>, PretrainError> {
        DataStream::new(reader, &self.config, self.world.rank(), self.progress.epoch, self.progress.batch_in_epoch)
    }

    /// One optimizer step on the next batch. A non-finite loss or gradient (on any rank) returns
    /// [`PretrainError::NonFiniteLoss`] before the weights change.
    pub fn train_step(&mut self, data: &mut DataStream<'_>) -> Result<StepRecord, PretrainError> {
        let started = Instant::now();
        let batch = data.next_batch()?;
        let world_rank = self.world.rank();
        let collective = |e: crate::distributed::DistError| PretrainError::Invalid { message: e.to_string() };
        // Data-parallel with overlap: the step posts each part of its gradient as soon as it is final, and the
        // communication thread reduces it during the rest of the backward pass (`crate::distributed`).
        let mut poster = if self.config.world_size > 1 {
            self.world.begin_gradient_mean(self.model.grads().data().len()).map_err(collective)?
        } else {
            None
        };
        let stats = if self.config.world_size > 1 {
            // Data-parallel: masks and samples keyed by the global row, losses normalised by global counts, so the
            // averaged gradient is the one of a single process running the global batch.
            let world = &mut self.world;
            let mut sum_counts = |counts: &mut [f64; 2]| world.allreduce_sum_f64(counts).map_err(|e| e.to_string());
            let mut share = StepShare {
                first_row: (world_rank * self.config.batch_size) as u64,
                world_size: self.config.world_size,
                sum_counts: Some(&mut sum_counts),
            };
            match poster.as_mut() {
                Some(poster) => {
                    let mut post =
                        |offset: usize, values: &[f32]| poster.post(offset, values).map_err(|e| e.to_string());
                    self.model.step_gradients_overlapped(
                        &batch,
                        &mut self.rng,
                        &self.objective,
                        &mut share,
                        &mut post,
                    )?
                }
                None => self.model.step_gradients_shared(&batch, &mut self.rng, &self.objective, &mut share)?,
            }
        } else {
            self.model.step_gradients(&batch, &mut self.rng, &self.objective)?
        };

        // The mean gradient over ranks, in a copy (the model lends its gradients read-only). With the overlap, this
        // waits for the last buckets: no other call may reach MPI before (the thread runs MPI_THREAD_SERIALIZED).
        let mut mean_grads = None;
        if let Some(poster) = poster {
            let mut grads = self.model.grads().clone();
            self.world.finish_gradient_mean(poster, grads.data_mut()).map_err(collective)?;
            mean_grads = Some(grads);
        }

        // Losses and counts summed over ranks: every rank sees the same numbers and takes the same decision.
        let tokens = stats.tokens as f64;
        let mut sums = [
            stats.loss as f64,
            stats.gen_loss as f64,
            stats.disc_loss as f64,
            stats.rtd_accuracy as f64 * tokens,
            stats.replaced_fraction as f64 * tokens,
            tokens,
            if self.model.grads().data().iter().all(|g| g.is_finite()) { 0.0 } else { 1.0 },
        ];
        self.world.allreduce_sum_f64(&mut sums).map_err(|e| PretrainError::Invalid { message: e.to_string() })?;
        let ranks = self.config.world_size as f64;
        let [loss, gen_loss, disc_loss, correct, replaced, tokens, bad_grads] = sums;
        let (loss, gen_loss, disc_loss) =
            ((loss / ranks) as f32, (gen_loss / ranks) as f32, (disc_loss / ranks) as f32);
        let step = self.progress.step + 1;
        if !(loss.is_finite() && gen_loss.is_finite() && disc_loss.is_finite()) || bad_grads > 0.0 {
            return Err(PretrainError::NonFiniteLoss {
                step,
                loss,
                gen_loss,
                disc_loss,
                last_good: self.last_good.clone(),
            });
        }
        let lr = self.schedule.lr(self.progress.step);
        let updated = if let Some(grads) = mean_grads {
            self.optimizer.step(self.model.params_mut(), &grads, lr).map_err(PretrainError::Optimizer)
        } else if self.config.world_size > 1 {
            // Data-parallel without overlap (ELECTRA_GRAD_OVERLAP=0): one blocking allreduce of the whole blob.
            let mut grads = self.model.grads().clone();
            match self.world.allreduce_mean(grads.data_mut()) {
                Ok(()) => self.optimizer.step(self.model.params_mut(), &grads, lr).map_err(PretrainError::Optimizer),
                Err(e) => Err(PretrainError::Invalid { message: e.to_string() }),
            }
        } else {
            let (params, grads) = self.model.params_mut_and_grads();
            self.optimizer.step(params, grads, lr).map_err(PretrainError::Optimizer)
        };
        let report = updated?;

        let seconds = started.elapsed().as_secs_f64();
        (self.progress.epoch, self.progress.batch_in_epoch) = data.position();
        self.progress.step = step;
        self.progress.elapsed_seconds += seconds;
        self.progress.tokens_seen += tokens as u64;
        let per_token = |x: f64| if tokens > 0.0 { (x / tokens) as f32 } else { 0.0 };
        Ok(StepRecord {
            step,
            loss,
            gen_loss,
            disc_loss,
            rtd_accuracy: per_token(correct),
            replaced_fraction: per_token(replaced),
            lr,
            grad_norm: report.grad_norm,
            tokens_per_s: if seconds > 0.0 { tokens / seconds } else { 0.0 },
            seconds: self.progress.elapsed_seconds,
        })
    }

    /// Writes `OUT/checkpoint-latest` (rank 0; the other ranks wait for it), and first, when `keep` says so,
    /// `OUT/checkpoint-<step>`: a run killed between the two redoes the step on `--resume` and rewrites the same
    /// kept models.
    pub fn save(&mut self, out_dir: &Path, keep: bool) -> Result<PathBuf, PretrainError> {
        let dir = state::checkpoint_dir(out_dir);
        if self.world.is_root() {
            let json = TrainerStateJson {
                format: STATE_FORMAT,
                progress: self.progress.clone(),
                rng_state: Vec::new(),
                optimizer_t: 0,
                config: self.config.clone(),
                data: self.data.clone(),
            };
            if keep {
                state::save_models(out_dir, &self.model, &json, &self.vocab_txt)?;
            }
            state::save_checkpoint(out_dir, &self.model, &self.optimizer, &self.rng, &json, &self.vocab_txt)?;
        }
        self.world.barrier();
        self.last_good = Some(dir.clone());
        Ok(dir)
    }
}

fn validate(config: &RunConfig, data: &DataIdentity, vocab_txt: &[u8], world: &World) -> Result<(), PretrainError> {
    let invalid = |message: String| Err(PretrainError::Invalid { message });
    if config.world_size != world.world_size() {
        return invalid(format!(
            "world size mismatch: the run was started with {} process(es) and this launch has {}; resume it \
             with `mpirun -np {}` (each rank's slice of the data and of every batch depends on the world size)",
            config.world_size,
            world.world_size(),
            config.world_size
        ));
    }
    if config.batch_size == 0 {
        return invalid("--batch must be at least 1".into());
    }
    if config.micro_batches == 0 {
        return invalid("--micro-batches must be at least 1".into());
    }
    if let Err(message) = config.dropout.validate() {
        return invalid(format!("--dropout: {message}"));
    }
    if config.steps == 0 {
        return invalid("--steps must be at least 1".into());
    }
    if !(config.lr.is_finite() && config.lr > 0.0) {
        return invalid(format!("--lr {} is not a positive number", config.lr));
    }
    for (name, c) in [("generator", &config.generator), ("discriminator", &config.discriminator)] {
        c.validate().map_err(|e| PretrainError::Invalid { message: format!("{name} config: {e}") })?;
        if data.seq_len > c.max_position_embeddings {
            return invalid(format!(
                "the shards hold sequences of {} tokens but the {name} has {} positions",
                data.seq_len, c.max_position_embeddings
            ));
        }
    }
    // One vocab entry per line; ids index the word embeddings.
    let vocab_entries = vocab_txt.split(|&b| b == b'\n').filter(|line| !line.is_empty()).count();
    if vocab_entries > config.discriminator.vocab_size {
        return invalid(format!(
            "the vocab has {vocab_entries} entries but the model's vocab_size is {}",
            config.discriminator.vocab_size
        ));
    }
    super::model_size::ModelPair { generator: config.generator, discriminator: config.discriminator }
        .check_shared_embeddings()
        .map_err(|message| PretrainError::Invalid { message })
}

/// Whether `out` holds a run to `--resume`: a checkpoint, or the `.old` half of a checkpoint swap a kill interrupted
/// (`checkpoint::atomic`). Only that makes a run: one killed before its first save leaves `metrics.jsonl` lines but
/// nothing `--resume` can read, and refusing a fresh start there too would leave the directory unusable (found by
/// scripts/reliability/kill_resume.sh). A fresh start truncates the log (`MetricsLog::create`).
pub fn run_started(out: &Path) -> bool {
    let dir = state::checkpoint_dir(out);
    let mut old = dir.clone().into_os_string();
    old.push(".old");
    dir.exists() || Path::new(&old).exists()
}

/// Pre-trains (or resumes) the run in `session.out_dir` to `config.steps` steps; see the module doc.
pub fn pretrain(
    config: RunConfig,
    session: &SessionOptions,
    resume: bool,
    mut world: World,
) -> Result<RunSummary, PretrainError> {
    world.set_grad_precision(config.grad_precision);
    let vocab_txt = session.vocab_txt.clone();
    let out = &session.out_dir;
    std::fs::create_dir_all(out).map_err(|source| PretrainError::Io { path: out.clone(), source })?;
    // Rank 0 alone writes `out`, so it alone holds the lock that refuses a second run on it.
    let _lock = match world.is_root() {
        true => Some(
            electra_pipeline::lock::OutputLock::dir(out).map_err(crate::checkpoint::CheckpointError::Lock)?.report(),
        ),
        false => None,
    };
    let (reader, data) = open_data(&session.data_dir, &vocab_txt)?;
    let metrics_path = out.join(METRICS_FILE);
    let root = world.is_root();
    let (mut trainer, mut log, mut records) = if resume {
        let trainer = Trainer::resume(out, config, data, vocab_txt, world)?;
        let (log, records) =
            if root { MetricsLog::resume(&metrics_path, trainer.step())? } else { (MetricsLog::sink(), Vec::new()) };
        (trainer, log, records)
    } else {
        if run_started(out) {
            return Err(PretrainError::RunExists { dir: out.clone() });
        }
        let trainer = Trainer::new(config, data, vocab_txt, world)?;
        let log = if root { MetricsLog::create(&metrics_path)? } else { MetricsLog::sink() };
        (trainer, log, Vec::new())
    };

    let total = trainer.config.steps;
    let stop_at = session.stop_after.map_or(total, |s| s.min(total));
    let bar = ProgressOutput::new(session.progress && root, total, trainer.step());
    let mut stream = trainer.data_stream(&reader)?;
    let start_step = trainer.step();
    while trainer.step() < stop_at {
        let record = match trainer.train_step(&mut stream) {
            Ok(r) => r,
            Err(e) => {
                bar.bar.abandon();
                return Err(e);
            }
        };
        log.append(&record)?;
        bar.update(&record);
        records.push(record);
        let step = trainer.step();
        let keep = session.keep_every > 0 && step % session.keep_every == 0;
        if keep || step == stop_at || (session.save_every > 0 && step % session.save_every == 0) {
            trainer.save(out, keep)?;
        }
    }
    if trainer.step() == start_step && trainer.last_good.is_none() {
        trainer.save(out, false)?;
    }
    bar.bar.finish();
    let finished = trainer.step() >= total;
    let plot = if finished && root {
        let path = out.join(PLOT_FILE);
        super::plot::plot_loss_curves(&path, &records, trainer.config.disc_weight)?;
        Some(path)
    } else {
        None
    };
    let tail = &records[records.len().saturating_sub(TAIL_STEPS)..];
    Ok(RunSummary {
        out_dir: out.clone(),
        checkpoint: state::checkpoint_dir(out),
        metrics: metrics_path,
        plot,
        resumed_from_step: trainer.resumed_from_step,
        steps_done: trainer.step(),
        last: records.last().cloned(),
        tail_mean: mean_record(tail),
    })
}

/// The mean of `records` field by field (`step` is the last one's).
pub fn mean_record(records: &[StepRecord]) -> Option<StepRecord> {
    let last = records.last()?;
    let n = records.len() as f64;
    let mean = |f: fn(&StepRecord) -> f64| records.iter().map(f).sum::<f64>() / n;
    Some(StepRecord {
        step: last.step,
        loss: mean(|r| r.loss as f64) as f32,
        gen_loss: mean(|r| r.gen_loss as f64) as f32,
        disc_loss: mean(|r| r.disc_loss as f64) as f32,
        rtd_accuracy: mean(|r| r.rtd_accuracy as f64) as f32,
        replaced_fraction: mean(|r| r.replaced_fraction as f64) as f32,
        lr: last.lr,
        grad_norm: mean(|r| r.grad_norm as f64) as f32,
        tokens_per_s: mean(|r| r.tokens_per_s),
        seconds: last.seconds,
    })
}

/// The progress bar on a terminal; a plain line every 5% of the run otherwise (logs, CI).
struct ProgressOutput {
    bar: ProgressBar,
    total: u64,
    plain_every: Option<u64>,
}

impl ProgressOutput {
    fn new(visible: bool, total: u64, position: u64) -> Self {
        if !visible {
            return Self { bar: ProgressBar::hidden(), total, plain_every: None };
        }
        if !std::io::stderr().is_terminal() {
            return Self { bar: ProgressBar::hidden(), total, plain_every: Some((total / 20).max(1)) };
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style =
            ProgressStyle::with_template("{bar:30.cyan/blue} {pos:>7}/{len} steps  {msg}  [{elapsed_precise} < {eta}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style.progress_chars("=> "));
        bar.set_position(position);
        Self { bar, total, plain_every: None }
    }

    fn update(&self, r: &StepRecord) {
        let message = format!(
            "loss {:.4} | MLM {:.3} | RTD {:.4} | acc {:.3} | {:.0} tok/s",
            r.loss, r.gen_loss, r.disc_loss, r.rtd_accuracy, r.tokens_per_s
        );
        if let Some(every) = self.plain_every {
            if r.step.is_multiple_of(every) || r.step == self.total {
                eprintln!("step {:>7}/{}  {message}", r.step, self.total);
            }
        } else {
            self.bar.set_position(r.step);
            self.bar.set_message(message);
        }
    }
}
