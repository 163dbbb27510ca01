//! `config.json` as HF writes it for ELECTRA, mapped onto [`ElectraConfig`] + [`HeadKind`].

use super::CheckpointError;
use electra_core::{ElectraConfig, HeadKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The fields of HF's `ElectraConfig` JSON that matter here; unknown fields are ignored on read.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HfConfigJson {
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default = "model_type_electra")]
    pub model_type: String,
    pub vocab_size: usize,
    pub embedding_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    #[serde(default = "ln_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    #[serde(default = "gelu")]
    pub hidden_act: String,
    #[serde(default)]
    pub id2label: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub num_labels: Option<usize>,
    #[serde(default)]
    pub initializer_range: Option<f64>,
}

fn model_type_electra() -> String {
    "electra".into()
}
fn two() -> usize {
    2
}
fn ln_eps() -> f64 {
    1e-12
}
fn gelu() -> String {
    "gelu".into()
}

/// Parses a `config.json` into the model config and head kind.
///
/// The head comes from `architectures`; a config without one is read as a replaced-token detection
/// discriminator (ELECTRA's default export).
pub fn config_from_hf_json(path: &Path, text: &str) -> Result<(ElectraConfig, HeadKind), CheckpointError> {
    let bad = |message: String| CheckpointError::Config { path: path.to_path_buf(), message };
    let json: HfConfigJson = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if json.model_type != "electra" {
        return Err(bad(format!("model_type is `{}`, expected `electra`", json.model_type)));
    }
    if json.hidden_act != "gelu" {
        return Err(bad(format!("hidden_act `{}` is not supported (only the exact erf `gelu`)", json.hidden_act)));
    }
    let config = ElectraConfig {
        vocab_size: json.vocab_size,
        embedding_size: json.embedding_size,
        hidden_size: json.hidden_size,
        num_hidden_layers: json.num_hidden_layers,
        num_attention_heads: json.num_attention_heads,
        intermediate_size: json.intermediate_size,
        max_position_embeddings: json.max_position_embeddings,
        type_vocab_size: json.type_vocab_size,
        layer_norm_eps: json.layer_norm_eps as f32,
        pad_token_id: json.pad_token_id.unwrap_or(0),
    };
    config.validate().map_err(|e| bad(e.to_string()))?;
    let num_labels = json.num_labels.or_else(|| json.id2label.as_ref().map(|m| m.len())).unwrap_or(2);
    let head = match json.architectures.first().map(String::as_str) {
        None | Some("ElectraForPreTraining") | Some("ElectraModel") => HeadKind::ReplacedTokenDetection,
        Some("ElectraForMaskedLM") => HeadKind::MaskedLm,
        Some("ElectraForSequenceClassification") => HeadKind::SequenceClassification { num_labels },
        Some("ElectraForTokenClassification") => HeadKind::TokenClassification { num_labels },
        Some(other) => return Err(bad(format!("architecture `{other}` is not supported"))),
    };
    Ok((config, head))
}
