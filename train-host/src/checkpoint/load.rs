//! Reading HF checkpoints into float32 tensors keyed by their HF names.

use super::{config_from_hf_json, CheckpointError};
use electra_core::float::ParamLayout;
use electra_core::{ElectraConfig, HeadKind};
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One float32 tensor, row-major, as HF stores it (`Linear.weight` is `[out, in]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// An HF checkpoint directory read into memory.
#[derive(Clone, Debug)]
pub struct HfCheckpoint {
    pub dir: PathBuf,
    pub config: ElectraConfig,
    pub head: HeadKind,
    /// Every tensor of the file(s), converted to float32, under its HF name.
    pub tensors: BTreeMap<String, Tensor>,
}

const CONFIG_FILE: &str = "config.json";
const SINGLE_FILE: &str = "model.safetensors";
const SHARD_INDEX: &str = "model.safetensors.index.json";
/// The prefix of the encoder's tensors in every head class (`ElectraModel` saves them without it).
const ENCODER_PREFIX: &str = "electra.";

impl HfCheckpoint {
    /// Loads `dir/config.json` and either `dir/model.safetensors` or the shards that
    /// `dir/model.safetensors.index.json` lists.
    pub fn load(dir: &Path) -> Result<Self, CheckpointError> {
        let config_path = dir.join(CONFIG_FILE);
        let text = read_to_string(&config_path)?;
        Self::assemble(dir, &text, |tensors| {
            let index_path = dir.join(SHARD_INDEX);
            if index_path.exists() {
                for shard in shard_files(&index_path)? {
                    read_safetensors(&dir.join(shard), tensors)?;
                }
                Ok(())
            } else {
                read_safetensors(&dir.join(SINGLE_FILE), tensors)
            }
        })
    }

    /// Only `dir/config.json`: the model's config and head, without reading any tensor (to size a run before
    /// loading its weights).
    pub fn read_config(dir: &Path) -> Result<(ElectraConfig, HeadKind), CheckpointError> {
        let config_path = dir.join(CONFIG_FILE);
        config_from_hf_json(&config_path, &read_to_string(&config_path)?)
    }

    /// [`HfCheckpoint::load`] on a single-file checkpoint already in memory: `config_json` and `safetensors` are
    /// the contents of `dir/config.json` and `dir/model.safetensors`, and errors name those paths. The parsing and
    /// checks are the ones `load` runs (it calls the same code once it has read the files), so that a fuzzer can
    /// feed checkpoints without writing files per input.
    pub fn from_bytes(dir: &Path, config_json: &[u8], safetensors: &[u8]) -> Result<Self, CheckpointError> {
        let config_path = dir.join(CONFIG_FILE);
        // The error `read_to_string` gives for a file that is not UTF-8.
        let text = std::str::from_utf8(config_json).map_err(|e| CheckpointError::Io {
            path: config_path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        Self::assemble(dir, text, |tensors| parse_safetensors(&dir.join(SINGLE_FILE), safetensors, tensors))
    }

    /// Parses `config_text` (the contents of `dir/config.json`) first, so that a bad config is reported before any
    /// tensor is read, then fills the tensors with `read_tensors` and checks them against the config.
    fn assemble(
        dir: &Path,
        config_text: &str,
        read_tensors: impl FnOnce(&mut BTreeMap<String, Tensor>) -> Result<(), CheckpointError>,
    ) -> Result<Self, CheckpointError> {
        let config_path = dir.join(CONFIG_FILE);
        let (config, head) = config_from_hf_json(&config_path, config_text)?;
        let mut tensors = BTreeMap::new();
        read_tensors(&mut tensors)?;
        let checkpoint = Self { dir: dir.to_path_buf(), config, head, tensors };
        checkpoint.check_config_against_tensors(&config_path)?;
        Ok(checkpoint)
    }

    /// Checks that the tensors back every dimension of `config.json`, so that no buffer sized from the config can
    /// be larger than the data it describes (a config claiming 10¹² words beside a 1,000-row embedding table would
    /// otherwise size terabytes before any tensor is looked at). Every tensor the config and head name must have
    /// the shape the config gives it where present; the encoder's tensors (which carry every dimension of the
    /// config) must be present, under their HF name or, as `ElectraModel` saves them, without the `electra.`
    /// prefix; a classifier's head must be present too (it alone carries `num_labels`). Other heads' tensors may
    /// be missing (fine-tuning replaces them), and nothing here allocates.
    fn check_config_against_tensors(&self, config_path: &Path) -> Result<(), CheckpointError> {
        let layout = ParamLayout::new(&self.config, self.head)
            .map_err(|e| CheckpointError::Config { path: config_path.to_path_buf(), message: e.to_string() })?;
        let head_required =
            matches!(self.head, HeadKind::SequenceClassification { .. } | HeadKind::TokenClassification { .. });
        layout.for_each_tensor(|t| {
            let encoder = t.name.strip_prefix(ENCODER_PREFIX);
            let found = self.tensors.get(t.name).or_else(|| encoder.and_then(|bare| self.tensors.get(bare)));
            match found {
                Some(tensor) if tensor.shape != t.shape => Err(CheckpointError::ShapeMismatch {
                    tensor: t.name.to_string(),
                    expected: t.shape.to_vec(),
                    found: tensor.shape.clone(),
                }),
                Some(_) => Ok(()),
                None if encoder.is_some() || head_required => {
                    Err(CheckpointError::MissingTensor { tensor: t.name.to_string(), dir: self.dir.clone() })
                }
                None => Ok(()),
            }
        })
    }

    /// [`HfCheckpoint::get`]'s checks for every tensor `layout` lists, without copying any: run before a buffer of
    /// `layout.len()` floats is allocated, so that a missing or misshaped tensor is reported instead.
    pub fn check_layout(&self, layout: &ParamLayout) -> Result<(), CheckpointError> {
        layout.for_each_tensor(|t| self.get(t.name, t.shape).map(|_| ()))
    }

    /// The tensor `name`, checked to have `expected` shape.
    pub fn get(&self, name: &str, expected: &[usize]) -> Result<&[f32], CheckpointError> {
        let tensor = self
            .tensors
            .get(name)
            .ok_or_else(|| CheckpointError::MissingTensor { tensor: name.to_string(), dir: self.dir.clone() })?;
        if tensor.shape != expected {
            return Err(CheckpointError::ShapeMismatch {
                tensor: name.to_string(),
                expected: expected.to_vec(),
                found: tensor.shape.clone(),
            });
        }
        if tensor.data.iter().any(|v| !v.is_finite()) {
            return Err(CheckpointError::NonFinite { tensor: name.to_string() });
        }
        Ok(&tensor.data)
    }
}

fn read_to_string(path: &Path) -> Result<String, CheckpointError> {
    std::fs::read_to_string(path).map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })
}

/// The distinct shard file names of a `model.safetensors.index.json`, in sorted order.
fn shard_files(index_path: &Path) -> Result<Vec<String>, CheckpointError> {
    let text = read_to_string(index_path)?;
    let bad = |message: String| CheckpointError::Config { path: index_path.to_path_buf(), message };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let map = json.get("weight_map").and_then(|m| m.as_object()).ok_or_else(|| bad("no `weight_map` object".into()))?;
    let mut files: Vec<String> = Vec::new();
    for (tensor, file) in map {
        let file = file.as_str().ok_or_else(|| bad(format!("weight_map entry `{tensor}` is not a file name")))?;
        if file.contains('/') || file.contains("..") {
            return Err(bad(format!("shard name `{file}` leaves the checkpoint directory")));
        }
        files.push(file.to_string());
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn read_safetensors(path: &Path, into: &mut BTreeMap<String, Tensor>) -> Result<(), CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })?;
    parse_safetensors(path, &bytes, into)
}

/// The tensors of a `.safetensors` file's contents `bytes` (read from `path`, which errors name), as float32.
fn parse_safetensors(path: &Path, bytes: &[u8], into: &mut BTreeMap<String, Tensor>) -> Result<(), CheckpointError> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| CheckpointError::Safetensors { path: path.to_path_buf(), message: e.to_string() })?;
    for (name, view) in file.tensors() {
        let raw = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F16 => raw.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::BF16 => raw.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            other => {
                return Err(CheckpointError::UnsupportedDtype {
                    path: path.to_path_buf(),
                    tensor: name,
                    dtype: format!("{other:?}"),
                })
            }
        };
        into.insert(name, Tensor { shape: view.shape().to_vec(), data });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/hf-electra-tiny").join(name)
    }

    #[test]
    fn loads_every_fixture_with_its_head() -> Result<(), CheckpointError> {
        let disc = HfCheckpoint::load(&fixture("disc"))?;
        assert_eq!(disc.head, HeadKind::ReplacedTokenDetection);
        assert_eq!(disc.config.hidden_size, 64);
        disc.get("electra.embeddings.word_embeddings.weight", &[1000, 32])?;
        assert_eq!(HfCheckpoint::load(&fixture("gen"))?.head, HeadKind::MaskedLm);
        assert_eq!(HfCheckpoint::load(&fixture("cls"))?.head, HeadKind::SequenceClassification { num_labels: 3 });
        assert_eq!(HfCheckpoint::load(&fixture("tok"))?.head, HeadKind::TokenClassification { num_labels: 5 });
        Ok(())
    }

    #[test]
    fn misshaped_tensor_names_itself_and_both_shapes() -> Result<(), CheckpointError> {
        let disc = HfCheckpoint::load(&fixture("disc"))?;
        let err = disc.get("electra.embeddings_project.weight", &[64, 64]).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("tensor `electra.embeddings_project.weight` has shape [64, 32], the config needs [64, 64]")
        );
        Ok(())
    }

    /// `from_bytes` is what `load` runs on the files: the same checkpoint, and errors that name the files.
    #[test]
    fn from_bytes_matches_load_and_names_the_files() -> Result<(), Box<dyn std::error::Error>> {
        let dir = fixture("cls");
        let config = std::fs::read(dir.join(CONFIG_FILE))?;
        let tensors = std::fs::read(dir.join(SINGLE_FILE))?;
        let loaded = HfCheckpoint::load(&dir)?;
        let parsed = HfCheckpoint::from_bytes(&dir, &config, &tensors)?;
        assert_eq!((parsed.config, parsed.head), (loaded.config, loaded.head));
        assert_eq!(parsed.tensors, loaded.tensors);

        let bad_utf8 = HfCheckpoint::from_bytes(&dir, b"{\xff}", &tensors).err().map(|e| e.to_string());
        assert!(bad_utf8.as_ref().is_some_and(|e| e.contains("config.json")), "{bad_utf8:?}");
        let truncated = HfCheckpoint::from_bytes(&dir, &config, &tensors[..100]).err().map(|e| e.to_string());
        assert!(truncated.as_ref().is_some_and(|e| e.contains("model.safetensors")), "{truncated:?}");
        Ok(())
    }
}
