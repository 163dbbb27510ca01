//! The one place the driver names the types it is built on: the model, objective and optimizer
//! (`electra_train::{model, objective, optim}`) and the shard reader (`electra_pipeline::reader`).

pub use crate::model::{ModelError, ParamSet, Tokens};
pub use crate::objective::{
    gumbel_max_sample, mask_tokens, Batch, ElectraPretraining, ObjectiveOptions, StepShare, TrainRng,
};
pub use crate::optim::{AdamW, AdamWConfig, LinearSchedule, OptimError};
pub use electra_pipeline::reader::{EpochBatches, ReaderError, ShardReader};

/// TEMPORARY until `electra_pipeline` implements `Encoder` for `HostTokenizer` (helper `pipe` is landing it): the
/// same bridge, so the quickstart and tests can shard. Swap for `HostTokenizer` itself when it lands.
pub struct ShardEncoder(pub electra_pipeline::tokenizer::HostTokenizer);

impl electra_pipeline::encode::Encoder for ShardEncoder {
    fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<(), electra_pipeline::encode::EncodeError> {
        self.0
            .tokenizer()
            .try_for_each_word(text, |ids| {
                out.extend_from_slice(ids);
                Ok::<(), std::convert::Infallible>(())
            })
            .map_err(|never| match never {})
    }

    fn special_tokens(&self) -> electra_pipeline::encode::SpecialTokens {
        let s = self.0.tokenizer().special();
        electra_pipeline::encode::SpecialTokens { cls: s.cls, sep: s.sep, pad: s.pad, unk: s.unk }
    }

    fn vocab_size(&self) -> usize {
        self.0.tokenizer().vocab_size()
    }

    fn vocab_sha256(&self) -> String {
        self.0.sha256_hex()
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "implementation": "electra_core::tokenizer (BERT WordPiece, exact vs HF tokenizers)",
            "lowercase": true,
            "strip_accents": true,
            "vocab_size": self.0.tokenizer().vocab_size(),
        })
    }
}
