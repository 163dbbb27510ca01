//! `electra pretrain`: ELECTRA pre-training on the shards of `electra shard`.
//!
//! A fresh run needs `--data`, `--steps`, `--batch` and `--out`; `--resume` needs only `--out` and takes every
//! other setting from the checkpoint (settings given again must match it).

use crate::distributed::GradPrecision;
use crate::distributed::World;
use crate::model::dropout::DropoutRates;
use crate::pretrain::state::{self, RunConfig};
use crate::pretrain::trainer::{pretrain, RunSummary, SessionOptions};
use crate::pretrain::{ModelPair, BUNDLED_VOCAB};
use anyhow::Context;
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Shard directory written by `electra shard` (holds `manifest.json`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// WordPiece vocab the shards were made with [default: the bundled BERT uncased vocab].
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// `small` (ELECTRA-Small), `tiny`, or a JSON config: one HF discriminator `config.json` (the generator is
    /// a quarter as wide, as in ELECTRA) or `{"generator": {...}, "discriminator": {...}}` [default: small].
    #[arg(long)]
    pub model_size: Option<String>,
    /// Start from the weights of an earlier pre-training instead of a random initialization: a run's --out (its
    /// checkpoint-latest), one of its checkpoint-N/ directories, or any directory holding an HF ElectraForPreTraining
    /// in discriminator/ and an ElectraForMaskedLM in generator/ (e.g. google/electra-small-discriminator and
    /// -generator, to continue pre-training on your own corpus). The model sizes are theirs; the optimizer, the
    /// learning-rate schedule and the data order start afresh.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["resume", "model_size"])]
    pub init: Option<PathBuf>,
    /// Total optimizer steps (the learning rate decays to 0 at the last).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Sequences per step (per process when data-parallel).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Peak learning rate [default: 5e-4].
    #[arg(long)]
    pub lr: Option<f32>,
    /// Linear warmup steps [default: min(10000, steps / 10)].
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Seeds the initial weights (unless --init gives them), the data order, masking and sampling [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Weight of the discriminator loss: loss = MLM + w × RTD [default: 50].
    #[arg(long)]
    pub disc_weight: Option<f32>,
    /// AdamW weight decay, not applied to biases and LayerNorm weights [default: 0.01].
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// Global gradient-norm clipping; 0 turns it off [default: 1.0].
    #[arg(long)]
    pub clip_norm: Option<f32>,
    /// Dropout probability in both encoders (embeddings, attention probabilities, attention and FFN outputs);
    /// 0 turns it off [default: 0.1, ELECTRA's; saved with the run and in each config.json].
    #[arg(long, value_name = "P")]
    pub dropout: Option<f32>,
    /// How gradients travel between MPI ranks: f32, or bf16 (half the bytes, for slow networks: rounded to
    /// bfloat16, summed in float32) [default: f32; saved with the run]
    #[arg(long, value_enum, value_name = "PRECISION")]
    pub grad_precision: Option<GradPrecision>,
    /// Adam with bias correction, as torch's AdamW.
    #[arg(long, conflicts_with = "no_bias_correction")]
    pub bias_correction: bool,
    /// Adam without bias correction, as ELECTRA's optimizer (the default).
    #[arg(long)]
    pub no_bias_correction: bool,
    /// Write a checkpoint every N steps (always at the end too); 0: only at the end.
    #[arg(long, default_value_t = 1000)]
    pub save_every: u64,
    /// Also keep the models of every N-th step in OUT/checkpoint-N/ (discriminator/ and generator/ in HF layout,
    /// without optimizer state), to fine-tune along the run; 0: keep none.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_every: u64,
    /// Output directory: checkpoint-latest/, metrics.jsonl, loss.png.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint, exactly as if it had never stopped.
    #[arg(long)]
    pub resume: bool,
    /// Split each step's batch into this many micro-batches, one per core, their gradients summed
    /// [default: one per core, at most 4; saved with the run]
    #[arg(long)]
    pub micro_batches: Option<usize>,
    /// Checkpoint and exit after this step (to fit a job's time slot); `--resume` later continues the same
    /// trajectory to --steps.
    #[arg(long, value_name = "STEP")]
    pub stop_after: Option<u64>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Settings given on the command line over `base` (a fresh run's defaults, or the run being resumed).
fn apply_args(args: &Args, mut config: RunConfig) -> anyhow::Result<RunConfig> {
    if let Some(size) = &args.model_size {
        let pair = ModelPair::from_arg(size)?;
        config.generator = pair.generator;
        config.discriminator = pair.discriminator;
    }
    if let Some(steps) = args.steps {
        config.steps = steps;
    }
    if let Some(parts) = args.micro_batches {
        config.micro_batches = parts;
    }
    if let Some(batch) = args.batch {
        config.batch_size = batch;
    }
    if let Some(lr) = args.lr {
        config.lr = lr;
    }
    if let Some(warmup) = args.warmup {
        config.warmup_steps = warmup;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(w) = args.disc_weight {
        config.disc_weight = w;
    }
    if let Some(wd) = args.weight_decay {
        config.weight_decay = wd;
    }
    if let Some(clip) = args.clip_norm {
        config.clip_norm = (clip > 0.0).then_some(clip);
    }
    if let Some(p) = args.dropout {
        config.dropout = DropoutRates::uniform(p);
    }
    if let Some(precision) = args.grad_precision {
        config.grad_precision = precision;
    }
    if args.bias_correction {
        config.bias_correction = true;
    }
    if args.no_bias_correction {
        config.bias_correction = false;
    }
    Ok(config)
}

/// A fresh run's settings: ELECTRA's defaults under the command line's.
pub fn fresh_config(args: &Args, world_size: usize) -> anyhow::Result<RunConfig> {
    let steps = args.steps.context("--steps is required (or --resume an existing run)")?;
    let batch = args.batch.context("--batch is required (or --resume an existing run)")?;
    let pair = match &args.init {
        Some(dir) => {
            let (generator, discriminator) = state::init_configs(dir)?;
            ModelPair { generator, discriminator }
        }
        None => ModelPair::from_arg(args.model_size.as_deref().unwrap_or("small"))?,
    };
    let init = args.init.clone();
    apply_args(args, RunConfig { world_size, init, ..RunConfig::electra(pair, steps, batch) })
}

/// Runs `electra pretrain`; returns what it wrote.
pub fn run_pretrain(args: &Args) -> anyhow::Result<RunSummary> {
    let world = World::from_environment()?;
    let vocab_txt = match &args.vocab {
        Some(path) => std::fs::read(path).with_context(|| format!("reading the vocab {}", path.display()))?,
        None => BUNDLED_VOCAB.to_vec(),
    };
    let (config, data_dir) = if args.resume {
        if world.is_root() {
            // Under the output's lock: repairing a save is only safe while no other run writes there.
            let _lock = electra_pipeline::lock::OutputLock::dir(&args.out)?.report();
            state::recover_checkpoint(&args.out)?;
        }
        world.barrier();
        let saved = state::read_state_json(&state::checkpoint_dir(&args.out))
            .with_context(|| format!("--resume: no readable checkpoint in {}", args.out.display()))?;
        let data_dir = args.data.clone().unwrap_or(saved.data.dir.clone());
        (apply_args(args, saved.config)?, data_dir)
    } else {
        let data_dir = args.data.clone().context("--data is required (the shard directory of `electra shard`)")?;
        (fresh_config(args, world.world_size())?, data_dir)
    };
    let session = SessionOptions {
        data_dir,
        vocab_txt,
        out_dir: args.out.clone(),
        save_every: args.save_every,
        keep_every: args.keep_every,
        progress: !args.quiet,
        stop_after: args.stop_after,
    };
    let root = world.is_root();
    let total_steps = config.steps;
    if let (Some(dir), false, true) = (&config.init, args.resume, root) {
        println!("initial weights: {}", state::resolve_init(dir)?.display());
    }
    let summary = pretrain(config, &session, args.resume, world)?;
    if root {
        print_summary(&summary);
        if summary.steps_done < total_steps {
            println!(
                "stopped after step {} of {total_steps}: continue with `electra pretrain --out {} --resume`",
                summary.steps_done,
                args.out.display()
            );
        }
    }
    Ok(summary)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    run_pretrain(&args).map(|_| ())
}

fn print_summary(s: &RunSummary) {
    if let Some(step) = s.resumed_from_step {
        println!("resumed at step {step}");
    }
    println!("steps done: {}", s.steps_done);
    if let Some(m) = &s.tail_mean {
        println!(
            "last {} steps (mean): loss {:.4}  generator MLM {:.4}  discriminator RTD {:.4}  RTD accuracy {:.4}  \
             replaced {:.4}  {:.0} tokens/s",
            crate::pretrain::trainer::TAIL_STEPS.min(s.steps_done as usize),
            m.loss,
            m.gen_loss,
            m.disc_loss,
            m.rtd_accuracy,
            m.replaced_fraction,
            m.tokens_per_s
        );
    }
    println!("checkpoint:    {}", s.checkpoint.display());
    println!("  discriminator (HF ElectraForPreTraining): {}", s.checkpoint.join(state::DISCRIMINATOR_DIR).display());
    println!("  generator     (HF ElectraForMaskedLM):    {}", s.checkpoint.join(state::GENERATOR_DIR).display());
    println!("metrics:       {}", s.metrics.display());
    if let Some(plot) = &s.plot {
        println!("loss curves:   {}", plot.display());
    }
}
