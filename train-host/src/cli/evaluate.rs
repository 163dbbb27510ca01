//! `electra evaluate`: a fine-tuned model's task metrics on a labelled file, a confusion matrix, and optionally
//! every prediction as JSON lines.

use crate::checkpoint::atomic::write_file_synced;
use crate::finetune::data::{self, Columns, Task};
use crate::finetune::evaluate::{predict, prediction_json, score};
use crate::finetune::task_model::load_task_model;
use anyhow::Context;
use electra_pipeline::tokenizer::HostTokenizer;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// A fine-tuned model: `electra finetune`'s --out or its model/ directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled file in the format the model was trained on (GLUE TSV, CSV, JSON lines, Parquet, CoNLL).
    #[arg(long)]
    pub data: PathBuf,
    /// Write every prediction as JSON lines (`line`, `label` and `probabilities`, `score`, or `tags`).
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// Column of the first text [default: detected].
    #[arg(long)]
    pub text_a: Option<String>,
    /// Column of the second text [default: detected].
    #[arg(long)]
    pub text_b: Option<String>,
    /// Column of the label [default: detected].
    #[arg(long)]
    pub label: Option<String>,
    /// CoNLL column holding the tag [default: the last].
    #[arg(long)]
    pub tag_column: Option<usize>,
    /// Tokens per example [default: 128, or the model's positions if fewer].
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    /// Examples per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Print the metrics as one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let loaded = load_task_model(&args.model)?;
    let mut model = loaded.model;
    let meta = loaded.meta;
    let tokenizer = HostTokenizer::from_bytes(loaded.vocab_txt)?;
    let max_len = args.max_len.min(model.config.max_position_embeddings);
    let started = Instant::now();
    let encoded = if meta.task == Task::Tagging {
        let sentences = data::read_tagged(&args.data, args.tag_column)?;
        data::encode_all_tagged(&tokenizer, &sentences, &meta.label_map(), max_len, &args.data)?
    } else {
        let columns = Columns { text_a: args.text_a.clone(), text_b: args.text_b.clone(), label: args.label.clone() };
        let examples = data::read_text_examples(&args.data, meta.task, &columns)?;
        let labels = (!meta.is_regression()).then(|| meta.label_map());
        data::encode_all_text(&tokenizer, &examples, labels.as_ref(), max_len, &args.data)?
    };
    model.refresh_transposes();
    let predictions = predict(&model, &encoded, args.batch)?;
    let seconds = started.elapsed().as_secs_f64();
    let evaluation = score(&meta, &encoded, &predictions);
    if let Some(path) = &args.predictions {
        let mut text = String::new();
        for (e, p) in encoded.iter().zip(&predictions) {
            text.push_str(&prediction_json(&meta, e, p).to_string());
            text.push('\n');
        }
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        write_file_synced(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        let metrics: serde_json::Map<String, serde_json::Value> =
            evaluation.report.metrics.iter().map(|(k, v)| (k.clone(), (*v).into())).collect();
        println!(
            "{}",
            serde_json::json!({
                "task": meta.task.name(), "examples": encoded.len(), "scored": evaluation.scored,
                "metrics": metrics, "headline": evaluation.report.headline, "seconds": seconds,
            })
        );
        return Ok(());
    }
    println!(
        "{} on {}: {} examples ({} labelled) in {:.2} s ({:.0} examples/s)",
        meta.task,
        args.data.display(),
        encoded.len(),
        evaluation.scored,
        seconds,
        encoded.len() as f64 / seconds.max(1e-9)
    );
    for (name, value) in &evaluation.report.metrics {
        let mark = if *name == evaluation.report.headline { "  (the task's metric)" } else { "" };
        println!("  {name:<24} {value:.4}{mark}");
    }
    if let Some(confusion) = &evaluation.confusion {
        println!("\nconfusion matrix (rows: gold, columns: predicted)\n{}", confusion.render());
    }
    if let Some(path) = &args.predictions {
        println!("predictions: {}", path.display());
    }
    Ok(())
}
