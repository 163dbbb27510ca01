//! Host side of int8 model files: read one from disk into aligned memory and run it on all cores;
//! [`Int8Model`] is what `electra infer --model FILE` scores with.
//!
//! ```text
//! let file = ModelFile::read(path)?;
//! let model = file.model()?;                       // checks everything once; keep it
//! let mut arena = Arena::for_model(&model, seq_len, workers);
//! let pool = RayonParallel::new(workers);
//! let logits = model.run(&SequenceInput::ids(&ids), arena.bytes_mut(), &RunOptions::default().parallel(&pool))?;
//! ```

use crate::export::TaskLabels;
use crate::infer::{InferError, InputSeq, Logits, LogitsModel};
use electra_core::model_file::{Model, ModelFileError};
use electra_core::quant::{ArenaOptions, PackedWeights, Parallel, RunError, RunOptions, MAX_WORKERS};
use electra_core::{ElectraConfig, HeadKind, InputError, SequenceInput};
use rayon::prelude::*;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a model file could not be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum Int8Error {
    /// Reading the file failed.
    Io { path: PathBuf, source: std::io::Error },
    /// The file is not a valid model file.
    Invalid { path: PathBuf, error: Box<ModelFileError> },
    /// Packing the file's weights for the packed kernel failed.
    Pack { path: PathBuf, source: Box<RunError> },
    /// An arena or buffer could not be allocated (the allocator refused; nothing was aborted).
    Alloc { what: &'static str, bytes: usize },
}

impl fmt::Display for Int8Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Invalid { path, error } => write!(f, "{}: {error}", path.display()),
            Self::Pack { path, source } => write!(f, "{}: packing the weights: {source}", path.display()),
            Self::Alloc { what, bytes } => write!(f, "cannot allocate {bytes} bytes for {what}"),
        }
    }
}

impl std::error::Error for Int8Error {}

/// A model file's bytes in 8-byte aligned memory (so f32 tensors can be borrowed in place).
pub struct ModelFile {
    path: PathBuf,
    words: Vec<u64>,
    len: usize,
}

impl ModelFile {
    /// Reads `path` (no checks yet; see [`ModelFile::model`]).
    pub fn read(path: &Path) -> Result<Self, Int8Error> {
        let bytes = std::fs::read(path).map_err(|source| Int8Error::Io { path: path.to_path_buf(), source })?;
        Ok(Self::from_bytes(path, &bytes))
    }

    /// Copies `bytes` into aligned memory; `path` names it in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Self {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Self { path: path.to_path_buf(), words, len: bytes.len() }
    }

    /// Whether `path` starts with the model-file magic (how `electra infer` tells a model file from
    /// an HF checkpoint directory).
    pub fn looks_like_model_file(path: &Path) -> bool {
        use std::io::Read;
        let mut magic = [0u8; 8];
        path.is_file()
            && std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok()
            && magic == electra_core::model_file::MAGIC
    }

    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.words)[..self.len]
    }

    /// Checks the file and borrows it.
    pub fn model(&self) -> Result<Model<'_>, Int8Error> {
        Model::from_bytes(self.bytes())
            .map_err(|error| Int8Error::Invalid { path: self.path.clone(), error: Box::new(error) })
    }
}

/// An arena in 16-byte aligned memory.
pub struct Arena {
    words: Vec<u128>,
    len: usize,
}

impl Arena {
    /// Room for `seq_len` tokens in the fast plan for `workers` workers ([`ArenaOptions::fast`]).
    pub fn for_model(model: &Model, seq_len: usize, workers: usize) -> Self {
        Self::with_len(model.arena_bytes(seq_len, ArenaOptions::fast(workers)))
    }

    pub fn with_len(len: usize) -> Self {
        Self { words: vec![0u128; len.div_ceil(16)], len }
    }

    /// [`Arena::with_len`] for a length computed from input: one the allocator refuses (or `usize::MAX`, what
    /// the arena functions return on overflow) is [`Int8Error::Alloc`], not an abort.
    pub fn try_with_len(len: usize) -> Result<Self, Int8Error> {
        let words_len = len.div_ceil(16);
        let mut words = Vec::new();
        words.try_reserve_exact(words_len).map_err(|_| Int8Error::Alloc { what: "the arena", bytes: len })?;
        words.resize(words_len, 0u128);
        Ok(Self { words, len })
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<u128, u8>(&mut self.words)[..self.len]
    }
}

/// A model's encoder weights packed once for the packed kernel ([`Model::pack_weights`]; empty
/// where the CPU has none), reused by every run of that model. About the size of the encoder's
/// int8 weights.
pub struct PackedBuffer {
    bytes: Vec<u8>,
}

impl PackedBuffer {
    /// Packs `model`'s weights.
    pub fn for_model(model: &Model) -> Result<Self, RunError> {
        let mut bytes = vec![0u8; model.packed_weights_bytes()];
        model.pack_weights(&mut bytes)?;
        Ok(Self { bytes })
    }

    /// The packed weights of `model` (the one they were packed from), `None` where nothing was packed.
    pub fn view<'p>(&'p self, model: &Model) -> Result<Option<PackedWeights<'p>>, RunError> {
        model.packed_weights(&self.bytes)
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Runs the encoder's per-phase tasks on rayon's current thread pool.
#[derive(Clone, Copy, Debug)]
pub struct RayonParallel {
    workers: usize,
}

impl RayonParallel {
    /// `workers` tasks per phase (at most [`MAX_WORKERS`]); usually the pool's thread count.
    pub fn new(workers: usize) -> Self {
        Self { workers: workers.clamp(1, MAX_WORKERS) }
    }

    /// One worker per thread of the current rayon pool.
    pub fn current_pool() -> Self {
        Self::new(rayon::current_num_threads())
    }
}

impl Parallel for RayonParallel {
    fn workers(&self) -> usize {
        self.workers
    }

    fn for_each<I: Send>(&self, items: &mut [I], task: &(dyn Fn(&mut I) + Sync)) {
        items.par_iter_mut().for_each(task)
    }
}

/// An int8 model file loaded for batched host inference: sequences of a batch run in parallel, one
/// per core, each on the single-threaded encoder with its own arena.
pub struct Int8Model {
    file: ModelFile,
    config: ElectraConfig,
    head: HeadKind,
    /// The encoder weights pre-packed at load (`None`: every run packs them, as the firmware does).
    packed: Option<PackedBuffer>,
    /// A classifier's labels: the file's labels section, or HF's defaults for a file without one.
    labels: Option<TaskLabels>,
}

impl Int8Model {
    /// Reads and checks the model file at `path`.
    pub fn load(path: &Path) -> Result<Self, Int8Error> {
        Self::load_with(path, true)
    }

    /// [`Int8Model::load`], with the encoder weights packed once at load (`prepack`: the default,
    /// faster for short sequences) or packed by every run. Same logits either way.
    pub fn load_with(path: &Path, prepack: bool) -> Result<Self, Int8Error> {
        let file = ModelFile::read(path)?;
        let model = file.model()?;
        let (config, head) = (*model.config(), model.head());
        let labels = match model.labels() {
            Some(labels) => Some(TaskLabels {
                names: labels.iter().map(String::from).collect(),
                problem_type: labels.problem_type(),
            }),
            None => TaskLabels::hf_default(head),
        };
        let packed = match prepack {
            true => Some(
                PackedBuffer::for_model(&model)
                    .map_err(|source| Int8Error::Pack { path: path.to_path_buf(), source: Box::new(source) })?,
            ),
            false => None,
        };
        Ok(Self { file, config, head, packed, labels })
    }

    /// Bytes held by the pre-packed weights (0 if none).
    pub fn packed_bytes(&self) -> usize {
        self.packed.as_ref().map_or(0, PackedBuffer::len)
    }

    /// The file's embedded `vocab.txt`, if any.
    pub fn vocab(&self) -> Option<&[u8]> {
        self.model().ok().and_then(|m| m.vocab())
    }

    /// The checked file, borrowed again (its CRC was verified in [`Int8Model::load`]).
    fn model(&self) -> Result<Model<'_>, ModelFileError> {
        Model::from_bytes_skip_checksum(self.file.bytes())
    }
}

impl LogitsModel for Int8Model {
    fn config(&self) -> &ElectraConfig {
        &self.config
    }

    fn embedded_vocab(&self) -> Option<&[u8]> {
        self.vocab()
    }

    fn labels(&self) -> Option<&TaskLabels> {
        self.labels.as_ref()
    }

    fn head(&self) -> HeadKind {
        self.head
    }

    fn logits(&self, seqs: &[InputSeq]) -> Result<Vec<Logits>, InferError> {
        let invalid =
            |error| InferError::Int8File(Int8Error::Invalid { path: self.file.path.clone(), error: Box::new(error) });
        let model = self.model().map_err(invalid)?;
        let packed = match &self.packed {
            Some(buffer) => buffer.view(&model).map_err(|source| InferError::Int8Sequence { index: 0, source })?,
            None => None,
        };
        seqs.par_iter()
            .enumerate()
            .map(|(index, seq)| {
                let t = seq.input_ids.len();
                // The arena grows with the square of the length: check the length against the positions first
                // (the encoder checks it too, but only once it has an arena), so that 20 million ids are a
                // `SequenceTooLong`, not an allocation of petabytes.
                let max_positions = self.config.max_position_embeddings;
                if t == 0 {
                    return Err(InferError::Int8Sequence { index, source: RunError::Input(InputError::EmptySequence) });
                }
                if t > max_positions {
                    let source = RunError::Input(InputError::SequenceTooLong { len: t, max_positions });
                    return Err(InferError::Int8Sequence { index, source });
                }
                let mut arena =
                    Arena::try_with_len(model.arena_bytes(t, ArenaOptions::fast(1))).map_err(InferError::Int8File)?;
                let input = SequenceInput {
                    input_ids: &seq.input_ids,
                    token_type_ids: seq.token_type_ids.as_deref(),
                    attention_mask: seq.attention_mask.as_deref(),
                };
                let logits = model
                    .run(&input, arena.bytes_mut(), &RunOptions::default().packed(packed.as_ref()))
                    .map_err(|source| InferError::Int8Sequence { index, source })?;
                let values = logits.values.to_vec();
                Ok(match self.head {
                    HeadKind::ReplacedTokenDetection => Logits::ReplacedToken(values),
                    HeadKind::MaskedLm => Logits::MaskedLm { vocab_size: self.config.vocab_size, values },
                    HeadKind::SequenceClassification { .. } => Logits::SequenceClass(values),
                    HeadKind::TokenClassification { num_labels } => Logits::TokenClass { num_labels, values },
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arena_the_allocator_refuses_is_an_error_not_an_abort() {
        // `usize::MAX` is what the arena functions return when the size overflows.
        let err = Arena::try_with_len(usize::MAX).err().map(|e| e.to_string());
        assert_eq!(err, Some(format!("cannot allocate {} bytes for the arena", usize::MAX)));
        let mut arena = Arena::try_with_len(33).ok();
        assert_eq!(arena.as_mut().map(|a| a.bytes_mut().len()), Some(33));
    }
}
