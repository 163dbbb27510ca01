//! `electra infer`: logits for JSON-lines input, one output line per input line, in order.
//!
//! Input lines: `{"ids": [...], "token_type_ids": [...]?, "attention_mask": [...]?}`, or `{"text": "..."}`,
//! tokenized with BERT-uncased WordPiece as HF's `tokenizer(text)` does it: `[CLS] text [SEP]`. Output lines:
//! `{"logits": ...}`: one float per token (replaced-token detection), one per class (sequence
//! classification), one list per token (token classification, masked LM). A bad line stops the run
//! with an error naming it (1-based); lines before it have been written to stdout, while `--out`
//! is written to a temporary file and renamed only when every line succeeded.
//!
//! A classifier's lines also name what it predicts, from its labels (the model file's labels section,
//! or `config.json`'s `id2label` and `problem_type`), after `"logits"`:
//! - single-label sequence classification: `"label": "positive", "probabilities": {"negative": 0.1,
//!   "positive": 0.9}` (softmax of the logits in float64, names in id order);
//! - multi-label: `"labels": [...]` (sigmoid above 0.5) and `"probabilities"` (every sigmoid);
//! - regression: `"score": s` for one output, `"scores": {"name": s, ...}` for several;
//! - token classification: `"labels": ["O", "B-PER", ...]`, one per token (argmax).

use crate::checkpoint::{CheckpointError, HfCheckpoint};
use crate::export::{task_labels, ExportError, TaskLabels};
use crate::infer::{FloatModel, GemmBackend, InferError, InputSeq, Logits, LogitsModel};
use anyhow::Context;
use electra_core::model_file::ProblemType;
use electra_core::HeadKind;
use electra_pipeline::atomic_file::write_atomically;
use electra_pipeline::corpus::{read_record_line, RecordLine, MAX_RECORD_LINE_BYTES};
use electra_pipeline::tokenizer::HostTokenizer;
use serde::Deserialize;
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model: an HF checkpoint directory (`config.json` + `model.safetensors` or a sharded index),
    /// or an int8 model file from `electra export` (runs the int8 encoder).
    #[arg(long)]
    pub model: PathBuf,
    /// JSON-lines input (default: stdin).
    #[arg(long, conflicts_with = "text")]
    pub input: Option<PathBuf>,
    /// JSON-lines output (default: stdout). Written atomically: nothing appears unless every line succeeds.
    #[arg(long, alias = "output", conflicts_with = "text")]
    pub out: Option<PathBuf>,
    /// Score one text and print a table for a person (token, logit, verdict; a classifier's label and its
    /// probability first) instead of JSON lines.
    #[arg(long)]
    pub text: Option<String>,
    /// BERT `vocab.txt` for text input [default: the model file's embedded vocab, else vocab.txt in the
    /// model's directory, else the bundled BERT uncased vocab].
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// Lines scored together (spread over all cores).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// GEMM implementation (`gemm` is the fastest here).
    #[arg(long, value_enum, default_value_t = GemmBackend::GemmCrate)]
    pub gemm: GemmBackend,
}

/// Loads whatever `path` names. The single place that decides the model kind: an int8 model file
/// (told by its magic bytes) runs on the int8 encoder, an HF checkpoint directory on the float one.
pub fn load_model(path: &Path, gemm: GemmBackend) -> Result<Box<dyn LogitsModel>, InferError> {
    if crate::int8::ModelFile::looks_like_model_file(path) {
        return Ok(Box::new(crate::int8::Int8Model::load(path).map_err(InferError::Int8File)?));
    }
    let checkpoint = HfCheckpoint::load(path)?;
    let labels = task_labels(path, checkpoint.head).map_err(|e| match e {
        ExportError::Io { path, source } => InferError::Checkpoint(CheckpointError::Io { path, source }),
        other => InferError::Checkpoint(CheckpointError::Config {
            path: path.join("config.json"),
            message: match other {
                ExportError::Labels { message, .. } => message,
                other => other.to_string(),
            },
        }),
    })?;
    let model = FloatModel::from_checkpoint(&checkpoint)?.with_backend(gemm);
    Ok(Box::new(WithLabels { model, labels }))
}

/// A float model with the labels of the directory it came from.
struct WithLabels {
    model: FloatModel,
    labels: Option<TaskLabels>,
}

impl LogitsModel for WithLabels {
    fn config(&self) -> &electra_core::ElectraConfig {
        self.model.config()
    }
    fn head(&self) -> HeadKind {
        self.model.head()
    }
    fn logits(&self, seqs: &[InputSeq]) -> Result<Vec<Logits>, InferError> {
        self.model.logits(seqs)
    }
    fn labels(&self) -> Option<&TaskLabels> {
        self.labels.as_ref()
    }
}

/// The vocabulary for text input, by the CLI's one rule ([`crate::cli::resolve_vocab`]): `--vocab` if given
/// (it must load), else the one the model file embeds, else `vocab.txt` in the model's directory, else the
/// bundled BERT uncased vocab. A vocabulary larger than the model's embedding table is refused, except the
/// bundled fallback, which is then left out: `ids` lines need no vocabulary, and a `text` line says so.
fn load_vocab(args: &Args, model: &dyn LogitsModel) -> anyhow::Result<Option<HostTokenizer>> {
    let (bytes, source) = super::resolve_vocab(args.vocab.as_deref(), model.embedded_vocab(), Some(&args.model))?;
    let tokenizer = HostTokenizer::from_bytes(bytes).with_context(|| source.to_string())?;
    let (vocab, model_vocab) = (tokenizer.tokenizer().vocab_size(), model.config().vocab_size);
    match (vocab > model_vocab, source) {
        (false, _) => Ok(Some(tokenizer)),
        (true, super::VocabSource::Bundled) => Ok(None),
        (true, source) => anyhow::bail!("{source}: {vocab} tokens, but the model only embeds {model_vocab}"),
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let model = load_model(&args.model, args.gemm)?;
    let tokenizer = load_vocab(&args, &*model)?;
    let tokenizer = tokenizer.as_ref();
    if let Some(text) = &args.text {
        let seq = encode_text(1, text, tokenizer)?;
        let logits = model.logits(std::slice::from_ref(&seq))?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        write_table(&mut out, model.head(), &seq.input_ids, &logits[0], tokenizer, model.labels())?;
        return Ok(());
    }
    let input: Box<dyn BufRead> = match &args.input {
        Some(path) => {
            Box::new(BufReader::new(std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?))
        }
        None => Box::new(std::io::stdin().lock()),
    };
    match &args.out {
        // Only a complete output ever appears under its name (the project's one atomic writer).
        Some(path) => write_atomically::<_, anyhow::Error>(path, |out| {
            Ok(infer_lines(&*model, tokenizer, input, out, args.batch)?)
        })
        .map(drop)?,
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            infer_lines(&*model, tokenizer, input, &mut out, args.batch)?;
            out.flush()?;
        }
    }
    Ok(())
}

/// Why a line could not be scored.
#[derive(Debug)]
pub enum LineError {
    /// Reading input or writing output failed.
    Io(std::io::Error),
    /// Line `line` (1-based) is not a JSON object of the expected form.
    Json { line: usize, message: String },
    /// Line `line` is well-formed but the model rejects it (id out of range, too long, ...).
    Rejected { line: usize, source: InferError },
    /// The model failed on a batch for a reason no single line explains.
    Model(InferError),
    /// Line `line` is longer than `max` bytes ([`MAX_RECORD_LINE_BYTES`]); it was not read past that.
    TooLong { line: usize, max: usize },
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::Json { line, message } => write!(f, "line {line}: {message}"),
            Self::Rejected { line, source } => match source {
                InferError::Sequence { source, .. } => write!(f, "line {line}: {source}"),
                InferError::Int8Sequence { source, .. } => write!(f, "line {line}: {source}"),
                other => write!(f, "line {line}: {other}"),
            },
            Self::Model(e) => write!(f, "{e}"),
            Self::TooLong { line, max } => {
                write!(f, "line {line}: longer than {} MiB, the most one input line may hold", max >> 20)
            }
        }
    }
}

impl std::error::Error for LineError {}

impl From<std::io::Error> for LineError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// One input line as JSON. Unknown fields are an error, so a typo (`"input_ids"`) is not silently ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineJson {
    ids: Option<Vec<u32>>,
    token_type_ids: Option<Vec<u32>>,
    attention_mask: Option<Vec<u8>>,
    text: Option<String>,
}

/// `[CLS] text [SEP]` with token types 0, as HF's `tokenizer(text)` encodes one sequence (no truncation:
/// a text longer than the model's positions is rejected with the line's number like any other sequence).
pub fn encode_text(line: usize, text: &str, tokenizer: Option<&HostTokenizer>) -> Result<InputSeq, LineError> {
    let bad = |message: String| LineError::Json { line, message };
    let tokenizer =
        tokenizer.ok_or_else(|| bad("`text` input needs a vocabulary: pass --vocab path/to/vocab.txt".into()))?;
    let words = tokenizer.encode(text).map_err(|e| bad(format!("cannot tokenize `text`: {e}")))?;
    let special = tokenizer.tokenizer().special();
    let mut input_ids = Vec::with_capacity(words.len() + 2);
    input_ids.push(special.cls);
    input_ids.extend(words);
    input_ids.push(special.sep);
    Ok(InputSeq::ids(input_ids))
}

/// Parses one input line (`line` is 1-based, for the error).
pub fn parse_line(line: usize, text: &str, tokenizer: Option<&HostTokenizer>) -> Result<InputSeq, LineError> {
    let bad = |message: String| LineError::Json { line, message };
    if text.trim().is_empty() {
        return Err(bad("empty line; expected a JSON object such as {\"ids\": [101, 2023, 102]}".into()));
    }
    let json: LineJson = serde_json::from_str(text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    match (json.ids, json.text) {
        (Some(_), Some(_)) => Err(bad("give either `ids` or `text`, not both".into())),
        (None, Some(text)) => {
            if json.token_type_ids.is_some() || json.attention_mask.is_some() {
                return Err(bad("`token_type_ids` and `attention_mask` go with `ids`, not with `text`".into()));
            }
            encode_text(line, &text, tokenizer)
        }
        (Some(input_ids), None) => {
            Ok(InputSeq { input_ids, token_type_ids: json.token_type_ids, attention_mask: json.attention_mask })
        }
        (None, None) => Err(bad("missing `ids` (a list of token ids) or `text`".into())),
    }
}

/// Scores every line of `input` and writes one `{"logits": ...}` line per input line to `out`, `batch`
/// lines at a time. Returns the number of lines scored.
pub fn infer_lines(
    model: &dyn LogitsModel,
    tokenizer: Option<&HostTokenizer>,
    mut input: impl BufRead,
    out: &mut dyn Write,
    batch: usize,
) -> Result<usize, LineError> {
    let batch = batch.max(1);
    let mut pending: Vec<InputSeq> = Vec::with_capacity(batch);
    let mut first_line = 1;
    let mut done = 0;
    let mut bytes = Vec::new();
    for i in 0.. {
        match read_record_line(&mut input, &mut bytes, MAX_RECORD_LINE_BYTES)? {
            RecordLine::End => break,
            RecordLine::TooLong => return Err(LineError::TooLong { line: i + 1, max: MAX_RECORD_LINE_BYTES }),
            RecordLine::Line => {}
        }
        let line = bytes.strip_suffix(b"\r").unwrap_or(&bytes);
        let text = std::str::from_utf8(line)
            .map_err(|e| LineError::Json { line: i + 1, message: format!("not UTF-8: {e}") })?;
        pending.push(parse_line(i + 1, text, tokenizer)?);
        if pending.len() == batch {
            done += flush(model, &mut pending, first_line, out)?;
            first_line = i + 2;
        }
    }
    done += flush(model, &mut pending, first_line, out)?;
    Ok(done)
}

fn flush(
    model: &dyn LogitsModel,
    pending: &mut Vec<InputSeq>,
    first_line: usize,
    out: &mut dyn Write,
) -> Result<usize, LineError> {
    if pending.is_empty() {
        return Ok(0);
    }
    let logits = model.logits(pending).map_err(|e| match e {
        InferError::Sequence { index, .. } | InferError::Int8Sequence { index, .. } => {
            LineError::Rejected { line: first_line + index, source: e }
        }
        other => LineError::Model(other),
    })?;
    for l in &logits {
        out.write_all(output_line(l, model.labels()).as_bytes())?;
        out.write_all(b"\n")?;
    }
    let n = pending.len();
    pending.clear();
    Ok(n)
}

/// Softmax of `logits` in float64 (what `"probabilities"` holds for a single-label classifier).
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let exp: Vec<f64> = logits.iter().map(|&v| (f64::from(v) - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// The logistic sigmoid in float64 (a multi-label classifier's per-label probability).
fn sigmoid(logit: f32) -> f64 {
    1.0 / (1.0 + (-f64::from(logit)).exp())
}

/// The index of the largest value, the first on a tie (as the firmware picks it).
pub fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &v)| if v > best.1 { (i, v) } else { best }).0
}

/// A label's name, or `#id` past the names (a model file always has one per output; defensive).
fn label_name(labels: &TaskLabels, id: usize) -> &str {
    labels.names.get(id).map_or("?", String::as_str)
}

/// One output line: `{"logits": ...}`, then a classifier's fields (see the module docs). Written by
/// hand so that `"logits"` stays first and `"probabilities"` keeps the labels' id order (a JSON
/// object through serde_json would sort its keys).
pub fn output_line(logits: &Logits, labels: Option<&TaskLabels>) -> String {
    let json = |v: serde_json::Value| v.to_string();
    let mut line = format!("{{\"logits\":{}", json(logits.to_json()));
    let object = |pairs: &mut dyn Iterator<Item = (&str, f64)>| {
        let fields: Vec<String> = pairs.map(|(name, p)| format!("{}:{}", json(name.into()), json(p.into()))).collect();
        format!("{{{}}}", fields.join(","))
    };
    match (logits, labels) {
        (Logits::SequenceClass(values), Some(labels)) => match labels.problem_type {
            ProblemType::Regression if values.len() == 1 => {
                line += &format!(",\"score\":{}", json(f64::from(values[0]).into()));
            }
            ProblemType::Regression => {
                let mut scores = values.iter().enumerate().map(|(i, &v)| (label_name(labels, i), f64::from(v)));
                line += &format!(",\"scores\":{}", object(&mut scores));
            }
            ProblemType::MultiLabelClassification => {
                let p: Vec<f64> = values.iter().map(|&v| sigmoid(v)).collect();
                let on: Vec<&str> = (0..p.len()).filter(|&i| p[i] > 0.5).map(|i| label_name(labels, i)).collect();
                let mut pairs = p.iter().enumerate().map(|(i, &p)| (label_name(labels, i), p));
                line += &format!(",\"labels\":{},\"probabilities\":{}", json(on.into()), object(&mut pairs));
            }
            _ => {
                let p = softmax(values);
                let best = label_name(labels, argmax(values));
                let mut pairs = p.iter().enumerate().map(|(i, &p)| (label_name(labels, i), p));
                line += &format!(",\"label\":{},\"probabilities\":{}", json(best.into()), object(&mut pairs));
            }
        },
        (Logits::TokenClass { num_labels, values }, Some(labels)) => {
            let tags: Vec<&str> = values.chunks_exact(*num_labels).map(|row| label_name(labels, argmax(row))).collect();
            line += &format!(",\"labels\":{}", json(tags.into()));
        }
        _ => {}
    }
    line.push('}');
    line
}

/// A table for a person: one row per token (one per class for a sequence classifier, after a line
/// with the predicted label and its probability).
pub fn write_table(
    out: &mut dyn Write,
    head: HeadKind,
    ids: &[u32],
    logits: &Logits,
    tokenizer: Option<&HostTokenizer>,
    labels: Option<&TaskLabels>,
) -> std::io::Result<()> {
    let name = |id: u32| {
        tokenizer.and_then(|t| t.tokenizer().id_to_token(id)).map_or_else(|| format!("#{id}"), str::to_string)
    };
    let argmax = |row: &[f32]| {
        let i = argmax(row);
        (i, row.get(i).copied().unwrap_or(f32::NAN))
    };
    let width = ids.iter().map(|&id| name(id).chars().count()).max().unwrap_or(0).max(5);
    match (head, logits) {
        (HeadKind::ReplacedTokenDetection, Logits::ReplacedToken(values)) => {
            writeln!(out, "{:<width$}  {:>8}  replaced?", "token", "logit")?;
            for (&id, &logit) in ids.iter().zip(values) {
                let verdict = if logit > 0.0 { "yes" } else { "no" };
                writeln!(out, "{:<width$}  {logit:>8.3}  {verdict}", name(id))?;
            }
        }
        (HeadKind::MaskedLm, Logits::MaskedLm { vocab_size, values }) => {
            writeln!(out, "{:<width$}  {:<width$}  {:>8}", "token", "predicted", "logit")?;
            for (&id, row) in ids.iter().zip(values.chunks_exact(*vocab_size)) {
                let (best, logit) = argmax(row);
                writeln!(out, "{:<width$}  {:<width$}  {logit:>8.3}", name(id), name(best as u32))?;
            }
        }
        (HeadKind::SequenceClassification { .. }, Logits::SequenceClass(values)) => {
            let (best, _) = argmax(values);
            let default_labels = TaskLabels::hf_default(head);
            let labels = labels.or(default_labels.as_ref());
            let class_name = |i: usize| labels.map_or_else(|| i.to_string(), |l| label_name(l, i).to_string());
            let class_width = (0..values.len()).map(|i| class_name(i).chars().count()).max().unwrap_or(0).max(8);
            let problem = labels.map_or(ProblemType::SingleLabelClassification, |l| l.problem_type);
            match problem {
                ProblemType::Regression => {
                    for (class, score) in values.iter().enumerate() {
                        writeln!(out, "{:<class_width$}  score {score:.4}", class_name(class))?;
                    }
                }
                ProblemType::MultiLabelClassification => {
                    writeln!(out, "{:<class_width$}  {:>8}  {:>11}", "label", "logit", "probability")?;
                    for (class, &logit) in values.iter().enumerate() {
                        let p = sigmoid(logit);
                        let mark = if p > 0.5 { "  <- predicted" } else { "" };
                        writeln!(out, "{:<class_width$}  {logit:>8.3}  {p:>11.3}{mark}", class_name(class))?;
                    }
                }
                _ => {
                    let p = softmax(values);
                    writeln!(out, "{} ({:.2})", class_name(best), p.get(best).copied().unwrap_or(f64::NAN))?;
                    writeln!(out, "{:<class_width$}  {:>8}  {:>11}", "label", "logit", "probability")?;
                    for (class, logit) in values.iter().enumerate() {
                        let mark = if class == best { "  <- predicted" } else { "" };
                        writeln!(out, "{:<class_width$}  {logit:>8.3}  {:>11.3}{mark}", class_name(class), p[class])?;
                    }
                }
            }
        }
        (HeadKind::TokenClassification { .. }, Logits::TokenClass { num_labels, values }) => {
            let default_labels = TaskLabels::hf_default(head);
            let labels = labels.or(default_labels.as_ref());
            let tag = |i: usize| labels.map_or_else(|| i.to_string(), |l| label_name(l, i).to_string());
            let tag_width = (0..*num_labels).map(|i| tag(i).chars().count()).max().unwrap_or(0).max(5);
            writeln!(out, "{:<width$}  {:<tag_width$}  {:>11}  logits", "token", "label", "probability")?;
            for (&id, row) in ids.iter().zip(values.chunks_exact(*num_labels)) {
                let cells: Vec<String> = row.iter().map(|v| format!("{v:.3}")).collect();
                let (best, _) = argmax(row);
                let p = softmax(row)[best];
                writeln!(out, "{:<width$}  {:<tag_width$}  {p:>11.3}  {}", name(id), tag(best), cells.join(" "))?;
            }
        }
        _ => writeln!(out, "{}", logits.to_json())?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disc() -> Box<dyn LogitsModel> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/hf-electra-tiny/disc");
        load_model(&dir, GemmBackend::default()).expect("fixture model")
    }

    fn vocab() -> HostTokenizer {
        HostTokenizer::from_file(Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/vocab.txt")).expect("vocab")
    }

    fn run_on(input: &str, batch: usize) -> Result<String, String> {
        let mut out = Vec::new();
        infer_lines(&*disc(), None, input.as_bytes(), &mut out, batch).map_err(|e| e.to_string())?;
        Ok(String::from_utf8(out).expect("utf-8 output"))
    }

    #[test]
    fn one_output_line_per_input_line_in_order() {
        let input = "{\"ids\": [2, 7, 3]}\n{\"ids\": [2, 9, 9, 3], \"token_type_ids\": [0, 0, 1, 1]}\n\
                     {\"ids\": [2, 7, 3, 0], \"attention_mask\": [1, 1, 1, 0]}\n";
        for batch in [1, 2, 64] {
            let text = run_on(input, batch).expect("runs");
            let lines: Vec<serde_json::Value> =
                text.lines().map(|l| serde_json::from_str(l).expect("JSON output")).collect();
            assert_eq!(lines.len(), 3);
            let lens: Vec<usize> = lines.iter().map(|v| v["logits"].as_array().map_or(0, |a| a.len())).collect();
            assert_eq!(lens, [3, 4, 4]);
            // Masked padding does not change the real tokens' logits (same ids as line 1).
            let (first, padded) = (&lines[0]["logits"], &lines[2]["logits"]);
            for pos in 0..3 {
                let a = first[pos].as_f64().unwrap_or(f64::NAN);
                let b = padded[pos].as_f64().unwrap_or(f64::NAN);
                assert!((a - b).abs() < 1e-5, "position {pos}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn bad_lines_are_named() {
        let ok = "{\"ids\": [2, 3]}\n";
        let cases = [
            (format!("{ok}{{\"ids\": [2, 3]\n"), "line 2: invalid JSON"),
            (
                format!("{ok}{ok}{{\"ids\": [2, 1000]}}\n"),
                "line 3: token id 1000 at position 1 is outside the vocab of 1000",
            ),
            (
                format!("{ok}{{\"ids\": [{}]}}\n", vec!["5"; 65].join(",")),
                "line 2: sequence of 65 tokens is longer than the model's 64 positions",
            ),
            ("{\"ids\": [2, -1]}\n".to_string(), "line 1: invalid JSON: invalid value: integer `-1`, expected u32"),
            (format!("{ok}{{\"input_ids\": [2]}}\n"), "line 2: invalid JSON: unknown field `input_ids`"),
            (format!("{ok}{{\"token_type_ids\": [0]}}\n"), "line 2: missing `ids`"),
            ("{\"ids\": [2], \"text\": \"a\"}\n".to_string(), "line 1: give either `ids` or `text`"),
            (format!("{ok}\n{ok}"), "line 2: empty line"),
            ("{\"ids\": [2, 3], \"token_type_ids\": [0, 2]}\n".to_string(), "line 1: token type id 2 at position 1"),
            (
                "{\"ids\": [2, 3], \"attention_mask\": [1]}\n".to_string(),
                "line 1: attention_mask has 1 values, input_ids has 2",
            ),
            ("{\"ids\": []}\n".to_string(), "line 1: the sequence has no tokens"),
            (format!("{ok}{{\"text\": \"hello\"}}\n"), "line 2: `text` input needs a vocabulary"),
            ("[1, 2]\n".to_string(), "line 1: invalid JSON"),
        ];
        for (input, want) in cases {
            for batch in [1, 4] {
                let err = run_on(&input, batch).expect_err("must fail");
                assert!(err.starts_with(want), "batch {batch}, input {input:?}: got {err:?}, want {want:?}");
            }
        }
    }

    #[test]
    fn output_file_appears_only_when_every_line_succeeds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.jsonl");
        let model = disc();
        let bad = "{\"ids\": [2, 3]}\n{\"ids\": [2, 5000]}\n";
        let err =
            write_atomically::<_, anyhow::Error>(&path, |out| Ok(infer_lines(&*model, None, bad.as_bytes(), out, 1)?));
        assert!(err.is_err());
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0, "temporary file left behind");
        let good = "{\"ids\": [2, 3]}\n";
        write_atomically::<_, anyhow::Error>(&path, |out| Ok(infer_lines(&*model, None, good.as_bytes(), out, 1)?))
            .expect("written");
        assert_eq!(std::fs::read_to_string(&path).expect("output").lines().count(), 1);
    }

    #[test]
    fn text_lines_are_cls_text_sep_like_hf() {
        let tokenizer = vocab();
        // BERT uncased: [CLS] 101, "hello" 7592, "world" 2088, [SEP] 102.
        let seq = parse_line(1, "{\"text\": \"Hello world\"}", Some(&tokenizer)).expect("parses");
        assert_eq!(seq.input_ids, [101, 7592, 2088, 102]);
        let err = parse_line(3, "{\"text\": \"a\", \"attention_mask\": [1]}", Some(&tokenizer)).err();
        assert!(err.map(|e| e.to_string()).unwrap_or_default().starts_with("line 3: `token_type_ids` and"));
    }

    #[test]
    fn text_too_long_for_the_model_names_its_line() {
        // 70 words + [CLS] + [SEP] = 72 ids for a model with 64 positions (length is checked before ids).
        let tokenizer = vocab();
        let long = vec!["the"; 70].join(" ");
        let input = format!("{{\"ids\": [2, 3]}}\n{{\"text\": \"{long}\"}}\n");
        let mut out = Vec::new();
        let err = infer_lines(&*disc(), Some(&tokenizer), input.as_bytes(), &mut out, 8).err();
        let err = err.map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(err, "line 2: sequence of 72 tokens is longer than the model's 64 positions");
    }

    fn sentiment() -> TaskLabels {
        TaskLabels {
            names: vec!["negative".into(), "positive".into()],
            problem_type: ProblemType::SingleLabelClassification,
        }
    }

    #[test]
    fn classifier_lines_name_the_label_with_probabilities_in_id_order() {
        // Names that sort the other way round: the object must keep id order, not key order.
        let labels = TaskLabels { names: vec!["z-neg".into(), "a-pos".into()], ..sentiment() };
        let line = output_line(&Logits::SequenceClass(vec![-1.0, 1.0]), Some(&labels));
        assert_eq!(
            line,
            "{\"logits\":[-1.0,1.0],\"label\":\"a-pos\",\
             \"probabilities\":{\"z-neg\":0.11920292202211755,\"a-pos\":0.8807970779778823}}"
        );
        let json: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(json["logits"], serde_json::json!([-1.0, 1.0]));
        // Ties go to the first label, as on the device.
        let line = output_line(&Logits::SequenceClass(vec![0.5, 0.5]), Some(&sentiment()));
        assert!(
            line.contains("\"label\":\"negative\",\"probabilities\":{\"negative\":0.5,\"positive\":0.5}"),
            "{line}"
        );
        // Heads without labels keep the plain line.
        assert_eq!(output_line(&Logits::ReplacedToken(vec![0.25]), None), "{\"logits\":[0.25]}");
    }

    #[test]
    fn regression_multi_label_and_token_lines() {
        let one = TaskLabels { names: vec!["LABEL_0".into()], problem_type: ProblemType::Regression };
        assert_eq!(output_line(&Logits::SequenceClass(vec![3.5]), Some(&one)), "{\"logits\":[3.5],\"score\":3.5}");
        let two = TaskLabels { names: vec!["valence".into(), "arousal".into()], problem_type: ProblemType::Regression };
        assert_eq!(
            output_line(&Logits::SequenceClass(vec![0.5, -2.0]), Some(&two)),
            "{\"logits\":[0.5,-2.0],\"scores\":{\"valence\":0.5,\"arousal\":-2.0}}"
        );
        let multi = TaskLabels {
            names: vec!["sports".into(), "politics".into(), "tech".into()],
            problem_type: ProblemType::MultiLabelClassification,
        };
        let line = output_line(&Logits::SequenceClass(vec![2.0, -1.0, 0.0]), Some(&multi));
        let json: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(json["labels"], serde_json::json!(["sports"]));
        assert_eq!(json["probabilities"]["tech"], serde_json::json!(0.5));
        let tags = TaskLabels {
            names: vec!["O".into(), "B-PER".into(), "I-PER".into()],
            problem_type: ProblemType::SingleLabelClassification,
        };
        let logits = Logits::TokenClass { num_labels: 3, values: vec![1.0, 0.0, 0.0, 0.0, 2.0, 1.0, 0.0, 1.0, 3.0] };
        let json: serde_json::Value = serde_json::from_str(&output_line(&logits, Some(&tags))).expect("JSON");
        assert_eq!(json["labels"], serde_json::json!(["O", "B-PER", "I-PER"]));
        assert_eq!(json["logits"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn table_names_the_label_and_its_probability() {
        let mut out = Vec::new();
        let logits = Logits::SequenceClass(vec![-1.0, 1.0]);
        let head = HeadKind::SequenceClassification { num_labels: 2 };
        write_table(&mut out, head, &[101, 102], &logits, None, Some(&sentiment())).expect("written");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(
            text,
            "positive (0.88)\nlabel        logit  probability\nnegative    -1.000        0.119\n\
             positive     1.000        0.881  <- predicted\n"
        );
        // Without labels: HF's default names.
        let mut out = Vec::new();
        write_table(&mut out, head, &[101, 102], &logits, None, None).expect("written");
        assert!(String::from_utf8(out).expect("utf-8").starts_with("LABEL_1 (0.88)\n"));
    }

    #[test]
    fn table_for_a_person() {
        let tokenizer = vocab();
        let logits = Logits::ReplacedToken(vec![-2.5, 0.75, -0.125]);
        let mut out = Vec::new();
        write_table(&mut out, HeadKind::ReplacedTokenDetection, &[101, 7592, 102], &logits, Some(&tokenizer), None)
            .expect("written");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(
            text,
            "token     logit  replaced?\n[CLS]    -2.500  no\nhello     0.750  yes\n[SEP]    -0.125  no\n"
        );
    }
}
