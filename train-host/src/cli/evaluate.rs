//! `electra evaluate`: a fine-tuned model's task metrics on a labelled file, a confusion matrix, and optionally
//! every prediction as JSON lines. The model is an `electra finetune` output (float32) or the int8 model file
//! `electra export` made of one, run by the engine the firmware runs: the two scores side by side are what
//! quantization costs.

use crate::cli::finetune::ColumnArgs;
use crate::finetune::data::{self, Task};
use crate::finetune::evaluate::{predict, predict_with, prediction_json, score, Prediction};
use crate::finetune::task_model::{load_task_model, TaskMeta};
use crate::int8::{Int8Model, ModelFile};
use crate::model::dropout::DropoutRates;
use anyhow::Context;
use electra_core::HeadKind;
use electra_pipeline::atomic_file::write_bytes_atomically;
use electra_pipeline::tokenizer::HostTokenizer;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// A fine-tuned model: `electra finetune`'s --out or its model/ directory, or an int8 model file exported
    /// from one.
    #[arg(long)]
    pub model: PathBuf,
    /// The task, for an int8 model file (which keeps the labels but not the task) [default: tagging for a token
    /// classifier, else custom (accuracy)].
    #[arg(long, value_enum)]
    pub task: Option<Task>,
    /// vocab.txt to tokenize with [default: the model's own (embedded in the model file, or vocab.txt in its
    /// directory), else the bundled BERT uncased vocab].
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// Labelled file to score, a dev or test split in the format the model was trained on (GLUE TSV, CSV, JSON
    /// lines, Parquet, CoNLL).
    #[arg(long, alias = "data")]
    pub dev: PathBuf,
    /// Write every prediction here as JSON lines (`line`, `label` and `probabilities`, `score`, or `tags`).
    #[arg(long, alias = "predictions")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub columns: ColumnArgs,
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

/// The model to score with: the float32 task model, or the int8 engine on a model file.
enum Engine {
    Float(Box<crate::model::TaskModel>),
    Int8(Box<Int8Model>),
}

impl Engine {
    fn predict(&self, encoded: &[data::Encoded], batch: usize) -> anyhow::Result<Vec<Prediction>> {
        Ok(match self {
            Self::Float(model) => predict(model, encoded, batch)?,
            Self::Int8(model) => predict_with(model.as_ref(), encoded)?,
        })
    }
}

/// Loads either kind of model with its task fields and vocabulary.
fn load(args: &Args) -> anyhow::Result<(Engine, TaskMeta, Vec<u8>, usize)> {
    if ModelFile::looks_like_model_file(&args.model) {
        let model = Int8Model::load(&args.model)?;
        let head = crate::infer::LogitsModel::head(&model);
        let task = match (args.task, head) {
            (Some(task), _) => task,
            (None, HeadKind::TokenClassification { .. }) => Task::Tagging,
            (None, _) => Task::Custom,
        };
        let labels = crate::infer::LogitsModel::labels(&model)
            .with_context(|| format!("{}: not a task model (no classifier head)", args.model.display()))?;
        let names = if labels.is_regression() { Vec::new() } else { labels.names.clone() };
        let (vocab, _) = super::resolve_vocab(args.vocab.as_deref(), model.vocab(), None)?;
        let positions = crate::infer::LogitsModel::config(&model).max_position_embeddings;
        let meta = TaskMeta { task, labels: names, dropout: DropoutRates::OFF };
        return Ok((Engine::Int8(Box::new(model)), meta, vocab, positions));
    }
    let loaded = load_task_model(&args.model)?;
    let mut model = loaded.model;
    model.refresh_transposes();
    let positions = model.config.max_position_embeddings;
    // The model directory's own vocab.txt is what `load_task_model` read; `--vocab` overrides it.
    let vocab = match &args.vocab {
        Some(path) => super::resolve_vocab(Some(path), None, None)?.0,
        None => loaded.vocab_txt,
    };
    Ok((Engine::Float(Box::new(model)), loaded.meta, vocab, positions))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (engine, meta, vocab, positions) = load(&args)?;
    let tokenizer = HostTokenizer::from_bytes(vocab)?;
    let max_len = args.max_len.min(positions);
    let started = Instant::now();
    let encoded = if meta.task == Task::Tagging {
        let sentences = data::read_tagged(&args.dev, args.columns.tag_column)?;
        data::encode_all_tagged(&tokenizer, &sentences, &meta.label_map(), max_len, &args.dev)?
    } else {
        let columns = args.columns.columns();
        let examples = data::read_text_examples(&args.dev, meta.task, &columns)?;
        let labels = (!meta.is_regression()).then(|| meta.label_map());
        data::encode_all_text(&tokenizer, &examples, labels.as_ref(), max_len, &args.dev)?
    };
    let predictions = engine.predict(&encoded, args.batch)?;
    let seconds = started.elapsed().as_secs_f64();
    let evaluation = score(&meta, &encoded, &predictions);
    if let Some(path) = &args.out {
        let mut text = String::new();
        for (e, p) in encoded.iter().zip(&predictions) {
            text.push_str(&prediction_json(&meta, e, p).to_string());
            text.push('\n');
        }
        write_bytes_atomically(path, text.as_bytes())?;
    }
    if args.json {
        let metrics: serde_json::Map<String, serde_json::Value> =
            evaluation.report.metrics.iter().map(|(k, v)| (k.clone(), (*v).into())).collect();
        let engine = match engine {
            Engine::Float(_) => "float32",
            Engine::Int8(_) => "int8",
        };
        println!(
            "{}",
            serde_json::json!({
                "task": meta.task.name(), "engine": engine, "examples": encoded.len(), "scored": evaluation.scored,
                "metrics": metrics, "headline": evaluation.report.headline, "seconds": seconds,
            })
        );
        return Ok(());
    }
    println!(
        "{} on {}: {} examples ({} labelled) in {:.2} s ({:.0} examples/s)",
        meta.task,
        args.dev.display(),
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
    if let Some(path) = &args.out {
        println!("predictions: {}", path.display());
    }
    Ok(())
}
