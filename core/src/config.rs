//! Model hyper-parameters, named as in HF `ElectraConfig` so a `config.json` maps one to one.
//!
//! Dimension glossary (used in shape comments across the crate):
//! - `V` vocab_size, `E` embedding_size, `H` hidden_size, `L` num_hidden_layers,
//! - `A` num_attention_heads, `D = H / A` head size, `F` intermediate_size (FFN),
//! - `P` max_position_embeddings, `S` type_vocab_size, `T` tokens in one sequence.

use core::fmt;
use serde::{Deserialize, Serialize};

/// ELECTRA hyper-parameters. Field names follow HF `ElectraConfig` verbatim.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ElectraConfig {
    pub vocab_size: usize,
    pub embedding_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f32,
    pub pad_token_id: usize,
}

impl ElectraConfig {
    /// ELECTRA-Small discriminator (Clark et al. 2020, table 6).
    pub const fn small() -> Self {
        Self {
            vocab_size: 30522,
            embedding_size: 128,
            hidden_size: 256,
            num_hidden_layers: 12,
            num_attention_heads: 4,
            intermediate_size: 1024,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
        }
    }

    /// ELECTRA-Small generator: the discriminator's embeddings, a quarter-width encoder.
    pub const fn small_generator() -> Self {
        Self { hidden_size: 64, num_attention_heads: 1, intermediate_size: 256, ..Self::small() }
    }

    /// A tiny model over the full BERT vocab for tests and the quickstart: seconds a step on a laptop.
    pub const fn tiny() -> Self {
        Self {
            embedding_size: 32,
            hidden_size: 64,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 128,
            max_position_embeddings: 128,
            ..Self::small()
        }
    }

    /// Generator paired with [`ElectraConfig::tiny`].
    pub const fn tiny_generator() -> Self {
        Self { hidden_size: 16, num_attention_heads: 1, intermediate_size: 64, ..Self::tiny() }
    }

    /// Size of one attention head, `D = H / A`.
    pub const fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Whether the embeddings are projected from `E` to `H` (`embeddings_project` exists in HF).
    pub const fn has_embeddings_project(&self) -> bool {
        self.embedding_size != self.hidden_size
    }

    /// Checks that the numbers describe a model this crate can run.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("embedding_size", self.embedding_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(ConfigError::Zero { field });
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(ConfigError::HeadsDoNotDivideHidden {
                hidden_size: self.hidden_size,
                num_attention_heads: self.num_attention_heads,
            });
        }
        if self.pad_token_id >= self.vocab_size {
            return Err(ConfigError::PadOutOfVocab { pad_token_id: self.pad_token_id, vocab_size: self.vocab_size });
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(ConfigError::BadLayerNormEps);
        }
        Ok(())
    }
}

/// Which output head sits on top of the encoder. One per HF class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeadKind {
    /// `ElectraForPreTraining`: the discriminator's replaced-token detection head, one logit per token.
    ReplacedTokenDetection,
    /// `ElectraForMaskedLM`: the generator's MLM head, tied to the word embeddings, `V` logits per token.
    MaskedLm,
    /// `ElectraForSequenceClassification`: dense → GELU → out_proj on the first token.
    SequenceClassification { num_labels: usize },
    /// `ElectraForTokenClassification`: one linear layer on every token.
    TokenClassification { num_labels: usize },
}

impl HeadKind {
    /// The HF class name, as written in `config.json`'s `architectures`.
    pub const fn hf_architecture(&self) -> &'static str {
        match self {
            Self::ReplacedTokenDetection => "ElectraForPreTraining",
            Self::MaskedLm => "ElectraForMaskedLM",
            Self::SequenceClassification { .. } => "ElectraForSequenceClassification",
            Self::TokenClassification { .. } => "ElectraForTokenClassification",
        }
    }
}

/// Why an [`ElectraConfig`] was rejected.
///
/// `#[non_exhaustive]`: a later version may add variants; match with a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A size that must be at least 1 is 0.
    Zero { field: &'static str },
    /// `hidden_size` is not a multiple of `num_attention_heads`.
    HeadsDoNotDivideHidden { hidden_size: usize, num_attention_heads: usize },
    /// `pad_token_id` does not name a row of the word embeddings.
    PadOutOfVocab { pad_token_id: usize, vocab_size: usize },
    /// `layer_norm_eps` is not a positive finite number.
    BadLayerNormEps,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Zero { field } => write!(f, "config field `{field}` must be at least 1"),
            Self::HeadsDoNotDivideHidden { hidden_size, num_attention_heads } => {
                write!(f, "hidden_size {hidden_size} is not divisible by num_attention_heads {num_attention_heads}")
            }
            Self::PadOutOfVocab { pad_token_id, vocab_size } => {
                write!(f, "pad_token_id {pad_token_id} is outside the vocab of {vocab_size}")
            }
            Self::BadLayerNormEps => write!(f, "layer_norm_eps must be a positive finite number"),
        }
    }
}

impl core::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for c in [
            ElectraConfig::small(),
            ElectraConfig::small_generator(),
            ElectraConfig::tiny(),
            ElectraConfig::tiny_generator(),
        ] {
            assert_eq!(c.validate(), Ok(()));
        }
        assert_eq!(ElectraConfig::small().head_size(), 64);
    }

    #[test]
    fn rejects_heads_that_do_not_divide_hidden() {
        let c = ElectraConfig { num_attention_heads: 3, ..ElectraConfig::small() };
        assert!(matches!(c.validate(), Err(ConfigError::HeadsDoNotDivideHidden { .. })));
    }
}
