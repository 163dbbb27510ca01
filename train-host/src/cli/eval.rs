//! `electra eval`: replaced-token detection quality of a pre-trained discriminator on held-out shards.
//!
//! The replacements come from the run's own generator, so `--model` names a run's output directory, a checkpoint
//! directory holding `discriminator/` and `generator/` (such as `OUT/checkpoint-latest`), or a discriminator
//! directory with `../generator/` beside it.

use crate::pretrain::evaluate::{evaluate, format_table, load_pair, EvalOptions, EvalReport};
use crate::pretrain::trainer::{objective_for_vocab, open_data};
use crate::pretrain::BUNDLED_VOCAB;
use anyhow::Context;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// A run's --out directory, a checkpoint directory with `discriminator/` and `generator/`, or a discriminator
    /// directory with `../generator/` beside it.
    #[arg(long)]
    pub model: PathBuf,
    /// Shard directory of `electra shard` to evaluate on (held-out data).
    #[arg(long)]
    pub data: PathBuf,
    /// Vocab the shards were made with [default: the discriminator's `vocab.txt`, else the bundled one].
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Seeds the masking and the generator's samples (same seed: same masked positions for every model).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Evaluate at most this many batches [default: all the data].
    #[arg(long)]
    pub max_batches: Option<u64>,
    /// Print the results as one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The vocab the evaluation reads shards with.
fn vocab_for(vocab: Option<&Path>, disc_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = vocab.map_or_else(|| disc_dir.join("vocab.txt"), Path::to_path_buf);
    if vocab.is_none() && !path.exists() {
        return Ok(BUNDLED_VOCAB.to_vec());
    }
    std::fs::read(&path).with_context(|| format!("reading the vocab {}", path.display()))
}

/// Evaluates `model_dir` on `data_dir`.
pub fn evaluate_dir(
    model_dir: &Path,
    data_dir: &Path,
    vocab: Option<&Path>,
    opts: impl FnOnce(&[u8]) -> anyhow::Result<EvalOptions>,
) -> anyhow::Result<EvalReport> {
    let (model, disc_dir) = load_pair(model_dir)?;
    let vocab_txt = vocab_for(vocab, &disc_dir)?;
    let (reader, _) = open_data(data_dir, &vocab_txt)?;
    Ok(evaluate(&model, &reader, &opts(&vocab_txt)?)?)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let report = evaluate_dir(&args.model, &args.data, args.vocab.as_deref(), |vocab_txt| {
        Ok(EvalOptions {
            batch_size: args.batch,
            seed: args.seed,
            max_batches: args.max_batches,
            objective: objective_for_vocab(vocab_txt, crate::pretrain::state::DEFAULT_DISC_WEIGHT)?,
        })
    })?;
    if args.json {
        let json = serde_json::json!({
            "model": args.model,
            "data": args.data,
            "seed": args.seed,
            "report": report,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("model: {}\ndata:  {}\n", args.model.display(), args.data.display());
        print!("{}", format_table(&["value"], &[&report]));
    }
    Ok(())
}
