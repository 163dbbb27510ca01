//! The tiny ELECTRA pair pre-trained on topic sequences, shared by `pretrain_tiny.rs` (the loss falls) and
//! `int8_trained.rs` (int8 on the trained discriminator).
//!
//! The word ids 8..VOCAB fall into `TOPICS` disjoint topics of `TOPIC_WORDS` ids, and each sequence
//! (`[CLS] w₁ … w_n [SEP]`, random length, padded) draws its words from one topic only. A replacement from a
//! weak generator is almost surely off-topic, so the discriminator can spot it by comparing with the rest of
//! the sequence; the generator can learn a masked word's topic from its neighbours.

use electra_core::ElectraConfig;
use electra_train::objective::{Batch, ElectraPretraining, ObjectiveOptions, StepStats, TrainRng};
use electra_train::optim::{AdamW, AdamWConfig, LinearSchedule};

pub const VOCAB: usize = 128;
pub const SEQ_LEN: usize = 32;
pub const BATCH: usize = 8;
pub const STEPS: usize = 600;
pub const TOPICS: usize = 30;
pub const TOPIC_WORDS: usize = 4;

/// `[CLS] w… [SEP]`, unpadded, with every word from one topic; 12 to `SEQ_LEN - 2` words.
pub fn topic_sequence(rng: &mut TrainRng) -> Vec<u32> {
    let len = 12 + rng.below(SEQ_LEN - 13); // words, leaving room for [CLS] and [SEP]
    let topic = rng.below(TOPICS);
    let mut ids = vec![2u32];
    ids.extend((0..len).map(|_| (8 + topic * TOPIC_WORDS + rng.below(TOPIC_WORDS)) as u32));
    ids.push(3);
    ids
}

/// A [`topic_sequence`] padded to `SEQ_LEN`, with its attention mask.
pub fn topic_example(rng: &mut TrainRng) -> (Vec<u32>, Vec<u8>) {
    let ids = topic_sequence(rng);
    let mask = (0..SEQ_LEN).map(|i| u8::from(i < ids.len())).collect();
    (ids.iter().copied().chain(std::iter::repeat(0)).take(SEQ_LEN).collect(), mask)
}

/// One batch of `BATCH` padded examples.
pub fn batch_of<'a>(examples: impl IntoIterator<Item = &'a (Vec<u32>, Vec<u8>)>) -> Batch {
    let mut b = Batch {
        batch_size: BATCH,
        seq_len: SEQ_LEN,
        input_ids: Vec::new(),
        attention_mask: Vec::new(),
        token_type_ids: vec![0; BATCH * SEQ_LEN],
    };
    for (ids, mask) in examples.into_iter().take(BATCH) {
        b.input_ids.extend_from_slice(ids);
        b.attention_mask.extend_from_slice(mask);
    }
    assert_eq!(b.input_ids.len(), BATCH * SEQ_LEN, "a batch takes {BATCH} examples");
    b
}

/// The tiny generator and discriminator configurations at `VOCAB` words and `SEQ_LEN` positions.
pub fn tiny_pair() -> (ElectraConfig, ElectraConfig) {
    let gen = ElectraConfig { vocab_size: VOCAB, max_position_embeddings: SEQ_LEN, ..ElectraConfig::tiny_generator() };
    let disc = ElectraConfig { vocab_size: VOCAB, max_position_embeddings: SEQ_LEN, ..ElectraConfig::tiny() };
    (gen, disc)
}

/// `STEPS` steps of ELECTRA's optimizer as they are (lr 5e-4, 10 warm-up steps: larger rates keep the
/// discriminator on the "everything is original" plateau longer at this size) on `batch(step, rng)`; each
/// step's statistics.
pub fn pretrain(
    model: &mut ElectraPretraining,
    rng: &mut TrainRng,
    mut batch: impl FnMut(usize, &mut TrainRng) -> Batch,
) -> Vec<StepStats> {
    let config = AdamWConfig::electra();
    let schedule = LinearSchedule { warmup_steps: 10, total_steps: STEPS as u64, peak_lr: config.lr };
    let mut opt = AdamW::new(config, model.params());
    let opts = ObjectiveOptions { pad_id: 0, cls_id: 2, sep_id: 3, mask_id: 4, ..ObjectiveOptions::default() };
    let mut history = Vec::with_capacity(STEPS);
    for step in 0..STEPS {
        let b = batch(step, rng);
        let stats = model.step_gradients(&b, rng, &opts).expect("a training step");
        assert!(stats.loss.is_finite(), "step {step}: {stats:?}");
        let (params, grads) = model.params_mut_and_grads();
        opt.step(params, grads, schedule.lr(step as u64)).expect("an optimizer step");
        history.push(stats);
    }
    history
}
