//! `electra quickstart`: the whole path on the bundled corpus in a few minutes: shard → pre-train → evaluate on
//! held-out speeches against an untrained model → export → infer.

use crate::checkpoint::HfCheckpoint;
use crate::distributed::World;
use crate::infer::{FloatModel, InputSeq};
use crate::pretrain::evaluate::{evaluate, format_table, load_pair, EvalOptions, EvalReport};
use crate::pretrain::trainer::{objective_for_vocab, open_data, pretrain, SessionOptions, Trainer};
use crate::pretrain::{ModelPair, RunConfig, BUNDLED_VOCAB};
use anyhow::{bail, Context};
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
    /// One corpus file in this many is held out for evaluation.
    #[arg(long, default_value_t = 10)]
    pub holdout_every: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

fn default_corpus() -> PathBuf {
    let relative = PathBuf::from("data/corpus/us-speeches");
    if relative.is_dir() {
        relative
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/corpus/us-speeches")
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
    for stale in ["pretrain", "untrained"] {
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
    let corpus = args.corpus.clone().unwrap_or_else(default_corpus);
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
        "== 1/5 shard: {} training and {} held-out files of {}",
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
        "== 2/5 pre-train the tiny preset (generator H {}, discriminator H {}, {} layers) for {} steps of {} × {} tokens",
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
        progress: !args.quiet,
        stop_after: None,
    };
    let summary = pretrain(config.clone(), &session, false, World::single())?;

    // 3. Evaluation on the held-out speeches, trained against untrained (same seed, same masked positions).
    println!("== 3/5 evaluate on the held-out speeches");
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

    // 4. Export; 5. inference on a sample sentence.
    let disc_dir = summary.checkpoint.join(crate::pretrain::state::DISCRIMINATOR_DIR);
    println!("== 4/5 export the discriminator to an int8 model file");
    let model_file = export_discriminator(&disc_dir, &out)?;
    println!("== 5/5 infer: which tokens of a sample sentence look replaced (int8 model file and float32 checkpoint)");
    infer_sample(&model_file, &disc_dir)?;

    println!("\n== done in {:.0} s; written under {}:", started.elapsed().as_secs_f64(), out.display());
    println!("  shards:               {} (train), {} (held out)", train_shards.display(), heldout_shards.display());
    println!("  discriminator (HF):   {}", disc_dir.display());
    println!("  generator (HF):       {}", summary.checkpoint.join(crate::pretrain::state::GENERATOR_DIR).display());
    println!("  metrics:              {}", summary.metrics.display());
    if let Some(plot) = &summary.plot {
        println!("  loss curves:          {}", plot.display());
    }
    println!("  evaluation:           {}", eval_path.display());
    println!("  int8 model file:      {}", model_file.display());
    let pct = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{:.1}%", v * 100.0));
    println!(
        "  held-out RTD accuracy {} (all-original baseline {}), AUC {} (untrained {})",
        pct(trained_report.rtd.accuracy),
        pct(trained_report.rtd.all_original_accuracy),
        crate::pretrain::evaluate::fmt_opt(trained_report.rtd.auc),
        crate::pretrain::evaluate::fmt_opt(untrained_report.rtd.auc),
    );
    Ok(())
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

/// A sentence in the corpus's register, and the same sentence with one word swapped for an implausible one.
const SAMPLE: &str = "the president thanked the congress for its support of the union";
const SAMPLE_REPLACED: (&str, &str) = ("congress", "banana");

/// Step 4: the trained discriminator as an int8 model file (vocab embedded), as firmware loads it.
fn export_discriminator(disc_dir: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    let path = out.join("discriminator.int8.electra");
    let summary = crate::export::export(disc_dir, &path, Some(&disc_dir.join("vocab.txt")), false)?;
    println!("   {} ({} bytes)", summary.out.display(), summary.bytes);
    Ok(path)
}

/// P(replaced) per token, `σ(logit)`.
fn probabilities(logits: &[f32]) -> Vec<f32> {
    logits.iter().map(|&l| 1.0 / (1.0 + (-l).exp())).collect()
}

/// Step 5: the sample sentence and a copy with one word replaced, through the int8 model file (the encoder the
/// firmware runs, on this host) and the float32 checkpoint it came from: per token, P(replaced).
fn infer_sample(model_file: &Path, disc_dir: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(model_file).with_context(|| format!("reading {}", model_file.display()))?;
    // The model file is read in place and wants 4-byte alignment, as in flash.
    let mut words = vec![0u32; bytes.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
    let int8 = electra_core::model_file::Model::from_bytes(&bytemuck::cast_slice::<u32, u8>(&words)[..bytes.len()])
        .map_err(|e| anyhow::anyhow!("{}: {e:?}", model_file.display()))?;
    let float = FloatModel::from_checkpoint(&HfCheckpoint::load(disc_dir)?)?;
    let tokenizer = HostTokenizer::from_bytes(BUNDLED_VOCAB.to_vec())?;
    let special = tokenizer.tokenizer().special();
    let replaced = SAMPLE.replacen(SAMPLE_REPLACED.0, SAMPLE_REPLACED.1, 1);
    for text in [SAMPLE.to_string(), replaced] {
        let mut ids = vec![special.cls];
        ids.extend(tokenizer.encode(&text)?);
        ids.push(special.sep);
        let mut arena = vec![0u32; int8.arena_bytes(ids.len()).div_ceil(4)];
        let int8_logits = int8
            .run(&ids, None, bytemuck::cast_slice_mut(&mut arena))
            .map_err(|e| anyhow::anyhow!("int8 model: {e:?}"))?
            .values
            .to_vec();
        let float_logits = float.logits(&[InputSeq::ids(ids.clone())])?.first().map(|l| l.values().to_vec());
        let (p_int8, p_float) = (probabilities(&int8_logits), probabilities(&float_logits.unwrap_or_default()));
        println!("   \"{text}\"");
        println!("   {:<12} {:>12} {:>12}", "token", "P int8", "P float32");
        for (i, &id) in ids.iter().enumerate() {
            let token = tokenizer.tokenizer().id_to_token(id).unwrap_or("?");
            let (a, b) = (p_int8.get(i).copied().unwrap_or(f32::NAN), p_float.get(i).copied().unwrap_or(f32::NAN));
            println!("   {token:<12} {a:>12.3} {b:>12.3}");
        }
    }
    Ok(())
}
