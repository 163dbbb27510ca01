//! Task files → labelled examples → token ids → padded batches.
//!
//! The readers ([`read_text_examples`], [`read_tagged`]) keep each example's 1-based line, so that every error and
//! every prediction points back into the file. Encoding reproduces HF `run_glue`/`run_ner` with the fast (Rust)
//! tokenizer, so a model fine-tuned here sees the inputs a PyTorch run would.

mod read;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use electra_core::tokenizer::{TokenizeError, Tokenizer};
use electra_pipeline::tokenizer::HostTokenizer;
use rayon::prelude::*;

use crate::rng::TrainRng;

pub use read::{read_tagged, read_tagged_from_bytes, read_text_examples, read_text_examples_from_bytes};

/// Longest line (or quoted CSV record) a reader accepts: files are untrusted, and a buffer is never sized from
/// them before this check.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The target of tokens that carry no label (`[CLS]`, `[SEP]`, non-first sub-tokens, padding): PyTorch's
/// `CrossEntropyLoss` default `ignore_index`, which HF `run_ner` uses.
pub const IGNORE_INDEX: i64 = -100;

/// Examples sorted by length together in [`epoch_batches`], in batches.
const SORT_WINDOW_BATCHES: usize = 100;

/// Which task: decides column detection, label set, metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// SST-2: sentiment of one sentence (0/1).
    #[value(name = "sst2")]
    Sst2,
    /// CoLA: grammatical acceptability of one sentence (0/1).
    Cola,
    /// MRPC: are two sentences paraphrases (0/1).
    Mrpc,
    /// RTE: does the first sentence entail the second.
    Rte,
    /// STS-B: similarity of two sentences, a score from 0 to 5 (regression).
    Stsb,
    /// QNLI: does the sentence answer the question.
    Qnli,
    /// QQP: are two questions duplicates (0/1).
    Qqp,
    /// MNLI: entailment, neutral or contradiction.
    Mnli,
    /// Token classification from CoNLL files (NER, chunking, POS).
    Tagging,
    /// Any other text classification or regression file; columns and labels come from the data.
    Custom,
}

impl Task {
    /// Whether examples are sentence pairs; `None` for [`Task::Custom`], where it depends on the file's columns.
    pub fn is_pair(&self) -> Option<bool> {
        match self {
            Self::Sst2 | Self::Cola | Self::Tagging => Some(false),
            Self::Mrpc | Self::Rte | Self::Stsb | Self::Qnli | Self::Qqp | Self::Mnli => Some(true),
            Self::Custom => None,
        }
    }

    /// STS-B only; a custom task may be regression too, which [`Task::regression_for`] decides from its labels.
    pub fn is_regression(&self) -> bool {
        matches!(self, Self::Stsb)
    }

    /// ELECTRA's recipe: 3 epochs, 10 for the small RTE and STS-B sets.
    pub fn default_epochs(&self) -> usize {
        match self {
            Self::Rte | Self::Stsb => 10,
            _ => 3,
        }
    }

    /// The name on the command line and in `config.json`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sst2 => "sst2",
            Self::Cola => "cola",
            Self::Mrpc => "mrpc",
            Self::Rte => "rte",
            Self::Stsb => "stsb",
            Self::Qnli => "qnli",
            Self::Qqp => "qqp",
            Self::Mnli => "mnli",
            Self::Tagging => "tagging",
            Self::Custom => "custom",
        }
    }

    /// Whether a model for this task predicts a score: STS-B always; a custom task when every training label is a
    /// number and at least one is not an integer (`3.8`), since integer labels (`0`, `1`, `4`) are usually classes.
    pub fn regression_for(&self, train: &[TextExample]) -> bool {
        match self {
            Self::Stsb => true,
            Self::Custom => {
                let mut labels = train.iter().filter_map(|ex| ex.label.as_ref()).peekable();
                labels.peek().is_some()
                    && labels.all(|label| match label {
                        RawLabel::Score(x) => x.is_finite(),
                        RawLabel::Class(s) => number(s).is_some(),
                    })
                    && train.iter().filter_map(|ex| ex.label.as_ref()).any(|label| match label {
                        RawLabel::Score(_) => true,
                        RawLabel::Class(s) => number(s).is_some_and(|x| x.fract() != 0.0),
                    })
            }
            _ => false,
        }
    }

    /// The GLUE labels in id order. SST-2/CoLA/MRPC/QQP ship `0`/`1`; for RTE, QNLI and MNLI the order is that of
    /// ELECTRA's `classification_tasks.py` and of transformers' GLUE processors (`MnliProcessor.get_labels`:
    /// contradiction, entailment, neutral), which sorts the names. HF datasets numbers MNLI differently
    /// (see [`Task::hf_datasets_names`]); its integers are translated to names when read.
    fn glue_labels(&self) -> Option<&'static [&'static str]> {
        match self {
            Self::Sst2 | Self::Cola | Self::Mrpc | Self::Qqp => Some(&["0", "1"]),
            Self::Rte | Self::Qnli => Some(&["entailment", "not_entailment"]),
            Self::Mnli => Some(&["contradiction", "entailment", "neutral"]),
            Self::Stsb | Self::Tagging | Self::Custom => None,
        }
    }

    /// HF datasets' `ClassLabel` names for the tasks whose GLUE labels are words: Parquet and JSON exports of
    /// `datasets.load_dataset("glue", ...)` store these indices (and -1 for unlabelled test rows).
    fn hf_datasets_names(&self) -> Option<&'static [&'static str]> {
        match self {
            Self::Rte | Self::Qnli => Some(&["entailment", "not_entailment"]),
            Self::Mnli => Some(&["entailment", "neutral", "contradiction"]),
            _ => None,
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which columns hold what; `None` = detect. A spec that parses as an integer is a 0-based column index (and makes a
/// TSV/CSV file headerless); anything else is a column name.
#[derive(Clone, Debug, Default)]
pub struct Columns {
    pub text_a: Option<String>,
    pub text_b: Option<String>,
    pub label: Option<String>,
}

/// One labelled text example; `line` is the 1-based line in its file (the row for Parquet), for errors and
/// predictions.
#[derive(Clone, Debug, PartialEq)]
pub struct TextExample {
    pub text_a: String,
    pub text_b: Option<String>,
    /// `None` for unlabelled rows (GLUE test files, empty label cells, HF datasets' -1).
    pub label: Option<RawLabel>,
    pub line: usize,
}

/// A label as read: STS-B scores are parsed when read, everything else stays text until a [`LabelMap`] (or, for a
/// custom regression task, [`encode_text`] without one) interprets it.
#[derive(Clone, Debug, PartialEq)]
pub enum RawLabel {
    Class(String),
    Score(f32),
}

impl fmt::Display for RawLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Class(s) => f.write_str(s),
            Self::Score(x) => write!(f, "{x}"),
        }
    }
}

/// One CoNLL sentence: words and their tags (tag from `tag_column`, default the last column); `line` is the
/// 1-based line of its first word (word `i` is on line `line + i`).
#[derive(Clone, Debug, PartialEq)]
pub struct TaggedSentence {
    pub words: Vec<String>,
    pub tags: Vec<String>,
    pub line: usize,
}

/// The labels of `examples`, as text (for [`LabelMap::for_task`]).
pub fn train_labels(examples: &[TextExample]) -> Vec<String> {
    examples.iter().filter_map(|ex| ex.label.as_ref()).map(RawLabel::to_string).collect()
}

/// The tags of `sentences` (for [`LabelMap::for_task`] with [`Task::Tagging`]).
pub fn train_tags(sentences: &[TaggedSentence]) -> Vec<String> {
    sentences.iter().flat_map(|s| s.tags.iter().cloned()).collect()
}

/// Labels ↔ ids, in a stable order (id = index). Serialized as `{"labels": [...]}`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(from = "LabelList", into = "LabelList")]
pub struct LabelMap {
    labels: Vec<String>,
    index: HashMap<String, usize>,
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct LabelList {
    labels: Vec<String>,
}

impl From<LabelList> for LabelMap {
    fn from(list: LabelList) -> Self {
        Self::from_labels(list.labels)
    }
}

impl From<LabelMap> for LabelList {
    fn from(map: LabelMap) -> Self {
        Self { labels: map.labels }
    }
}

impl LabelMap {
    /// The label set of `task`: GLUE's fixed order for the GLUE classification tasks (see `Task::glue_labels`),
    /// otherwise the unique training labels sorted numbers first, by value (`2` < `10`), then text; for tagging,
    /// the training tags sorted with `O` first.
    pub fn for_task(task: Task, train_labels: impl IntoIterator<Item = String>) -> Result<Self, DataError> {
        if task.is_regression() {
            return Err(DataError::NoLabels { task: task.name(), reason: "a regression task has scores, not labels" });
        }
        if let Some(glue) = task.glue_labels() {
            return Ok(Self::from_labels(glue.iter().map(|s| (*s).to_owned()).collect()));
        }
        let mut labels: Vec<String> = train_labels.into_iter().collect();
        labels.sort_by(|a, b| label_order(a, b));
        labels.dedup();
        if task == Task::Tagging {
            if let Some(at) = labels.iter().position(|t| t == "O") {
                let outside = labels.remove(at);
                labels.insert(0, outside);
            }
        }
        if labels.is_empty() {
            return Err(DataError::NoLabels { task: task.name(), reason: "the training file has no labels" });
        }
        Ok(Self::from_labels(labels))
    }

    /// A map in the given order (e.g. from `config.json`'s `id2label`); a repeated label keeps its first id.
    pub fn from_labels(labels: Vec<String>) -> Self {
        let mut index = HashMap::with_capacity(labels.len());
        for (id, label) in labels.iter().enumerate() {
            index.entry(label.clone()).or_insert(id);
        }
        Self { labels, index }
    }

    pub fn id(&self, label: &str) -> Option<usize> {
        self.index.get(label).copied()
    }

    pub fn label(&self, id: usize) -> Option<&str> {
        self.labels.get(id).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }
}

/// A finite number, if `s` spells one.
fn number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Numbers first, by value (ties by text, so the order is total), then everything else by text.
fn label_order(a: &str, b: &str) -> Ordering {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y).then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// Model input for one example, not padded.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoded {
    pub input_ids: Vec<u32>,
    pub token_type_ids: Vec<u8>,
    pub target: Target,
    /// The example's line in its file.
    pub line: usize,
    /// Tagging: for each word, the index of its first sub-token in `input_ids` (`None` if truncated away or if
    /// the word has no tokens); empty for text examples.
    pub word_starts: Vec<Option<usize>>,
}

/// What the model should predict for one example.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// Unlabelled (prediction only).
    None,
    Class(usize),
    Score(f32),
    /// One per token: the word's label on its first sub-token, [`IGNORE_INDEX`] on `[CLS]`/`[SEP]` and non-first
    /// sub-tokens (HF `run_ner` with `label_all_tokens=False`).
    Tokens(Vec<i64>),
}

/// `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, at most `max_len` ids. Truncation is HF tokenizers'
/// `TruncationStrategy::LongestFirst` (what `run_glue` gets from the fast tokenizer, via
/// [`Tokenizer::encode_pair`]): the shorter sequence keeps all it can, and when both are long the first keeps
/// `budget / 2` and the second the rest. transformers' slow `truncate_sequences` and ELECTRA's `_truncate_seq_pair`
/// instead drop one token at a time from the longer, ties from the second, which gives the odd token to the first.
///
/// `labels`: the class map, or `None` for regression, where a class label must parse as a number.
pub fn encode_text(
    tok: &Tokenizer<'_>,
    ex: &TextExample,
    labels: Option<&LabelMap>,
    max_len: usize,
    path: &Path,
) -> Result<Encoded, DataError> {
    let target = text_target(ex, labels, path)?;
    // Every token spells at least one byte of the text, so this bounds the encoding without trusting `max_len`.
    let upper = ex.text_a.len() + ex.text_b.as_ref().map_or(0, String::len) + 3;
    let capacity = max_len.min(upper);
    let mut input_ids = vec![0u32; capacity];
    let mut token_type_ids = vec![0u8; capacity];
    let n = tok
        .encode_pair(&ex.text_a, ex.text_b.as_deref(), max_len, &mut input_ids, &mut token_type_ids)
        .map_err(|source| DataError::Tokenize { path: path.to_owned(), line: ex.line, source })?;
    input_ids.truncate(n);
    token_type_ids.truncate(n);
    Ok(Encoded { input_ids, token_type_ids, target, line: ex.line, word_starts: Vec::new() })
}

fn text_target(ex: &TextExample, labels: Option<&LabelMap>, path: &Path) -> Result<Target, DataError> {
    let Some(label) = &ex.label else { return Ok(Target::None) };
    match labels {
        Some(map) => {
            let text = label.to_string();
            map.id(&text).map(Target::Class).ok_or_else(|| DataError::BadLabel {
                path: path.to_owned(),
                line: ex.line,
                label: text,
                known: map.labels.clone(),
            })
        }
        None => match label {
            RawLabel::Score(x) => Ok(Target::Score(*x)),
            RawLabel::Class(s) => match s.trim().parse::<f32>() {
                Ok(x) if x.is_finite() => Ok(Target::Score(x)),
                _ => Err(DataError::BadScore { path: path.to_owned(), line: ex.line, value: s.clone() }),
            },
        },
    }
}

/// `[CLS] words… [SEP]` with one target per token (see [`Target::Tokens`]). Each word is tokenized on its own,
/// as HF's `is_split_into_words=True` does (a word such as `U.S.` may give several pre-tokens; all are the
/// word's sub-tokens). Tokens past `max_len - 2` are cut, as HF's `truncation=True`; every tag is still checked.
pub fn encode_tagged(
    tok: &Tokenizer<'_>,
    s: &TaggedSentence,
    labels: &LabelMap,
    max_len: usize,
    path: &Path,
) -> Result<Encoded, DataError> {
    if s.words.len() != s.tags.len() {
        return Err(DataError::MalformedConll {
            path: path.to_owned(),
            line: s.line,
            message: format!("{} words but {} tags", s.words.len(), s.tags.len()),
        });
    }
    let budget = max_len.checked_sub(2).ok_or(DataError::Tokenize {
        path: path.to_owned(),
        line: s.line,
        source: TokenizeError::MaxLenTooSmall { max_len, special_tokens: 2 },
    })?;
    let special = tok.special();
    let upper = s.words.iter().map(String::len).sum::<usize>().min(budget) + 2;
    let mut input_ids = Vec::with_capacity(upper);
    let mut targets = Vec::with_capacity(upper);
    let mut word_starts = Vec::with_capacity(s.words.len());
    input_ids.push(special.cls);
    targets.push(IGNORE_INDEX);
    for (i, (word, tag)) in s.words.iter().zip(&s.tags).enumerate() {
        let id = labels.id(tag).ok_or_else(|| DataError::BadLabel {
            path: path.to_owned(),
            line: s.line + i,
            label: tag.clone(),
            known: labels.labels.clone(),
        })?;
        let start = input_ids.len();
        let _ = tok.try_for_each_word(word, |pieces| {
            for &piece in pieces {
                if input_ids.len() > budget {
                    return Err(());
                }
                input_ids.push(piece);
                targets.push(IGNORE_INDEX);
            }
            Ok(())
        });
        match targets.get_mut(start) {
            Some(first) => {
                *first = id as i64;
                word_starts.push(Some(start));
            }
            None => word_starts.push(None),
        }
    }
    input_ids.push(special.sep);
    targets.push(IGNORE_INDEX);
    let token_type_ids = vec![0; input_ids.len()];
    Ok(Encoded { input_ids, token_type_ids, target: Target::Tokens(targets), line: s.line, word_starts })
}

/// [`encode_text`] for a whole file on all cores, in file order; the error is that of the first bad example.
pub fn encode_all_text(
    tok: &HostTokenizer,
    examples: &[TextExample],
    labels: Option<&LabelMap>,
    max_len: usize,
    path: &Path,
) -> Result<Vec<Encoded>, DataError> {
    let tokenizer = tok.tokenizer();
    let results: Vec<_> = examples.par_iter().map(|ex| encode_text(&tokenizer, ex, labels, max_len, path)).collect();
    results.into_iter().collect()
}

/// [`encode_tagged`] for a whole file on all cores, in file order; the error is that of the first bad sentence.
pub fn encode_all_tagged(
    tok: &HostTokenizer,
    sentences: &[TaggedSentence],
    labels: &LabelMap,
    max_len: usize,
    path: &Path,
) -> Result<Vec<Encoded>, DataError> {
    let tokenizer = tok.tokenizer();
    let results: Vec<_> = sentences.par_iter().map(|s| encode_tagged(&tokenizer, s, labels, max_len, path)).collect();
    results.into_iter().collect()
}

/// A batch padded to its longest example, row-major `[batch_size, seq_len]`.
#[derive(Clone, Debug, PartialEq)]
pub struct PaddedBatch {
    pub batch_size: usize,
    pub seq_len: usize,
    /// Padded with 0 (`[PAD]`).
    pub input_ids: Vec<u32>,
    pub token_type_ids: Vec<u8>,
    /// 1 on real tokens, 0 on padding.
    pub attention_mask: Vec<u8>,
    /// `[B]` class ids, or `[B·T]` token targets for tagging (padding [`IGNORE_INDEX`]); empty when no example has
    /// a class or token target. An unlabelled example among labelled ones gets [`IGNORE_INDEX`].
    pub classes: Vec<i64>,
    /// `[B]` regression targets; empty when no example has a score. An unlabelled example among scored ones gets NaN.
    pub scores: Vec<f32>,
    /// Indices into the encoded slice, row by row: puts predictions back in file order.
    pub examples: Vec<usize>,
}

/// Training order for one epoch: shuffle, sort each window of 100·`batch_size` examples by length, cut it into
/// batches, shuffle the batches. Batches hold examples of similar length (little padding) in a random order;
/// deterministic given `rng`'s state. A `batch_size` of 0 is taken as 1.
pub fn epoch_batches(encoded: &[Encoded], batch_size: usize, rng: &mut TrainRng) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    shuffle(&mut order, rng);
    let mut batches = Vec::with_capacity(encoded.len().div_ceil(batch_size));
    for window in order.chunks_mut(batch_size.saturating_mul(SORT_WINDOW_BATCHES)) {
        window.sort_by_key(|&i| encoded[i].input_ids.len());
        batches.extend(window.chunks(batch_size).map(<[usize]>::to_vec));
    }
    shuffle(&mut batches, rng);
    batches
}

/// Evaluation order: longest first (any out-of-memory shows at once, and little padding), cut into batches;
/// [`PaddedBatch::examples`] maps predictions back to file order.
pub fn eval_batches(encoded: &[Encoded], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(encoded[i].input_ids.len()));
    order.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect()
}

/// Fisher–Yates with [`TrainRng::below`].
fn shuffle<T>(items: &mut [T], rng: &mut TrainRng) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i + 1);
        items.swap(i, j);
    }
}

/// Pads the examples at `indices` to the longest of them (pad id 0, mask 0, token type 0, token targets
/// [`IGNORE_INDEX`]). Indices outside `encoded` are skipped, so `examples` always says which rows are which.
pub fn pad_batch(encoded: &[Encoded], indices: &[usize]) -> PaddedBatch {
    let rows: Vec<(usize, &Encoded)> = indices.iter().filter_map(|&i| encoded.get(i).map(|e| (i, e))).collect();
    let batch_size = rows.len();
    let seq_len = rows.iter().map(|(_, e)| e.input_ids.len()).max().unwrap_or(0);
    let cells = batch_size * seq_len;
    let mut input_ids = vec![0u32; cells];
    let mut token_type_ids = vec![0u8; cells];
    let mut attention_mask = vec![0u8; cells];
    let tagging = rows.iter().any(|(_, e)| matches!(e.target, Target::Tokens(_)));
    let classes_wanted = tagging || rows.iter().any(|(_, e)| matches!(e.target, Target::Class(_)));
    let scores_wanted = rows.iter().any(|(_, e)| matches!(e.target, Target::Score(_)));
    let mut classes = Vec::new();
    if classes_wanted {
        classes = vec![IGNORE_INDEX; if tagging { cells } else { batch_size }];
    }
    let mut scores = if scores_wanted { vec![f32::NAN; batch_size] } else { Vec::new() };
    for (row, (_, e)) in rows.iter().enumerate() {
        let at = row * seq_len;
        let n = e.input_ids.len();
        input_ids[at..at + n].copy_from_slice(&e.input_ids);
        let types = e.token_type_ids.len().min(n);
        token_type_ids[at..at + types].copy_from_slice(&e.token_type_ids[..types]);
        attention_mask[at..at + n].fill(1);
        match &e.target {
            Target::None => {}
            Target::Class(c) if !tagging => classes[row] = *c as i64,
            Target::Class(_) => {}
            Target::Score(x) => scores[row] = *x,
            Target::Tokens(t) => {
                let k = t.len().min(n);
                classes[at..at + k].copy_from_slice(&t[..k]);
            }
        }
    }
    let examples = rows.iter().map(|(i, _)| *i).collect();
    PaddedBatch { batch_size, seq_len, input_ids, token_type_ids, attention_mask, classes, scores, examples }
}

/// Why a task file could not be read or encoded. Every variant about a file names it, and the 1-based line where
/// there is one (for Parquet, the 1-based row).
#[derive(Debug)]
#[non_exhaustive]
pub enum DataError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// No examples: the file is empty or holds only a header.
    Empty {
        path: PathBuf,
    },
    /// The file's extension names no format this module reads.
    UnknownFormat {
        path: PathBuf,
    },
    /// A column that was asked for, or that the task needs, is not there. `found` is empty for a headerless file.
    MissingColumn {
        path: PathBuf,
        column: String,
        found: Vec<String>,
    },
    WrongFieldCount {
        path: PathBuf,
        line: usize,
        expected: usize,
        found: usize,
    },
    /// A label the label map does not know (e.g. a dev label absent from the training file).
    BadLabel {
        path: PathBuf,
        line: usize,
        label: String,
        known: Vec<String>,
    },
    BadScore {
        path: PathBuf,
        line: usize,
        value: String,
    },
    MalformedJson {
        path: PathBuf,
        line: usize,
        message: String,
    },
    MalformedConll {
        path: PathBuf,
        line: usize,
        message: String,
    },
    UnterminatedQuote {
        path: PathBuf,
        line: usize,
    },
    InvalidUtf8 {
        path: PathBuf,
        line: usize,
    },
    Parquet {
        path: PathBuf,
        message: String,
    },
    LineTooLong {
        path: PathBuf,
        line: usize,
        limit: usize,
    },
    /// The example cannot be encoded (`max_len` too small for the special tokens).
    Tokenize {
        path: PathBuf,
        line: usize,
        source: TokenizeError,
    },
    /// [`LabelMap::for_task`] has nothing to build.
    NoLabels {
        task: &'static str,
        reason: &'static str,
    },
}

/// Labels listed in a message before "and N more".
const LABELS_SHOWN: usize = 20;

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Empty { path } => {
                write!(f, "{}: no examples (the file is empty or holds only a header)", path.display())
            }
            Self::UnknownFormat { path } => write!(
                f,
                "{}: unknown file type; expected .tsv, .csv, .jsonl (or .json, JSON lines) or .parquet",
                path.display()
            ),
            Self::MissingColumn { path, column, found } if found.is_empty() => write!(
                f,
                "{}: no column `{column}`: the file has no header row, so columns are given by 0-based index",
                path.display()
            ),
            Self::MissingColumn { path, column, found } => {
                write!(f, "{}: no column `{column}` (the columns are: {})", path.display(), found.join(", "))
            }
            Self::WrongFieldCount { path, line, expected, found } => {
                write!(f, "{}: line {line}: {found} fields where {expected} were expected", path.display())
            }
            Self::BadLabel { path, line, label, known } => {
                write!(f, "{}: line {line}: label `{label}` is not one of the known labels (", path.display())?;
                for (i, l) in known.iter().take(LABELS_SHOWN).enumerate() {
                    write!(f, "{}{l}", if i == 0 { "" } else { ", " })?;
                }
                if known.len() > LABELS_SHOWN {
                    write!(f, ", and {} more", known.len() - LABELS_SHOWN)?;
                }
                write!(f, ")")
            }
            Self::BadScore { path, line, value } => {
                write!(f, "{}: line {line}: score `{value}` is not a finite number", path.display())
            }
            Self::MalformedJson { path, line, message } => write!(f, "{}: line {line}: {message}", path.display()),
            Self::MalformedConll { path, line, message } => write!(f, "{}: line {line}: {message}", path.display()),
            Self::UnterminatedQuote { path, line } => write!(
                f,
                "{}: line {line}: the quoted field opened here is not closed before the end of the file",
                path.display()
            ),
            Self::InvalidUtf8 { path, line } => write!(f, "{}: line {line}: not valid UTF-8", path.display()),
            Self::Parquet { path, message } => write!(f, "{}: {message}", path.display()),
            Self::LineTooLong { path, line, limit } => {
                write!(f, "{}: line {line}: longer than {limit} bytes", path.display())
            }
            Self::Tokenize { path, line, source } => write!(f, "{}: line {line}: {source}", path.display()),
            Self::NoLabels { task, reason } => write!(f, "task {task}: {reason}"),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Tokenize { source, .. } => Some(source),
            _ => None,
        }
    }
}
