//! Predictions of a task model on encoded examples, and the task's metrics over them (`electra evaluate`, and
//! the dev evaluations of a fine-tuning run).

use super::data::{eval_batches, pad_batch, Encoded, Target, Task};
use super::error::FinetuneError;
use super::metrics::{classification_report, regression_report, tagging_report, ClassMetric, ConfusionMatrix, Report};
use super::task_model::TaskMeta;
use crate::infer::{InputSeq, Logits, LogitsModel};
use crate::model::gemm::Threads;
use crate::model::{TaskModel, Tokens};
use ndarray::ArrayView1;
use rayon::prelude::*;

/// What the model predicts for one example.
#[derive(Clone, Debug, PartialEq)]
pub enum Prediction {
    /// A class and the softmax over all classes.
    Class { id: usize, probabilities: Vec<f32> },
    /// A regression score.
    Score(f32),
    /// One tag per word (`None` where truncation cut the word off).
    Tags(Vec<Option<usize>>),
}

/// The metric a classification task is judged by (GLUE's: MCC for CoLA, F1 and accuracy for MRPC and QQP).
pub fn class_metric(task: Task) -> ClassMetric {
    match task {
        Task::Cola => ClassMetric::Matthews,
        Task::Mrpc | Task::Qqp => ClassMetric::AccuracyAndF1,
        _ => ClassMetric::Accuracy,
    }
}

/// Runs the model on every example (no dropout), `batch_size` at a time in length-sorted batches; predictions
/// come back in the examples' order.
///
/// With enough batches to go round, each core runs whole batches on its own (longest first, so the last ones
/// to finish are short): the products of a batch of ~10-token sentences are too small to split well across
/// cores (1.4 of 2 cores were busy splitting them). With few batches every product is split instead.
pub fn predict(model: &TaskModel, encoded: &[Encoded], batch_size: usize) -> Result<Vec<Prediction>, FinetuneError> {
    let batches = eval_batches(encoded, batch_size);
    let cores = rayon::current_num_threads();
    let one_batch_per_core = cores > 1 && batches.len() >= 2 * cores;
    let run = |indices: &Vec<usize>, threads: Threads| -> Result<Vec<(usize, Prediction)>, FinetuneError> {
        let batch = pad_batch(encoded, indices);
        let tokens = Tokens::from(&batch);
        let logits = model.logits_on(&tokens, threads)?;
        let predictions = batch.examples.iter().enumerate().map(|(row, &example)| {
            let prediction = match model.kind {
                electra_core::HeadKind::TokenClassification { .. } => {
                    let starts = &encoded[example].word_starts;
                    let tags = starts.iter().map(|s| s.map(|s| argmax(logits.row(row * batch.seq_len + s)))).collect();
                    Prediction::Tags(tags)
                }
                electra_core::HeadKind::SequenceClassification { num_labels: 1 } => Prediction::Score(logits[[row, 0]]),
                _ => {
                    let probabilities = softmax(logits.row(row));
                    Prediction::Class { id: argmax(logits.row(row)), probabilities }
                }
            };
            (example, prediction)
        });
        Ok(predictions.collect())
    };
    let per_batch: Vec<Result<Vec<(usize, Prediction)>, FinetuneError>> = if one_batch_per_core {
        batches.par_iter().map(|indices| run(indices, Threads::One)).collect()
    } else {
        batches.iter().map(|indices| run(indices, Threads::All)).collect()
    };
    let mut out: Vec<Option<Prediction>> = vec![None; encoded.len()];
    for batch in per_batch {
        for (example, prediction) in batch? {
            out[example] = Some(prediction);
        }
    }
    out.into_iter()
        .enumerate()
        .map(|(i, p)| p.ok_or_else(|| FinetuneError::Invalid { message: format!("example {i} was not in any batch") }))
        .collect()
}

/// Sequences per call of [`predict_with`]'s model (each call runs its sequences in parallel).
const INFER_CHUNK: usize = 256;

/// [`predict`] through an inference engine (`electra infer`'s: the int8 model file or the float checkpoint), so
/// that exactly what a device would run is what gets scored.
pub fn predict_with(model: &dyn LogitsModel, encoded: &[Encoded]) -> Result<Vec<Prediction>, FinetuneError> {
    let mut out = Vec::with_capacity(encoded.len());
    for chunk in encoded.chunks(INFER_CHUNK) {
        let seqs: Vec<InputSeq> = chunk
            .iter()
            .map(|e| InputSeq {
                input_ids: e.input_ids.clone(),
                token_type_ids: Some(e.token_type_ids.iter().map(|&t| u32::from(t)).collect()),
                attention_mask: None,
            })
            .collect();
        let logits = model.logits(&seqs).map_err(|e| FinetuneError::Invalid { message: e.to_string() })?;
        for (e, l) in chunk.iter().zip(logits) {
            out.push(match l {
                Logits::SequenceClass(v) if v.len() == 1 => Prediction::Score(v[0]),
                Logits::SequenceClass(v) => {
                    let row = ArrayView1::from(&v[..]);
                    Prediction::Class { id: argmax(row), probabilities: softmax(row) }
                }
                Logits::TokenClass { num_labels, values } => Prediction::Tags(
                    e.word_starts
                        .iter()
                        .map(|s| s.and_then(|s| values.get(s * num_labels..(s + 1) * num_labels)))
                        .map(|row| row.map(|r| argmax(ArrayView1::from(r))))
                        .collect(),
                ),
                other => {
                    return Err(FinetuneError::Invalid {
                        message: format!(
                            "the model is not a task model ({} outputs per sequence)",
                            other.values().len()
                        ),
                    })
                }
            });
        }
    }
    Ok(out)
}

/// The task's metrics on the examples that have a gold label, and a confusion matrix for classification.
#[derive(Clone, Debug)]
pub struct Evaluation {
    pub report: Report,
    pub confusion: Option<ConfusionMatrix>,
    /// Examples (sentences, for tagging) with a gold label that were scored.
    pub scored: usize,
}

/// Scores `predictions` against the gold targets of `encoded`.
pub fn score(meta: &TaskMeta, encoded: &[Encoded], predictions: &[Prediction]) -> Evaluation {
    let pairs = encoded.iter().zip(predictions);
    if meta.task == Task::Tagging {
        let name = |id: usize| meta.labels.get(id).cloned().unwrap_or_else(|| "O".to_string());
        let (mut gold, mut pred) = (Vec::new(), Vec::new());
        for (e, p) in pairs {
            let (Target::Tokens(targets), Prediction::Tags(tags)) = (&e.target, p) else { continue };
            // Words cut off by truncation are left out on both sides, as HF's run_ner does (their labels never
            // reach the model).
            let (g, q): (Vec<String>, Vec<String>) = e
                .word_starts
                .iter()
                .zip(tags)
                .filter_map(|(start, tag)| {
                    let gold_id = targets.get((*start)?).copied().filter(|&t| t >= 0)?;
                    Some((name(gold_id as usize), name((*tag)?)))
                })
                .unzip();
            gold.push(g);
            pred.push(q);
        }
        return Evaluation { scored: gold.len(), report: tagging_report(&gold, &pred), confusion: None };
    }
    if meta.is_regression() {
        let (gold, pred): (Vec<f64>, Vec<f64>) = pairs
            .filter_map(|(e, p)| match (&e.target, p) {
                (Target::Score(g), Prediction::Score(q)) => Some((*g as f64, *q as f64)),
                _ => None,
            })
            .unzip();
        return Evaluation { scored: gold.len(), report: regression_report(&pred, &gold), confusion: None };
    }
    let (gold, pred): (Vec<usize>, Vec<usize>) = pairs
        .filter_map(|(e, p)| match (&e.target, p) {
            (Target::Class(g), Prediction::Class { id, .. }) => Some((*g, *id)),
            _ => None,
        })
        .unzip();
    let report = classification_report(&pred, &gold, meta.labels.len(), class_metric(meta.task));
    let confusion = ConfusionMatrix::new(meta.labels.clone(), &pred, &gold);
    Evaluation { scored: gold.len(), report, confusion: Some(confusion) }
}

/// One prediction as a JSON line for `electra evaluate --out`: the example's line in its file and the label(s).
pub fn prediction_json(meta: &TaskMeta, example: &Encoded, prediction: &Prediction) -> serde_json::Value {
    let name = |id: usize| meta.labels.get(id).cloned().unwrap_or_else(|| id.to_string());
    match prediction {
        Prediction::Class { id, probabilities } => {
            let probs: serde_json::Map<String, serde_json::Value> =
                probabilities.iter().enumerate().map(|(i, &p)| (name(i), f64::from(p).into())).collect();
            serde_json::json!({ "line": example.line, "label": name(*id), "probabilities": probs })
        }
        Prediction::Score(s) => serde_json::json!({ "line": example.line, "score": s }),
        Prediction::Tags(tags) => {
            let tags: Vec<serde_json::Value> =
                tags.iter().map(|t| t.map_or(serde_json::Value::Null, |t| name(t).into())).collect();
            serde_json::json!({ "line": example.line, "tags": tags })
        }
    }
}

/// Index of the largest value (the first on ties, as torch's `argmax`).
fn argmax(row: ArrayView1<'_, f32>) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

fn softmax(row: ArrayView1<'_, f32>) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f64> = row.iter().map(|&v| ((v - max) as f64).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| (e / sum) as f32).collect()
}
