//! Writing HF checkpoint directories that `transformers` loads with `from_pretrained`.
//!
//! A directory holds `config.json` (HF `ElectraConfig` fields, `architectures` naming the head class),
//! `model.safetensors` (float32, HF names verbatim, `{"format": "pt"}` metadata as `save_pretrained` writes) and
//! `vocab.txt`. Tied weights (the generator's `generator_lm_head.weight`) are left out, as HF does.

use super::atomic::{write_dir_atomically, write_file_synced};
use super::CheckpointError;
use electra_core::{ElectraConfig, HeadKind};
use safetensors::{Dtype, View};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

/// One tensor to save: HF name, shape, row-major float32 data.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// `initializer_range` written to `config.json`: ELECTRA's (and HF's) 0.02. Only used by HF to initialise
/// weights the file lacks, such as a fresh classification head for fine-tuning.
const INITIALIZER_RANGE: f64 = 0.02;
/// HF's default dropout, written so that fine-tuning from the checkpoint in `transformers` behaves as ELECTRA's.
/// It does not change inference (`model.eval()` turns dropout off).
const DEFAULT_DROPOUT: f64 = 0.1;

/// The `config.json` that HF `ElectraConfig.from_pretrained` reads back into `config` and `head`.
pub fn hf_config_json(config: &ElectraConfig, head: HeadKind) -> serde_json::Value {
    let mut json = serde_json::json!({
        "architectures": [head.hf_architecture()],
        "model_type": "electra",
        "vocab_size": config.vocab_size,
        "embedding_size": config.embedding_size,
        "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_hidden_layers,
        "num_attention_heads": config.num_attention_heads,
        "intermediate_size": config.intermediate_size,
        "hidden_act": "gelu",
        "hidden_dropout_prob": DEFAULT_DROPOUT,
        "attention_probs_dropout_prob": DEFAULT_DROPOUT,
        "max_position_embeddings": config.max_position_embeddings,
        "type_vocab_size": config.type_vocab_size,
        "initializer_range": INITIALIZER_RANGE,
        // f32 → f64 through the decimal string keeps 1e-12 as 1e-12 rather than 9.9999999600419720025e-13.
        "layer_norm_eps": config.layer_norm_eps.to_string().parse::<f64>().unwrap_or(config.layer_norm_eps as f64),
        "pad_token_id": config.pad_token_id,
        "position_embedding_type": "absolute",
        "summary_type": "first",
        "summary_use_proj": true,
        "summary_activation": "gelu",
        "summary_last_dropout": DEFAULT_DROPOUT,
        "classifier_dropout": null,
        "tie_word_embeddings": true,
        "use_cache": true,
        "dtype": "float32",
    });
    let num_labels = match head {
        HeadKind::SequenceClassification { num_labels } | HeadKind::TokenClassification { num_labels } => {
            Some(num_labels)
        }
        HeadKind::ReplacedTokenDetection | HeadKind::MaskedLm => None,
    };
    if let (Some(n), Some(map)) = (num_labels, json.as_object_mut()) {
        let id2label: serde_json::Map<String, serde_json::Value> =
            (0..n).map(|i| (i.to_string(), format!("LABEL_{i}").into())).collect();
        let label2id: serde_json::Map<String, serde_json::Value> =
            (0..n).map(|i| (format!("LABEL_{i}"), i.into())).collect();
        map.insert("id2label".into(), id2label.into());
        map.insert("label2id".into(), label2id.into());
    }
    json
}

/// A float32 tensor borrowed for `safetensors::serialize`.
struct F32View<'a> {
    shape: &'a [usize],
    data: &'a [f32],
}

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.data.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
    fn data_len(&self) -> usize {
        self.data.len() * 4
    }
}

/// Serializes tensors into safetensors bytes with HF's `{"format": "pt"}` metadata (transformers refuses a file
/// without it). Checks that every tensor's data fills its shape and that names are unique.
pub fn safetensors_bytes(path: &Path, tensors: &[NamedTensor]) -> Result<Vec<u8>, CheckpointError> {
    let mut seen = std::collections::BTreeSet::new();
    for (name, shape, data) in tensors {
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(CheckpointError::ShapeMismatch {
                tensor: name.clone(),
                expected: shape.clone(),
                found: vec![data.len()],
            });
        }
        if !seen.insert(name.as_str()) {
            return Err(CheckpointError::Safetensors {
                path: path.to_path_buf(),
                message: format!("tensor `{name}` given twice"),
            });
        }
    }
    let views = tensors.iter().map(|(name, shape, data)| (name.as_str(), F32View { shape, data }));
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize(views, Some(metadata))
        .map_err(|e| CheckpointError::Safetensors { path: path.to_path_buf(), message: e.to_string() })
}

/// Writes `config.json`, `model.safetensors` and `vocab.txt` into `dir`, an existing empty directory, each file
/// flushed to disk. Use [`save_hf_checkpoint`] unless `dir` is itself inside a directory being written atomically.
pub fn write_hf_checkpoint_files(
    dir: &Path,
    config: &ElectraConfig,
    head: HeadKind,
    tensors: &[NamedTensor],
    vocab_txt: &[u8],
) -> Result<(), CheckpointError> {
    write_hf_files(dir, config, &hf_config_json(config, head), tensors, vocab_txt)
}

/// [`write_hf_checkpoint_files`] with a `config.json` the caller made (from [`hf_config_json`], with task fields
/// such as `id2label` filled in).
pub fn write_hf_files(
    dir: &Path,
    config: &ElectraConfig,
    config_json: &serde_json::Value,
    tensors: &[NamedTensor],
    vocab_txt: &[u8],
) -> Result<(), CheckpointError> {
    let config_path = dir.join("config.json");
    config.validate().map_err(|e| CheckpointError::Config { path: config_path.clone(), message: e.to_string() })?;
    if let Some((name, _, _)) = tensors.iter().find(|(_, _, data)| data.iter().any(|v| !v.is_finite())) {
        return Err(CheckpointError::NonFinite { tensor: name.clone() });
    }
    let model_path = dir.join("model.safetensors");
    let bytes = safetensors_bytes(&model_path, tensors)?;
    write_file_synced(&model_path, &bytes)?;
    let mut config_text = serde_json::to_string_pretty(config_json)
        .map_err(|e| CheckpointError::Config { path: config_path.clone(), message: e.to_string() })?;
    config_text.push('\n');
    write_file_synced(&config_path, config_text.as_bytes())?;
    write_file_synced(&dir.join("vocab.txt"), vocab_txt)
}

/// Saves an HF checkpoint directory atomically: `dir` afterwards holds exactly the new checkpoint, and a crash
/// at any moment leaves either the previous one or the new one (see [`super::atomic`]).
pub fn save_hf_checkpoint(
    dir: &Path,
    config: &ElectraConfig,
    head: HeadKind,
    tensors: &[NamedTensor],
    vocab_txt: &[u8],
) -> Result<(), CheckpointError> {
    write_dir_atomically(dir, |tmp: &Path| write_hf_checkpoint_files(tmp, config, head, tensors, vocab_txt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::HfCheckpoint;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/hf-electra-tiny").join(name)
    }

    fn tensors_of(ckpt: &HfCheckpoint) -> Vec<NamedTensor> {
        ckpt.tensors.iter().map(|(n, t)| (n.clone(), t.shape.clone(), t.data.clone())).collect()
    }

    #[test]
    fn every_fixture_round_trips_bit_for_bit() -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        for name in ["disc", "gen", "cls", "tok"] {
            let original = HfCheckpoint::load(&fixture(name))?;
            let out = root.path().join(name);
            save_hf_checkpoint(&out, &original.config, original.head, &tensors_of(&original), b"[PAD]\n")?;
            let reread = HfCheckpoint::load(&out)?;
            assert_eq!(reread.config, original.config, "{name}");
            assert_eq!(reread.head, original.head, "{name}");
            assert_eq!(reread.tensors, original.tensors, "{name}");
            assert_eq!(std::fs::read(out.join("vocab.txt"))?, b"[PAD]\n");
            let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("config.json"))?)?;
            assert_eq!(json["layer_norm_eps"], serde_json::json!(1e-12));
        }
        Ok(())
    }

    /// Saves a checkpoint of the one tensor `w` into a fresh directory: what saving said, and whether the
    /// directory exists afterwards.
    fn save_one_tensor(shape: Vec<usize>, data: Vec<f32>) -> (Result<(), CheckpointError>, bool) {
        let root = tempfile::tempdir().ok();
        let dir = root.as_ref().map(|r| r.path().join("out")).unwrap_or_default();
        let tensors = [("w".into(), shape, data)];
        let result = save_hf_checkpoint(&dir, &ElectraConfig::tiny(), HeadKind::ReplacedTokenDetection, &tensors, b"");
        (result, dir.exists())
    }

    #[test]
    fn refuses_data_that_does_not_fill_its_shape() {
        let (err, written) = save_one_tensor(vec![2, 3], vec![0.0; 5]);
        assert!(matches!(err, Err(CheckpointError::ShapeMismatch { .. })), "{err:?}");
        assert!(!written);
    }

    #[test]
    fn refuses_non_finite_weights() {
        let (err, written) = save_one_tensor(vec![2], vec![0.0, f32::NAN]);
        assert!(matches!(err, Err(CheckpointError::NonFinite { .. })), "{err:?}");
        assert!(!written);
    }
}
