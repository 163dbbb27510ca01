//! `electra export`: any HF ELECTRA checkpoint (discriminator, generator, sequence or token
//! classifier) → one int8 model file for [`electra_core::model_file::Model`].
//!
//! The format and the quantization live in the core (`electra_core::model_file::write_model_file`,
//! shared with the device side); this module reads the checkpoint, checks what the format cannot
//! express, and writes the file atomically. A classifier's label names (`id2label`) and problem type
//! go into the file's labels section ([`task_labels`]), so a device can name what it predicts.

use crate::checkpoint::{try_filled, CheckpointError, HfCheckpoint};
use electra_core::model_file::{
    model_file_len_keeping, write_model_file_keeping, FloatType, Int4Tensors, KeptWordRows, LabelsSpec, Model,
    ModelFileSpec, ProblemType, WriteError,
};
use electra_core::HeadKind;
use electra_pipeline::atomic_file::write_bytes_atomically;
use electra_pipeline::lock::OutputLock;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a checkpoint could not be exported.
#[derive(Debug)]
pub enum ExportError {
    /// Reading the checkpoint failed.
    Checkpoint(CheckpointError),
    /// The generator stores its own `generator_lm_head.weight`, different from the word
    /// embeddings; the format only holds the tied head.
    UntiedGeneratorHead { dir: PathBuf },
    /// Building the file failed (missing tensor, non-finite weight, vocab size, …).
    Write { dir: PathBuf, error: WriteError<CheckpointError> },
    /// The written bytes did not read back (a bug; the file is not left behind).
    ReadBack(electra_core::model_file::ModelFileError),
    /// Reading the vocab or writing the output failed.
    Io { path: PathBuf, source: std::io::Error },
    /// The vocab cannot back the on-device tokenizer (not UTF-8, no special tokens, too large).
    Vocab(electra_core::tokenizer::VocabError),
    /// `config.json`'s `id2label` or `problem_type` does not describe the head.
    Labels { path: PathBuf, message: String },
    /// `--keep-tokens-from` needs the vocab whose WordPiece decides which tokens occur.
    KeepTokensWithoutVocab,
    /// A `--keep-tokens-from` file has a line that is not UTF-8.
    NotUtf8 { path: PathBuf, line: usize },
    /// `--max-positions` is zero or more than the checkpoint's `max_position_embeddings`.
    MaxPositions { dir: PathBuf, asked: usize, model: usize },
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Checkpoint(e) => write!(f, "{e}"),
            Self::UntiedGeneratorHead { dir } => write!(
                f,
                "{}: generator_lm_head.weight differs from the word embeddings; only the tied head (HF default) can be exported",
                dir.display()
            ),
            Self::Write { dir, error } => write!(f, "{}: {error}", dir.display()),
            Self::ReadBack(e) => write!(f, "the exported file does not read back: {e}"),
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Vocab(e) => write!(f, "the vocab cannot be used for on-device tokenization: {e}"),
            Self::Labels { path, message } => write!(f, "{}: {message}", path.display()),
            Self::KeepTokensWithoutVocab => {
                write!(f, "keeping only the tokens of some texts needs the vocab that tokenizes them (--vocab)")
            }
            Self::NotUtf8 { path, line } => write!(f, "{}:{line}: not UTF-8", path.display()),
            Self::MaxPositions { dir, asked, model } => write!(
                f,
                "{}: --max-positions {asked}: the model has {model} positions (max_position_embeddings); \
                 keep between 1 and {model}",
                dir.display()
            ),
        }
    }
}

impl std::error::Error for ExportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Checkpoint(e) => Some(e),
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<electra_pipeline::atomic_file::FileWriteError> for ExportError {
    fn from(e: electra_pipeline::atomic_file::FileWriteError) -> Self {
        Self::Io { path: e.path, source: e.source }
    }
}

impl From<CheckpointError> for ExportError {
    fn from(e: CheckpointError) -> Self {
        Self::Checkpoint(e)
    }
}

/// What besides the weights goes into the file.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extras<'v> {
    /// The raw `vocab.txt`, for on-device tokenization.
    pub vocab: Option<&'v [u8]>,
    /// Also the prebuilt tokenizer index (about 6.6 bytes per token: 0.2 MB for BERT's vocab), so
    /// the device needs neither RAM nor build-time tooling for it.
    pub tokenizer_index: bool,
    /// A classifier's label names and problem type (the file's labels section, format version 2).
    pub labels: Option<&'v TaskLabels>,
    /// Keep only these word embedding rows (vocab ids, strictly increasing, `[UNK]` among them;
    /// see [`kept_token_ids`]); the file gets an id → row map (format version 3).
    pub keep_ids: Option<&'v [u32]>,
    /// The encoder linears to store as int4 with one scale per group of inputs (format version 4;
    /// `Int4Tensors::all(group)` for every one); bits past the model's layers are dropped.
    pub int4: Option<Int4Tensors>,
    /// Store the word embedding table int4 with one scale per group of this many columns (format
    /// version 5); the position and token-type tables stay int8.
    pub word_int4_group: Option<u32>,
    /// How the int4 group scales are stored: f32, or f16 (format version 6).
    pub int4_scales: FloatType,
    /// How biases and LayerNorm parameters are stored: f32, or f16 (format version 7).
    pub biases_and_norms: FloatType,
    /// Keep only the first this many rows of the position embedding table: the file's
    /// `max_position_embeddings` becomes this, and it runs sequences of at most this many tokens.
    pub max_positions: Option<usize>,
}

/// Which word embedding rows `--keep-tokens-from` keeps: the tokens that occur in `from` (each
/// line tokenized by the vocab's own WordPiece, the device's tokenizer) at least `min_count` times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeepTokens {
    /// The text files whose tokens are kept (typically the task's training file); empty: every row.
    pub from: Vec<PathBuf>,
    /// Occurrences a token needs to be kept (1: every token that occurs). A token seen once or twice in
    /// fine-tuning barely moved from its initial row, so dropping it to `[UNK]`'s trades little accuracy
    /// for its bytes; docs/BENCHMARKS.md ("Model size") measures it.
    pub min_count: u32,
}

impl KeepTokens {
    /// Every row (no pruning).
    pub const ALL: Self = Self { from: Vec::new(), min_count: 1 };

    /// The tokens of `from`, each kept if it occurs at all.
    pub fn from_texts(from: &[PathBuf]) -> Self {
        Self { from: from.to_vec(), min_count: 1 }
    }
}

/// The ids [`KeepTokens`] keeps: every token the vocab's own WordPiece yields at least
/// `min_count` times over the lines of its texts, plus the five special tokens, sorted. Returns
/// them and the number of tokens read.
pub fn kept_token_ids(vocab: &[u8], keep: &KeepTokens) -> Result<(Vec<u32>, usize), ExportError> {
    let index = tokenizer_index_of(vocab)?;
    let tokenizer = electra_core::tokenizer::Tokenizer::new(vocab, &index).map_err(ExportError::Vocab)?;
    let mut counts = vec![0u32; tokenizer.vocab_size()];
    let mut tokens = 0;
    for path in &keep.from {
        let bytes = std::fs::read(path).map_err(|source| ExportError::Io { path: path.clone(), source })?;
        for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let line =
                std::str::from_utf8(line).map_err(|_| ExportError::NotUtf8 { path: path.clone(), line: n + 1 })?;
            // Ids come from this vocab's tokenizer, so they index `counts`.
            tokenizer.for_each_id(line, |id| {
                counts[id as usize] = counts[id as usize].saturating_add(1);
                tokens += 1;
            });
        }
    }
    let special = tokenizer.special();
    for id in [special.pad, special.unk, special.cls, special.sep, special.mask] {
        counts[id as usize] = u32::MAX;
    }
    let min_count = keep.min_count.max(1);
    let ids = counts.iter().enumerate().filter(|(_, &c)| c >= min_count).map(|(id, _)| id as u32).collect();
    Ok((ids, tokens))
}

/// A classifier's labels as its `config.json` gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskLabels {
    /// `id2label` in id order; HF's defaults (`LABEL_0`, `LABEL_1`, …) where the config has none.
    pub names: Vec<String>,
    /// `problem_type`; when absent, HF's rule: one output is regression, more are single-label.
    pub problem_type: ProblemType,
}

impl TaskLabels {
    /// Whether the outputs are regression scores.
    pub fn is_regression(&self) -> bool {
        self.problem_type == ProblemType::Regression
    }

    /// What HF assumes for a classifier whose config names no labels: `LABEL_0`, `LABEL_1`, …, and
    /// regression for one output (`None` for heads without labels). Used for model files written
    /// without a labels section.
    pub fn hf_default(head: HeadKind) -> Option<Self> {
        let (num_labels, tokens) = match head {
            HeadKind::SequenceClassification { num_labels } => (num_labels, false),
            HeadKind::TokenClassification { num_labels } => (num_labels, true),
            HeadKind::ReplacedTokenDetection | HeadKind::MaskedLm => return None,
        };
        let problem_type =
            if num_labels == 1 && !tokens { ProblemType::Regression } else { ProblemType::SingleLabelClassification };
        Some(Self { names: (0..num_labels).map(|i| format!("LABEL_{i}")).collect(), problem_type })
    }
}

/// The labels of an HF classifier directory (`dir/config.json`): `None` for heads without labels
/// (discriminator, generator).
pub fn task_labels(dir: &Path, head: HeadKind) -> Result<Option<TaskLabels>, ExportError> {
    if !matches!(head, HeadKind::SequenceClassification { .. } | HeadKind::TokenClassification { .. }) {
        return Ok(None);
    }
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| ExportError::Io { path: path.clone(), source })?;
    task_labels_from_json(&path, &text, head)
}

/// [`task_labels`] on the text of a `config.json` (`path` names it in errors).
///
/// `id2label` must map exactly `"0"`, `"1"`, … to strings, one per output of the head; names are kept
/// as they are (HF's `LABEL_0` defaults included). `problem_type` is HF's: `regression`,
/// `single_label_classification` or `multi_label_classification`; absent, HF's models read one
/// output as regression and more as single-label. A token classifier is always single-label (HF's
/// `ElectraForTokenClassification` ignores `problem_type`).
pub fn task_labels_from_json(path: &Path, text: &str, head: HeadKind) -> Result<Option<TaskLabels>, ExportError> {
    let bad = |message: String| ExportError::Labels { path: path.to_path_buf(), message };
    let (num_labels, tokens) = match head {
        HeadKind::SequenceClassification { num_labels } => (num_labels, false),
        HeadKind::TokenClassification { num_labels } => (num_labels, true),
        HeadKind::ReplacedTokenDetection | HeadKind::MaskedLm => return Ok(None),
    };
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let names = match json.get("id2label") {
        None | Some(serde_json::Value::Null) => (0..num_labels).map(|i| format!("LABEL_{i}")).collect(),
        Some(serde_json::Value::Object(map)) => {
            let mut names: Vec<Option<String>> = vec![None; num_labels];
            for (key, name) in map {
                let id = key
                    .parse::<usize>()
                    .ok()
                    .filter(|&id| id < num_labels && key == &id.to_string())
                    .ok_or_else(|| bad(format!("id2label key `{key}` is not a class id 0..{num_labels}")))?;
                let name = name.as_str().ok_or_else(|| bad(format!("id2label[{key}] is not a string")))?;
                if name.contains('\n') {
                    return Err(bad(format!("id2label[{key}] = {name:?} contains a newline")));
                }
                names[id] = Some(name.to_string());
            }
            let missing = names.iter().position(Option::is_none);
            match missing {
                Some(id) => {
                    return Err(bad(format!(
                        "id2label has {} names for a head with {num_labels} labels (no name for id {id})",
                        map.len()
                    )))
                }
                None => names.into_iter().flatten().collect(),
            }
        }
        Some(other) => return Err(bad(format!("id2label is not an object: {other}"))),
    };
    let problem_type = match json.get("problem_type").and_then(|p| if p.is_null() { None } else { Some(p) }) {
        _ if tokens => ProblemType::SingleLabelClassification,
        None if num_labels == 1 => ProblemType::Regression,
        None => ProblemType::SingleLabelClassification,
        Some(value) => match value.as_str() {
            Some("regression") => ProblemType::Regression,
            Some("single_label_classification") => ProblemType::SingleLabelClassification,
            Some("multi_label_classification") => ProblemType::MultiLabelClassification,
            _ => return Err(bad(format!("problem_type {value} is not one of HF's three"))),
        },
    };
    Ok(Some(TaskLabels { names, problem_type }))
}

/// The model file of `checkpoint` with `extras`.
pub fn model_file_bytes(checkpoint: &HfCheckpoint, extras: Extras) -> Result<Vec<u8>, ExportError> {
    let vocab = extras.vocab;
    if checkpoint.head == HeadKind::MaskedLm {
        if let Some(head) = checkpoint.tensors.get("generator_lm_head.weight") {
            let word = checkpoint.tensors.get("electra.embeddings.word_embeddings.weight");
            if word.map(|w| w.data != head.data).unwrap_or(true) {
                return Err(ExportError::UntiedGeneratorHead { dir: checkpoint.dir.clone() });
            }
        }
    }
    // The index is built even when not embedded: the device will build the same one, so the vocab
    // must be able to back a tokenizer either way.
    let index = match vocab {
        Some(vocab) => {
            let mut index = try_filled(electra_core::tokenizer::index_len(vocab), 0u32, "the tokenizer index")?;
            electra_core::tokenizer::build_index(vocab, &mut index).map_err(ExportError::Vocab)?;
            electra_core::tokenizer::Tokenizer::new(vocab, &index).map_err(ExportError::Vocab)?;
            extras.tokenizer_index.then_some(index)
        }
        None => None,
    };
    let names: Vec<&str> = extras.labels.map(|l| l.names.iter().map(String::as_str).collect()).unwrap_or_default();
    let labels = extras.labels.map(|l| LabelsSpec { names: &names, problem_type: l.problem_type });
    // A position table cut to its first rows: the same rows, row-major, so a prefix of the tensor.
    let full_positions = checkpoint.config.max_position_embeddings;
    let mut config = checkpoint.config;
    if let Some(asked) = extras.max_positions {
        if asked == 0 || asked > full_positions {
            return Err(ExportError::MaxPositions { dir: checkpoint.dir.clone(), asked, model: full_positions });
        }
        config.max_position_embeddings = asked;
    }
    let spec = ModelFileSpec {
        config,
        head: checkpoint.head,
        vocab,
        tokenizer_index: index.as_deref(),
        labels,
        int4: extras.int4.map(|t| t.for_layers(checkpoint.config.num_hidden_layers)),
        word_int4_group: extras.word_int4_group,
        int4_scales: extras.int4_scales,
        biases_and_norms: extras.biases_and_norms,
    };
    let keep = match (extras.keep_ids, vocab) {
        (None, _) => None,
        (Some(_), None) => return Err(ExportError::KeepTokensWithoutVocab),
        (Some(ids), Some(vocab)) => {
            let unk = electra_core::tokenizer::Tokenizer::new(vocab, &tokenizer_index_of(vocab)?)
                .map_err(ExportError::Vocab)?
                .special()
                .unk;
            Some(KeptWordRows { ids, unk })
        }
    };
    let write_error = |error| ExportError::Write { dir: checkpoint.dir.clone(), error };
    // Bounded by the tensors: `HfCheckpoint::load` checked every dimension of the config against them.
    let len = model_file_len_keeping(&spec, keep).map_err(write_error)?;
    let mut out = try_filled(len, 0u8, "the model file")?;
    let source = |name: &str, shape: &[usize]| match (name, shape) {
        (POSITION_TABLE, &[rows, width]) if rows < full_positions => {
            Ok(&checkpoint.get(name, &[full_positions, width])?[..rows * width])
        }
        _ => checkpoint.get(name, shape),
    };
    write_model_file_keeping(&spec, keep, source, &mut out).map_err(write_error)?;
    Ok(out)
}

/// The position embedding table's HF name.
const POSITION_TABLE: &str = "electra.embeddings.position_embeddings.weight";

fn tokenizer_index_of(vocab: &[u8]) -> Result<Vec<u32>, ExportError> {
    let mut index = try_filled(electra_core::tokenizer::index_len(vocab), 0u32, "the tokenizer index")?;
    electra_core::tokenizer::build_index(vocab, &mut index).map_err(ExportError::Vocab)?;
    Ok(index)
}

/// What [`export`] wrote.
#[derive(Clone, Debug)]
pub struct ExportSummary {
    pub out: PathBuf,
    pub bytes: usize,
    pub head: HeadKind,
    pub vocab_embedded: bool,
    pub tokenizer_index_embedded: bool,
    /// The labels written into the file (classifiers only).
    pub labels: Option<TaskLabels>,
    /// With `--keep-tokens-from`: the word embedding rows kept, of `vocab_size`, and the tokens
    /// read from the texts.
    pub kept_rows: Option<KeptRows>,
    /// The int4 encoder linears, as the file records them.
    pub int4: Option<Int4Tensors>,
    /// The int4 word table's group size, as the file records it.
    pub word_int4_group: Option<usize>,
    /// How the file stores the int4 group scales.
    pub int4_scales: FloatType,
    /// How the file stores biases and LayerNorm parameters.
    pub biases_and_norms: FloatType,
}

/// How a word embedding table was pruned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeptRows {
    pub kept: usize,
    pub vocab_size: usize,
    pub text_tokens: usize,
}

/// Loads the HF checkpoint in `model_dir`, writes its model file to `out` (atomically: a
/// temporary file in the same directory, synced, then renamed), with `vocab` embedded if given and
/// its tokenizer index too if `tokenizer_index`, and a classifier's labels from its `config.json`.
pub fn export(
    model_dir: &Path,
    out: &Path,
    vocab: Option<&Path>,
    tokenizer_index: bool,
) -> Result<ExportSummary, ExportError> {
    export_keeping(model_dir, out, vocab, tokenizer_index, &KeepTokens::ALL)
}

/// [`export`] that keeps only the word embedding rows `keep` names (when its texts are not empty;
/// see [`kept_token_ids`]); needs `vocab`.
pub fn export_keeping(
    model_dir: &Path,
    out: &Path,
    vocab: Option<&Path>,
    tokenizer_index: bool,
    keep: &KeepTokens,
) -> Result<ExportSummary, ExportError> {
    export_with(model_dir, out, vocab, tokenizer_index, keep, Storage::INT8)
}

/// How [`export_with`] stores the weights: which encoder linears are int4, whether the word table
/// is int4, and how int4 group scales are stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Storage {
    /// The encoder linears to store as int4 (format version 4); bits past the model's layers are
    /// dropped.
    pub int4: Option<Int4Tensors>,
    /// The word embedding table int4 in groups of this many columns (format version 5).
    pub word_int4_group: Option<u32>,
    /// f32 or f16 (format version 6) group scales for every int4 tensor.
    pub int4_scales: FloatType,
    /// f32 or f16 (format version 7) biases and LayerNorm parameters.
    pub biases_and_norms: FloatType,
    /// Keep the first this many rows of the position table (see [`Extras::max_positions`]).
    pub max_positions: Option<usize>,
}

impl Storage {
    /// Everything int8 (int8 per-row scales are f32), every position kept.
    pub const INT8: Self = Self {
        int4: None,
        word_int4_group: None,
        int4_scales: FloatType::F32,
        biases_and_norms: FloatType::F32,
        max_positions: None,
    };
}

/// [`export_keeping`] with the weights stored as `storage` says (int4 encoder linears, format
/// version 4; an int4 word table, version 5; f16 group scales, version 6).
pub fn export_with(
    model_dir: &Path,
    out: &Path,
    vocab: Option<&Path>,
    tokenizer_index: bool,
    keep: &KeepTokens,
    storage: Storage,
) -> Result<ExportSummary, ExportError> {
    if !keep.from.is_empty() && vocab.is_none() {
        return Err(ExportError::KeepTokensWithoutVocab);
    }
    let checkpoint = HfCheckpoint::load(model_dir)?;
    let labels = task_labels(model_dir, checkpoint.head)?;
    // One export per output file at a time, and a read-only directory refused naming it, before the quantization
    // (after the checks of the input, whose errors say more than one about the output would).
    let _lock = OutputLock::file(out).map_err(CheckpointError::Lock)?.report();
    let vocab_bytes = match vocab {
        Some(path) => Some(std::fs::read(path).map_err(|source| ExportError::Io { path: path.to_path_buf(), source })?),
        None => None,
    };
    let kept = match (&vocab_bytes, keep.from.is_empty()) {
        (Some(vocab), false) => Some(kept_token_ids(vocab, keep)?),
        _ => None,
    };
    let extras = Extras {
        vocab: vocab_bytes.as_deref(),
        tokenizer_index,
        labels: labels.as_ref(),
        keep_ids: kept.as_ref().map(|(ids, _)| ids.as_slice()),
        int4: storage.int4,
        word_int4_group: storage.word_int4_group,
        int4_scales: storage.int4_scales,
        biases_and_norms: storage.biases_and_norms,
        max_positions: storage.max_positions,
    };
    let bytes = model_file_bytes(&checkpoint, extras)?;
    // The exact bytes must pass the device-side checks before they replace anything.
    let mut words = vec![0u32; bytes.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
    let read_back =
        Model::from_bytes(&bytemuck::cast_slice::<u32, u8>(&words)[..bytes.len()]).map_err(ExportError::ReadBack)?;
    let (int4_tensors, word_group, int4_scales) =
        (read_back.int4_tensors(), read_back.word_embeddings_int4_group(), read_back.int4_scales());
    write_bytes_atomically(out, &bytes)?;
    Ok(ExportSummary {
        out: out.to_path_buf(),
        bytes: bytes.len(),
        head: checkpoint.head,
        vocab_embedded: vocab.is_some(),
        tokenizer_index_embedded: vocab.is_some() && tokenizer_index,
        labels,
        int4: int4_tensors,
        word_int4_group: word_group,
        int4_scales,
        biases_and_norms: read_back.biases_and_norms_type(),
        kept_rows: kept.map(|(ids, text_tokens)| KeptRows {
            kept: ids.len(),
            vocab_size: checkpoint.config.vocab_size,
            text_tokens,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SST2: HeadKind = HeadKind::SequenceClassification { num_labels: 2 };

    fn labels(json: &str, head: HeadKind) -> Result<Option<TaskLabels>, String> {
        task_labels_from_json(Path::new("config.json"), json, head).map_err(|e| e.to_string())
    }

    #[test]
    fn id2label_in_id_order_whatever_the_key_order() {
        let json = r#"{"id2label": {"1": "positive", "0": "negative"}, "problem_type": "single_label_classification"}"#;
        let got = labels(json, SST2).expect("parses").expect("a classifier");
        assert_eq!(got.names, ["negative", "positive"]);
        assert_eq!(got.problem_type, ProblemType::SingleLabelClassification);
        // More than ten labels: "10" sorts before "2" as a string, not as an id.
        let map: Vec<String> = (0..12).map(|i| format!("\"{i}\": \"tag{i}\"")).collect();
        let json = format!("{{\"id2label\": {{{}}}}}", map.join(", "));
        let got =
            labels(&json, HeadKind::TokenClassification { num_labels: 12 }).expect("parses").expect("a classifier");
        assert_eq!(got.names[2], "tag2");
        assert_eq!(got.names[10], "tag10");
    }

    #[test]
    fn hf_defaults() {
        // No id2label: HF's LABEL_i. No problem_type: one output is regression.
        let got = labels("{}", SST2).expect("parses").expect("a classifier");
        assert_eq!(got.names, ["LABEL_0", "LABEL_1"]);
        assert!(!got.is_regression());
        let reg = HeadKind::SequenceClassification { num_labels: 1 };
        let got = labels(r#"{"id2label": {"0": "LABEL_0"}}"#, reg).expect("parses").expect("a classifier");
        assert_eq!((got.names.as_slice(), got.is_regression()), (&["LABEL_0".to_string()][..], true));
        let got = labels(r#"{"problem_type": "regression"}"#, SST2).expect("parses").expect("a classifier");
        assert!(got.is_regression());
        let got =
            labels(r#"{"problem_type": "multi_label_classification"}"#, SST2).expect("parses").expect("a classifier");
        assert_eq!(got.problem_type, ProblemType::MultiLabelClassification);
        // A token classifier is single-label whatever problem_type says; other heads have no labels.
        let tok = HeadKind::TokenClassification { num_labels: 1 };
        let got = labels(r#"{"problem_type": "regression"}"#, tok).expect("parses").expect("a classifier");
        assert_eq!(got.problem_type, ProblemType::SingleLabelClassification);
        assert_eq!(labels("{}", HeadKind::ReplacedTokenDetection), Ok(None));
    }

    #[test]
    fn bad_id2label_is_an_error_naming_the_file() {
        for (json, want) in [
            (r#"{"id2label": {"0": "a"}}"#, "id2label has 1 names for a head with 2 labels (no name for id 1)"),
            (r#"{"id2label": {"0": "a", "1": "b", "2": "c"}}"#, "id2label key `2` is not a class id 0..2"),
            (r#"{"id2label": {"0": "a", "01": "b"}}"#, "id2label key `01` is not a class id 0..2"),
            (r#"{"id2label": {"0": "a", "1": 7}}"#, "id2label[1] is not a string"),
            (r#"{"id2label": {"0": "a", "1": "b\nc"}}"#, "contains a newline"),
            (r#"{"id2label": ["a", "b"]}"#, "id2label is not an object"),
            (r#"{"problem_type": "ordinal"}"#, "problem_type \"ordinal\" is not one of HF's three"),
        ] {
            let err = labels(json, SST2).expect_err(json);
            assert!(err.starts_with("config.json: ") && err.contains(want), "{json}: {err}");
        }
    }
}
