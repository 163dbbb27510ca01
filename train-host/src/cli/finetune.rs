//! `electra finetune`: an encoder from a pre-training run or any HF ELECTRA checkpoint, trained on a task.
//!
//! A fresh run needs `--model`, `--task`, `--train` and `--out` (`--dev` for evaluation and best-model selection);
//! `--resume` needs only `--out` and takes every other setting from the run.

use crate::distributed::{GradPrecision, World};
use crate::finetune::data::{Columns, Task};
use crate::finetune::recipe::Recipe;
use crate::finetune::trainer::{self, FinetuneOptions, FinetuneSummary, RunSpec, Session};
use crate::model::dropout::DropoutRates;
use anyhow::Context;
use std::path::PathBuf;

/// Where a task file keeps its texts and labels: the options `electra finetune` and `electra evaluate` share,
/// so that the two read a file the same way.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ColumnArgs {
    /// Column of the first text (a name, or a 0-based index for files without a header) [default: detected].
    #[arg(long)]
    pub text_a: Option<String>,
    /// Column of the second text of a pair [default: detected].
    #[arg(long)]
    pub text_b: Option<String>,
    /// Column of the label [default: detected].
    #[arg(long)]
    pub label: Option<String>,
    /// CoNLL column holding the tag (0-based) [default: the last].
    #[arg(long)]
    pub tag_column: Option<usize>,
}

impl ColumnArgs {
    /// The text and label columns (the tag column is CoNLL's own).
    pub fn columns(&self) -> Columns {
        Columns { text_a: self.text_a.clone(), text_b: self.text_b.clone(), label: self.label.clone() }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Where the encoder comes from: a pre-training run's --out, a discriminator directory, or any HF ELECTRA
    /// checkpoint (ElectraForPreTraining, ElectraModel, …); its head is dropped, the task head is new.
    #[arg(long, required_unless_present = "resume")]
    pub model: Option<PathBuf>,
    /// The task: decides the columns, the label set and the metric.
    #[arg(long, value_enum, required_unless_present = "resume")]
    pub task: Option<Task>,
    /// Training file: GLUE TSV, CSV, JSON lines or Parquet (CoNLL columns for --task tagging).
    #[arg(long, required_unless_present = "resume")]
    pub train: Option<PathBuf>,
    /// Dev file, same format: evaluated every epoch (or --eval-every steps); the best model is kept.
    #[arg(long)]
    pub dev: Option<PathBuf>,
    /// Output directory: model/ (the model to use), checkpoint-latest/, metrics.jsonl, finetune.png.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// vocab.txt to tokenize with [default: the checkpoint's own, else the bundled BERT uncased vocab].
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// Whose defaults fill what is not given: ELECTRA's paper recipe, or HF Trainer's.
    #[arg(long, value_enum, default_value = "electra")]
    pub recipe: Recipe,
    /// Peak learning rate [default: 3e-4 for Small, 1e-4 for larger models (ELECTRA); 5e-5 (HF)].
    #[arg(long)]
    pub lr: Option<f32>,
    /// Layer-wise learning-rate decay: the layer d below the head trains at lr·decay^d [default: 0.8 (ELECTRA), 1 (HF)].
    #[arg(long)]
    pub layer_decay: Option<f32>,
    /// Fraction of the steps spent warming the learning rate up [default: 0.1 (ELECTRA), 0 (HF)].
    #[arg(long)]
    pub warmup: Option<f32>,
    /// AdamW weight decay, not on biases and LayerNorm [default: 0.01 (ELECTRA), 0 (HF)].
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// Passes over the training file [default: 3; 10 for RTE and STS-B].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Examples per step, all ranks together under mpirun/srun (each rank takes a slice) [default: 32].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Tokens per example, `[CLS]` and `[SEP]` included; longer ones are truncated [default: 128].
    #[arg(long)]
    pub max_len: Option<usize>,
    /// One dropout rate for every site [default: the checkpoint's config.json, 0.1 for ELECTRA].
    #[arg(long)]
    pub dropout: Option<f32>,
    /// Seeds the head's initialization, the data order and the dropout masks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Evaluate on dev every this many steps [default: at the end of every epoch].
    #[arg(long, value_name = "STEPS")]
    pub eval_every: Option<u64>,
    /// Initialize the encoder randomly instead of from --model (its shape is still --model's): the baseline that
    /// shows what pre-training is worth.
    #[arg(long)]
    pub random_init: bool,
    /// Split each step's batch (each rank's slice of it) into this many micro-batches, one per core, their
    /// gradients summed [default: one per core, at most 4; saved with the run]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub micro_batches: Option<u64>,
    /// How gradients travel between MPI ranks: f32, or bf16 (half the bytes, for slow networks: rounded to
    /// bfloat16, summed in float32) [default: f32; saved with the run]
    #[arg(long, value_enum, value_name = "PRECISION")]
    pub grad_precision: Option<GradPrecision>,
    /// Continue the run in --out from its last checkpoint, exactly as if it had never stopped.
    #[arg(long)]
    pub resume: bool,
    /// Checkpoint and exit after this step; `--resume` continues.
    #[arg(long, value_name = "STEP")]
    pub stop_after: Option<u64>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// The run's settings: the recipe's defaults under the command line's.
fn spec(args: &Args) -> anyhow::Result<RunSpec> {
    let model = args.model.clone().context("--model is required")?;
    let task = args.task.context("--task is required")?;
    let train = args.train.clone().context("--train is required")?;
    let start = crate::finetune::task_model::resolve_start(&model)?;
    let (config, _) = crate::checkpoint::HfCheckpoint::read_config(&start)?;
    let mut hyper = args.recipe.defaults(config.hidden_size, task.default_epochs());
    if let Some(lr) = args.lr {
        hyper.lr = lr;
    }
    if let Some(d) = args.layer_decay {
        hyper.layer_decay = d;
    }
    if let Some(w) = args.warmup {
        anyhow::ensure!((0.0..=1.0).contains(&w), "--warmup is a fraction of the steps, in [0, 1]");
        hyper.warmup_fraction = w;
    }
    if let Some(wd) = args.weight_decay {
        hyper.weight_decay = wd;
    }
    if let Some(e) = args.epochs {
        hyper.epochs = e;
    }
    if let Some(b) = args.batch {
        hyper.batch_size = b;
    }
    if let Some(m) = args.max_len {
        anyhow::ensure!(
            (3..=config.max_position_embeddings).contains(&m),
            "--max-len {m}: the model takes 3 to {} tokens",
            config.max_position_embeddings
        );
        hyper.max_len = m;
    }
    hyper.max_len = hyper.max_len.min(config.max_position_embeddings);
    hyper.adamw.lr = hyper.lr;
    hyper.adamw.weight_decay = hyper.weight_decay;
    let dropout = match args.dropout {
        Some(p) => DropoutRates::uniform(p),
        None => crate::finetune::task_model::read_task_meta(&start)?.dropout,
    };
    dropout.validate().map_err(anyhow::Error::msg)?;
    let micro_batches =
        args.micro_batches.map_or_else(|| crate::objective::default_micro_batches(hyper.batch_size), |m| m as usize);
    Ok(RunSpec {
        task,
        start,
        random_init: args.random_init,
        train,
        train_sha256: String::new(),
        dev: args.dev.clone(),
        text_a: args.columns.text_a.clone(),
        text_b: args.columns.text_b.clone(),
        label: args.columns.label.clone(),
        tag_column: args.columns.tag_column,
        hyper,
        dropout,
        seed: args.seed,
        eval_every: args.eval_every,
        micro_batches,
        grad_precision: args.grad_precision.unwrap_or_default(),
    })
}

/// Runs `electra finetune`; returns what it did.
/// Under `mpirun`/`srun` each rank runs this; rank 0 alone prints.
pub fn run_finetune(args: &Args) -> anyhow::Result<FinetuneSummary> {
    let world = World::from_environment()?;
    let root = world.is_root();
    let session = Session { progress: !args.quiet, stop_after: args.stop_after };
    let summary = if args.resume {
        trainer::resume_in(&args.out, &session, world)?
    } else {
        let options = FinetuneOptions { spec: spec(args)?, vocab: args.vocab.clone(), out: args.out.clone() };
        if !args.quiet && root {
            let s = &options.spec;
            eprintln!(
                "fine-tuning {} for {}: {} recipe, lr {:.1e}, layer decay {}, warmup {}, batch {}, {} epochs, max {} tokens, dropout {}/{}/{}",
                s.start.display(),
                s.task,
                match s.hyper.recipe {
                    Recipe::Electra => "ELECTRA",
                    Recipe::Hf => "HF Trainer",
                },
                s.hyper.lr,
                s.hyper.layer_decay,
                s.hyper.warmup_fraction,
                s.hyper.batch_size,
                s.hyper.epochs,
                s.hyper.max_len,
                s.dropout.hidden,
                s.dropout.attention,
                s.dropout.classifier
            );
        }
        trainer::finetune_in(options, &session, world)?
    };
    if root {
        print_summary(&summary);
    }
    Ok(summary)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    run_finetune(&args).map(|_| ())
}

fn print_summary(s: &FinetuneSummary) {
    if let Some(step) = s.resumed_from {
        println!("resumed at step {step}");
    }
    let labels =
        if s.meta.is_regression() { "regression".to_string() } else { format!("{} labels", s.meta.labels.len()) };
    println!(
        "task {} ({labels}): {} training and {} dev examples, {} of {} steps, {:.0} examples/s",
        s.meta.task, s.train_examples, s.dev_examples, s.steps_done, s.total_steps, s.examples_per_s
    );
    for e in &s.evals {
        let metrics: Vec<String> = e.metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        let mark = if s.best.as_ref().is_some_and(|b| b.step == e.step) { "  <- best" } else { "" };
        println!("  step {:>6} (epoch {:.2}): {}{mark}", e.step, e.epoch, metrics.join("  "));
    }
    if !s.finished {
        println!(
            "stopped after step {} of {}: continue with `electra finetune --out {} --resume`",
            s.steps_done,
            s.total_steps,
            s.out.display()
        );
        return;
    }
    println!("model:   {}", s.model_dir.display());
    println!("metrics: {}", s.out.join(trainer::METRICS_FILE).display());
    if let Some(plot) = &s.plot {
        println!("plot:    {}", plot.display());
    }
}
