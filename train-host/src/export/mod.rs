//! `electra export`: any HF ELECTRA checkpoint (discriminator, generator, sequence or token
//! classifier) → one int8 model file for [`electra_core::model_file::Model`].
//!
//! The format and the quantization live in the core (`electra_core::model_file::write_model_file`,
//! shared with the device side); this module reads the checkpoint, checks what the format cannot
//! express, and writes the file atomically.

use crate::checkpoint::{CheckpointError, HfCheckpoint};
use electra_core::model_file::{model_file_len, write_model_file, Model, ModelFileSpec, WriteError};
use electra_core::HeadKind;
use std::fmt;
use std::io::Write;
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
    /// Also the prebuilt tokenizer index (about 20 bytes per token: 0.6 MB for BERT's vocab), so the
    /// device needs neither RAM nor build-time tooling for it.
    pub tokenizer_index: bool,
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
            let mut index = vec![0u32; electra_core::tokenizer::index_len(vocab)];
            electra_core::tokenizer::build_index(vocab, &mut index).map_err(ExportError::Vocab)?;
            electra_core::tokenizer::Tokenizer::new(vocab, &index).map_err(ExportError::Vocab)?;
            extras.tokenizer_index.then_some(index)
        }
        None => None,
    };
    let spec =
        ModelFileSpec { config: checkpoint.config, head: checkpoint.head, vocab, tokenizer_index: index.as_deref() };
    let write_error = |error| ExportError::Write { dir: checkpoint.dir.clone(), error };
    let len = model_file_len(&spec).map_err(write_error)?;
    let mut out = vec![0u8; len];
    write_model_file(&spec, |name, shape| checkpoint.get(name, shape), &mut out).map_err(write_error)?;
    Ok(out)
}

/// What [`export`] wrote.
#[derive(Clone, Debug)]
pub struct ExportSummary {
    pub out: PathBuf,
    pub bytes: usize,
    pub head: HeadKind,
    pub vocab_embedded: bool,
    pub tokenizer_index_embedded: bool,
}

/// Loads the HF checkpoint in `model_dir`, writes its model file to `out` (atomically: a
/// temporary file in the same directory, synced, then renamed), with `vocab` embedded if given and
/// its tokenizer index too if `tokenizer_index`.
pub fn export(
    model_dir: &Path,
    out: &Path,
    vocab: Option<&Path>,
    tokenizer_index: bool,
) -> Result<ExportSummary, ExportError> {
    let checkpoint = HfCheckpoint::load(model_dir)?;
    let vocab_bytes = match vocab {
        Some(path) => Some(std::fs::read(path).map_err(|source| ExportError::Io { path: path.to_path_buf(), source })?),
        None => None,
    };
    let bytes = model_file_bytes(&checkpoint, Extras { vocab: vocab_bytes.as_deref(), tokenizer_index })?;
    // The exact bytes must pass the device-side checks before they replace anything.
    let mut words = vec![0u32; bytes.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
    Model::from_bytes(&bytemuck::cast_slice::<u32, u8>(&words)[..bytes.len()]).map_err(ExportError::ReadBack)?;
    write_atomically(out, &bytes)?;
    Ok(ExportSummary {
        out: out.to_path_buf(),
        bytes: bytes.len(),
        head: checkpoint.head,
        vocab_embedded: vocab.is_some(),
        tokenizer_index_embedded: vocab.is_some() && tokenizer_index,
    })
}

/// Writes `bytes` to `path` via a temporary file in the same directory, synced and renamed, so a
/// crash leaves either the old file or the new one, never half of one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    fn io(p: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
        move |source| ExportError::Io { path: p.to_path_buf(), source }
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(bytes).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
