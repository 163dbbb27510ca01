//! `--model-size small|tiny|CONFIG.json` → the generator and discriminator configs.

use super::PretrainError;
use electra_core::ElectraConfig;
use std::path::Path;

/// ELECTRA's `generator_hidden_size` for Small and Base: the generator is a quarter as wide as the discriminator.
pub const GENERATOR_WIDTH_FRACTION: f64 = 0.25;

/// Generator and discriminator configs of one pre-training run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelPair {
    pub generator: ElectraConfig,
    pub discriminator: ElectraConfig,
}

/// ELECTRA's generator for a discriminator config (`pretrain/pretrain_helpers.get_generator_config` with
/// `generator_hidden_size = 0.25`): hidden `H/4`, one head per 64 hidden units (at least one), FFN `4 × hidden`,
/// same depth, embeddings and vocab. Gives [`ElectraConfig::small_generator`] for `small` and
/// [`ElectraConfig::tiny_generator`] for `tiny`.
pub fn generator_for(disc: &ElectraConfig) -> ElectraConfig {
    let hidden = ((disc.hidden_size as f64 * GENERATOR_WIDTH_FRACTION).round() as usize).max(1);
    ElectraConfig {
        hidden_size: hidden,
        num_attention_heads: (hidden / 64).max(1),
        intermediate_size: 4 * hidden,
        ..*disc
    }
}

impl ModelPair {
    /// `small`, `tiny`, or a JSON file: either `{"generator": {...}, "discriminator": {...}}` (HF config fields)
    /// or one HF discriminator `config.json`, whose generator is then [`generator_for`] it.
    pub fn from_arg(arg: &str) -> Result<Self, PretrainError> {
        match arg {
            "small" => Ok(Self { generator: ElectraConfig::small_generator(), discriminator: ElectraConfig::small() }),
            "tiny" => Ok(Self { generator: ElectraConfig::tiny_generator(), discriminator: ElectraConfig::tiny() }),
            path => Self::from_json_file(Path::new(path)),
        }
    }

    fn from_json_file(path: &Path) -> Result<Self, PretrainError> {
        let bad = |message: String| PretrainError::BadFile { path: path.to_path_buf(), message };
        let text = std::fs::read_to_string(path).map_err(|source| PretrainError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                source.kind(),
                format!("{source} (--model-size is `small`, `tiny` or a JSON config file)"),
            ),
        })?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let parse = |value: &serde_json::Value, what: &str| -> Result<ElectraConfig, PretrainError> {
            let (config, _head) = crate::checkpoint::config_from_hf_json(path, &value.to_string())
                .map_err(|e| bad(format!("{what}: {e}")))?;
            Ok(config)
        };
        let pair = match (json.get("generator"), json.get("discriminator")) {
            (Some(g), Some(d)) => Self { generator: parse(g, "generator")?, discriminator: parse(d, "discriminator")? },
            (None, None) => {
                let discriminator = parse(&json, "discriminator")?;
                Self { generator: generator_for(&discriminator), discriminator }
            }
            _ => return Err(bad("give both `generator` and `discriminator`, or one discriminator config".into())),
        };
        pair.check_shared_embeddings().map_err(bad)?;
        Ok(pair)
    }

    /// The two models share the embeddings module, so everything it is made of must agree.
    pub fn check_shared_embeddings(&self) -> Result<(), String> {
        let (g, d) = (&self.generator, &self.discriminator);
        let fields = [
            ("vocab_size", g.vocab_size, d.vocab_size),
            ("embedding_size", g.embedding_size, d.embedding_size),
            ("max_position_embeddings", g.max_position_embeddings, d.max_position_embeddings),
            ("type_vocab_size", g.type_vocab_size, d.type_vocab_size),
            ("pad_token_id", g.pad_token_id, d.pad_token_id),
        ];
        for (field, gv, dv) in fields {
            if gv != dv {
                return Err(format!(
                    "generator and discriminator share the embeddings, but {field} is {gv} in the generator and {dv} in the discriminator"
                ));
            }
        }
        if g.layer_norm_eps != d.layer_norm_eps {
            return Err("generator and discriminator share the embeddings LayerNorm, but layer_norm_eps differs".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_follow_electras_generator_rule() {
        assert_eq!(generator_for(&ElectraConfig::small()), ElectraConfig::small_generator());
        assert_eq!(generator_for(&ElectraConfig::tiny()), ElectraConfig::tiny_generator());
    }

    #[test]
    fn reads_one_hf_config_or_a_pair() -> Result<(), Box<dyn std::error::Error>> {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/hf-electra-tiny");
        let disc = ModelPair::from_arg(&fixture.join("disc/config.json").to_string_lossy())?;
        assert_eq!(disc.discriminator.hidden_size, 64);
        assert_eq!(disc.generator.hidden_size, 16);
        let dir = tempfile::tempdir()?;
        let pair_path = dir.path().join("pair.json");
        let gen: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture.join("gen/config.json"))?)?;
        let mut bad_gen = gen.clone();
        bad_gen["vocab_size"] = 999.into();
        let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture.join("disc/config.json"))?)?;
        std::fs::write(&pair_path, serde_json::json!({"generator": gen, "discriminator": d}).to_string())?;
        assert_eq!(ModelPair::from_arg(&pair_path.to_string_lossy())?.generator.num_attention_heads, 1);
        std::fs::write(&pair_path, serde_json::json!({"generator": bad_gen, "discriminator": d}).to_string())?;
        let err = ModelPair::from_arg(&pair_path.to_string_lossy()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("vocab_size is 999 in the generator"), "{err}");
        assert!(ModelPair::from_arg("medium").is_err());
        Ok(())
    }
}
