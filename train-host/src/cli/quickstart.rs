//! `electra quickstart`: the whole path on bundled data in a few minutes: shard the speeches → pre-train →
//! evaluate on held-out speeches against an untrained model → fine-tune the discriminator on the movie reviews
//! (beside the same fine-tuning from random initialization, and the majority class) → export the sentiment
//! classifier to an int8 model file → classify sample reviews with it.

use crate::distributed::World;
use crate::finetune::data::Task;
use crate::finetune::recipe::Recipe;
use crate::finetune::trainer::{finetune, FinetuneOptions, FinetuneSummary, RunSpec, Session};
use crate::model::dropout::DropoutRates;
use crate::pretrain::evaluate::{evaluate, format_table, load_pair, EvalOptions, EvalReport};
use crate::pretrain::trainer::{objective_for_vocab, open_data, pretrain, SessionOptions, Trainer};
use crate::pretrain::{ModelPair, RunConfig, BUNDLED_VOCAB};
use anyhow::{bail, Context};
use electra_core::{ArenaOptions, RunOptions, SequenceInput};
use electra_pipeline::shard::ShardOptions;
use electra_pipeline::tokenizer::HostTokenizer;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Marks a directory as made by `electra quickstart`, so a rerun may replace what it wrote there.
const MARKER: &str = "QUICKSTART";
/// Sequence length of the quickstart shards (the tiny preset has 128 positions).
const SEQ_LEN: usize = 128;
/// Steps timed to size the run to `--minutes` (after one warm-up step).
const CALIBRATION_STEPS: u64 = 3;
/// A floor on the step count, so that even a slow machine trains long enough to beat the untrained model.
const MIN_STEPS: u64 = 100;
/// Learning rate for the tiny preset: ELECTRA-Small's 5e-4 is tuned for 1M steps; a few hundred steps of a
/// model this small train faster with a larger one.
const TINY_LR: f32 = 2e-3;
/// Fine-tuning the tiny preset: ELECTRA-Small's 3e-4 over three epochs barely moves a model this small; these
/// were chosen on the bundled reviews (a tenth held out), the same for the pre-trained and the random encoder.
const TINY_FINETUNE_LR: f32 = 1e-3;
const TINY_FINETUNE_EPOCHS: usize = 5;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Corpus directory [default: data/corpus/us-speeches of this repository].
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Where everything is written.
    #[arg(long, default_value = "quickstart-out")]
    pub out: PathBuf,
    /// Pre-training steps [default: as many as fit in --minutes].
    #[arg(long)]
    pub steps: Option<u64>,
    /// Minutes of pre-training to aim for when --steps is not given.
    #[arg(long, default_value_t = 3.0)]
    pub minutes: f64,
    /// Sequences per step.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// One corpus file (and one review) in this many is held out for evaluation.
    #[arg(long, default_value_t = 10)]
    pub holdout_every: usize,
    /// Labelled reviews (JSON lines `{"text", "label"}`, label 1 positive, 0 negative) to fine-tune on, one in
    /// --holdout-every held out as the dev split [default: data/classification/movie-reviews.jsonl of this
    /// repository].
    #[arg(long = "train", alias = "reviews", value_name = "TRAIN")]
    pub reviews: Option<PathBuf>,
    /// Fine-tuning epochs [default: 5].
    #[arg(long)]
    pub finetune_epochs: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// `data/<relative>` of this repository: from the working directory when run in the repository, else beside the
/// crate the binary was built from.
fn bundled(relative: &str) -> PathBuf {
    let here = Path::new("data").join(relative);
    if here.exists() {
        here
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data").join(relative)
    }
}

/// Every file under `dir`, in name order.
fn corpus_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry.with_context(|| format!("reading {}", d.display()))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Prepares `out`: creates it, or clears what an earlier quickstart left there; refuses anyone else's directory.
fn prepare_out(out: &Path) -> anyhow::Result<()> {
    if out.exists() && std::fs::read_dir(out)?.next().is_some() && !out.join(MARKER).exists() {
        bail!("{} exists and was not made by `electra quickstart`; choose another --out", out.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // Shards are kept (sharding resumes and verifies them); the runs start over.
    for stale in ["pretrain", "untrained", "finetune", "finetune-random-init"] {
        let dir = out.join(stale);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    std::fs::write(out.join(MARKER), "Written by `electra quickstart`; rerunning it replaces this directory's runs.\n")
        .with_context(|| format!("writing {}", out.join(MARKER).display()))
}

/// Seconds one step of `config` takes here: a throwaway model, one warm-up step, then the mean of a few.
fn seconds_per_step(config: &RunConfig, data_dir: &Path) -> anyhow::Result<f64> {
    let (reader, identity) = open_data(data_dir, BUNDLED_VOCAB)?;
    let mut trainer = Trainer::new(config.clone(), identity, BUNDLED_VOCAB.to_vec(), World::single())?;
    let mut stream = trainer.data_stream(&reader)?;
    trainer.train_step(&mut stream)?;
    let started = Instant::now();
    for _ in 0..CALIBRATION_STEPS {
        trainer.train_step(&mut stream)?;
    }
    Ok(started.elapsed().as_secs_f64() / CALIBRATION_STEPS as f64)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let out = args.out.clone();
    prepare_out(&out)?;
    let corpus = args.corpus.clone().unwrap_or_else(|| bundled("corpus/us-speeches"));
    let files = corpus_files(&corpus)?;
    if files.len() < 2 {
        bail!("{} holds {} file(s); the quickstart needs at least 2 (one to hold out)", corpus.display(), files.len());
    }
    let every = args.holdout_every.max(2);
    let (mut train_files, mut heldout_files) = (Vec::new(), Vec::new());
    for (i, f) in files.into_iter().enumerate() {
        if i % every == every - 1 {
            heldout_files.push(f)
        } else {
            train_files.push(f)
        }
    }
    if heldout_files.is_empty() {
        heldout_files.push(train_files.pop().context("no corpus files")?);
    }

    // 1. Shards.
    println!(
        "== 1/6 shard: {} training and {} held-out files of {}",
        train_files.len(),
        heldout_files.len(),
        corpus.display()
    );
    let train_shards = out.join("shards/train");
    let heldout_shards = out.join("shards/heldout");
    shard_corpus(&train_files, &train_shards, args.seed)?;
    shard_corpus(&heldout_files, &heldout_shards, args.seed)?;

    // 2. Pre-training.
    let mut config = RunConfig {
        seed: args.seed,
        lr: TINY_LR,
        // Without bias correction Adam's first ~1000 steps move several times farther than the learning rate (v is
        // underestimated by 1 − β₂ᵗ); ELECTRA tames that with 10,000 warmup steps, which a few-minute run cannot have.
        bias_correction: true,
        ..RunConfig::electra(ModelPair::from_arg("tiny")?, args.steps.unwrap_or(MIN_STEPS), args.batch)
    };
    if args.steps.is_none() {
        let per_step = seconds_per_step(&config, &train_shards)?;
        config.steps = ((args.minutes * 60.0 / per_step) as u64).max(MIN_STEPS);
        println!(
            "   one step takes {:.0} ms here: {} steps fill about {} minutes",
            per_step * 1e3,
            config.steps,
            args.minutes
        );
    }
    config.warmup_steps = config.steps / 10;
    println!(
        "== 2/6 pre-train the tiny preset (generator H {}, discriminator H {}, {} layers) for {} steps of {} × {} tokens",
        config.generator.hidden_size,
        config.discriminator.hidden_size,
        config.discriminator.num_hidden_layers,
        config.steps,
        config.batch_size,
        SEQ_LEN
    );
    let session = SessionOptions {
        data_dir: train_shards.clone(),
        vocab_txt: BUNDLED_VOCAB.to_vec(),
        out_dir: out.join("pretrain"),
        save_every: (config.steps / 4).max(1),
        keep_every: 0,
        progress: !args.quiet,
        stop_after: None,
    };
    let summary = pretrain(config.clone(), &session, false, World::single())?;

    // 3. Evaluation on the held-out speeches, trained against untrained (same seed, same masked positions).
    println!("== 3/6 evaluate on the held-out speeches");
    let (reader, identity) = open_data(&heldout_shards, BUNDLED_VOCAB)?;
    let opts = EvalOptions {
        batch_size: 32,
        seed: args.seed,
        max_batches: None,
        objective: objective_for_vocab(BUNDLED_VOCAB, config.disc_weight)?,
    };
    let (trained, _) = load_pair(&summary.checkpoint)?;
    let trained_report = evaluate(&trained, &reader, &opts)?;
    let untrained = Trainer::new(config.clone(), identity, BUNDLED_VOCAB.to_vec(), World::single())?;
    let untrained_report = evaluate(untrained.model(), &reader, &opts)?;
    print!("{}", format_table(&["untrained", "trained"], &[&untrained_report, &trained_report]));
    let eval_path = out.join("eval.json");
    write_eval_json(&eval_path, &untrained_report, &trained_report)?;

    // 4. Fine-tuning on the reviews: the pre-trained discriminator, a random encoder, the majority class.
    let disc_dir = summary.checkpoint.join(crate::pretrain::state::DISCRIMINATOR_DIR);
    let reviews = args.reviews.clone().unwrap_or_else(|| bundled("classification/movie-reviews.jsonl"));
    let (train, dev, majority) = split_reviews(&reviews, &out.join("reviews"), every)?;
    println!(
        "== 4/6 fine-tune on {}: the pre-trained discriminator, and a random encoder for comparison",
        reviews.display()
    );
    let epochs = args.finetune_epochs.unwrap_or(TINY_FINETUNE_EPOCHS);
    let tune = |random_init: bool, dir: &str| -> anyhow::Result<FinetuneSummary> {
        let mut hyper = Recipe::Electra.defaults(config.discriminator.hidden_size, epochs);
        hyper.lr = TINY_FINETUNE_LR;
        hyper.adamw.lr = TINY_FINETUNE_LR;
        let spec = RunSpec {
            task: Task::Custom,
            start: disc_dir.clone(),
            random_init,
            train: train.clone(),
            train_sha256: String::new(),
            dev: Some(dev.clone()),
            text_a: None,
            text_b: None,
            label: None,
            tag_column: None,
            dropout: DropoutRates::ELECTRA,
            seed: args.seed,
            eval_every: None,
            micro_batches: crate::objective::default_micro_batches(hyper.batch_size),
            grad_precision: Default::default(),
            hyper,
        };
        let spec = crate::finetune::trainer::with_train_checksum(spec)?;
        let options = FinetuneOptions { spec, vocab: None, out: out.join(dir) };
        Ok(finetune(options, &Session { progress: !args.quiet, stop_after: None })?)
    };
    let pretrained = tune(false, "finetune")?;
    let scratch = tune(true, "finetune-random-init")?;
    let best = |s: &FinetuneSummary| s.best.as_ref().map_or(f64::NAN, |b| b.value);
    println!("   dev accuracy on {} held-out reviews:", pretrained.dev_examples);
    println!("   {:<44} {:>8.1}%", "majority class", majority * 100.0);
    println!("   {:<44} {:>8.1}%", "fine-tuned from a random encoder", best(&scratch) * 100.0);
    println!("   {:<44} {:>8.1}%", "fine-tuned from the pre-trained discriminator", best(&pretrained) * 100.0);

    // 5. Export; 6. classify sample reviews.
    println!("== 5/6 export the sentiment classifier to an int8 model file");
    let model_file = out.join("sentiment.int8.elq");
    let exported = crate::export::export(
        &pretrained.model_dir,
        &model_file,
        Some(&pretrained.model_dir.join("vocab.txt")),
        false,
    )?;
    println!("   {} ({} bytes)", exported.out.display(), exported.bytes);
    println!("== 6/6 classify sample reviews with the int8 model file (the engine the firmware runs)");
    classify_samples(&model_file)?;

    println!("\n== done in {:.0} s; written under {}:", started.elapsed().as_secs_f64(), out.display());
    println!("  shards:               {} (train), {} (held out)", train_shards.display(), heldout_shards.display());
    println!("  discriminator (HF):   {}", disc_dir.display());
    println!("  generator (HF):       {}", summary.checkpoint.join(crate::pretrain::state::GENERATOR_DIR).display());
    println!("  pre-training metrics: {}", summary.metrics.display());
    if let Some(plot) = &summary.plot {
        println!("  loss curves:          {}", plot.display());
    }
    println!("  RTD evaluation:       {}", eval_path.display());
    println!("  sentiment model (HF): {}", pretrained.model_dir.display());
    if let Some(plot) = &pretrained.plot {
        println!("  fine-tuning curves:   {}", plot.display());
    }
    println!("  int8 model file:      {}", model_file.display());
    let pct = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{:.1}%", v * 100.0));
    println!(
        "  held-out RTD accuracy {} (all-original baseline {}), AUC {} (untrained {})",
        pct(trained_report.rtd.accuracy),
        pct(trained_report.rtd.all_original_accuracy),
        crate::pretrain::evaluate::fmt_opt(trained_report.rtd.auc),
        crate::pretrain::evaluate::fmt_opt(untrained_report.rtd.auc),
    );
    println!(
        "  review sentiment dev accuracy {:.1}% (random encoder {:.1}%, majority {:.1}%)",
        best(&pretrained) * 100.0,
        best(&scratch) * 100.0,
        majority * 100.0
    );
    Ok(())
}

/// Splits the reviews into `dir/train.jsonl` and `dir/dev.jsonl` (every `every`-th review held out), naming the
/// labels `negative`/`positive` so the model carries readable names; returns the paths and the dev set's
/// majority-class accuracy.
fn split_reviews(reviews: &Path, dir: &Path, every: usize) -> anyhow::Result<(PathBuf, PathBuf, f64)> {
    let text = std::fs::read_to_string(reviews).with_context(|| format!("reading {}", reviews.display()))?;
    let (mut train, mut dev) = (String::new(), String::new());
    let mut dev_counts = [0usize; 2];
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let row: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}: line {}", reviews.display(), i + 1))?;
        let label = match &row["label"] {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        let (Some(review), Some(label @ 0..=1)) = (row["text"].as_str(), label) else {
            bail!("{}: line {}: expected {{\"text\": ..., \"label\": 0 or 1}}", reviews.display(), i + 1);
        };
        let name = if label == 1 { "positive" } else { "negative" };
        let out = serde_json::json!({ "text": review, "label": name }).to_string() + "\n";
        if i % every == every - 1 {
            dev.push_str(&out);
            dev_counts[label as usize] += 1;
        } else {
            train.push_str(&out);
        }
    }
    let total = dev_counts[0] + dev_counts[1];
    if total == 0 || train.is_empty() {
        bail!("{}: too few reviews to hold one in {every} out", reviews.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (train_path, dev_path) = (dir.join("train.jsonl"), dir.join("dev.jsonl"));
    crate::checkpoint::atomic::write_file_synced(&train_path, train.as_bytes())?;
    crate::checkpoint::atomic::write_file_synced(&dev_path, dev.as_bytes())?;
    Ok((train_path, dev_path, dev_counts[0].max(dev_counts[1]) as f64 / total as f64))
}

fn write_eval_json(path: &Path, untrained: &EvalReport, trained: &EvalReport) -> anyhow::Result<()> {
    let json = serde_json::json!({ "untrained": untrained, "trained": trained });
    let text = serde_json::to_string_pretty(&json)? + "\n";
    crate::checkpoint::atomic::write_file_synced(path, text.as_bytes())?;
    Ok(())
}

/// Shards `files` into `out` with the bundled vocab (resumes and verifies shards an earlier run left there).
fn shard_corpus(files: &[PathBuf], out: &Path, seed: u64) -> anyhow::Result<()> {
    let tokenizer = HostTokenizer::from_bytes(BUNDLED_VOCAB.to_vec())?;
    let opts = ShardOptions { seq_len: SEQ_LEN, seed, ..ShardOptions::new(files.to_vec(), out.to_path_buf()) };
    let summary = electra_pipeline::shard::run(&opts, &tokenizer)?;
    let rows = summary.manifest.as_ref().map_or(0, |m| m.totals.examples);
    println!("   {} → {} sequences of {SEQ_LEN} tokens in {} shard(s)", out.display(), rows, summary.num_shards);
    Ok(())
}

/// Reviews to classify at the end, one clearly positive, one clearly negative.
const SAMPLE_REVIEWS: [&str; 2] = [
    "a wonderful , moving film with a brilliant cast ; the best movie i have seen this year .",
    "a dull , boring mess . the plot makes no sense and the acting is awful .",
];

/// Step 6: the sample reviews through the int8 model file, tokenized with the vocab inside it, as firmware does;
/// prints the label (from the file's own label names) and its probability.
fn classify_samples(model_file: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(model_file).with_context(|| format!("reading {}", model_file.display()))?;
    // The model file is read in place and wants 4-byte alignment, as in flash.
    let mut words = vec![0u32; bytes.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
    let model = electra_core::model_file::Model::from_bytes(&bytemuck::cast_slice::<u32, u8>(&words)[..bytes.len()])
        .map_err(|e| anyhow::anyhow!("{}: {e:?}", model_file.display()))?;
    let tokenizer = HostTokenizer::from_bytes(BUNDLED_VOCAB.to_vec())?;
    let special = tokenizer.tokenizer().special();
    let labels = model.labels();
    for review in SAMPLE_REVIEWS {
        let mut ids = vec![special.cls];
        ids.extend(tokenizer.encode(review)?);
        ids.truncate(SEQ_LEN - 1);
        ids.push(special.sep);
        let mut arena = vec![0u32; model.arena_bytes(ids.len(), ArenaOptions::SMALLEST).div_ceil(4)];
        let logits = model
            .run(&SequenceInput::ids(&ids), bytemuck::cast_slice_mut(&mut arena), &RunOptions::default())
            .map_err(|e| anyhow::anyhow!("int8 model: {e:?}"))?
            .values
            .to_vec();
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f64> = logits.iter().map(|&l| ((l - max) as f64).exp()).collect();
        let sum: f64 = exp.iter().sum();
        let (best, p) =
            exp.iter().enumerate().fold((0, 0.0), |acc, (i, &e)| if e / sum > acc.1 { (i, e / sum) } else { acc });
        let name = labels.as_ref().and_then(|l| l.label(best)).map_or(best.to_string(), str::to_string);
        println!("   {:<18}  \"{review}\"", format!("{name} ({p:.3})"));
    }
    Ok(())
}
