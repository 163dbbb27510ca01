//! ELECTRA pre-training (Clark et al. 2020): a small generator trained with masked-language modelling
//! proposes replacements, and the discriminator learns to tell replaced tokens from original ones.
//!
//! One step ([`ElectraPretraining::step_gradients`]):
//! 1. mask 15% of each sequence's non-special tokens (at most `round(0.15 × T)`); 85% of them become
//!    `[MASK]`, 15% keep their token, none is replaced by a random token;
//! 2. the generator's MLM loss on those positions (mean cross-entropy);
//! 3. a replacement for each masked position sampled from the generator's softmax with Gumbel-max at
//!    temperature 1 (no gradient flows through the sample);
//! 4. the discriminator sees the sequence with the samples in place; label 1 where the sample differs from
//!    the original; its loss is the mean BCE over attended positions;
//! 5. loss = MLM + 50·RTD, gradients of both into one blob.
//!
//! Both encoders train with dropout when [`ObjectiveOptions::dropout`] asks for it (ELECTRA pre-trains with 0.1;
//! the MLM and RTD heads have none, as in ELECTRA and HF). Masks are hashed ([`crate::model::dropout`]) from a
//! seed the step takes from the RNG's state without advancing it, and each sequence's index in the step's
//! global batch: the same masks whatever the micro-batch split or the number of data-parallel ranks, replayed
//! exactly by `--resume` (the RNG state is in the checkpoint), and the RNG's draws, so masking and sampling,
//! are those of a run without dropout.
//!
//! Generator and discriminator share the whole embeddings module (word, position and token-type tables and
//! their LayerNorm), stored once; each has its own `embeddings_project`; the generator's output layer is the
//! word-embedding table. Parameter names in the blob: the shared `electra.embeddings.*` as HF names them,
//! then `generator.<HF ElectraForMaskedLM name>` and `discriminator.<HF ElectraForPreTraining name>`.

use crate::checkpoint::HfCheckpoint;
use crate::model::attention::Queries;
use crate::model::dropout::{Dropout, DropoutRates};
use crate::model::embeddings::Embeddings;
use crate::model::encoder::{Encoder, EncoderCache};
use crate::model::init::{hf_init, INITIALIZER_RANGE};
use crate::model::kernels;
use crate::model::layout::with_row_major_mut;
use crate::model::loss::{bce_with_logits, IGNORE_INDEX};
use crate::model::mlm_head::{MlmCache, MlmHead};
use crate::model::rtd_head::RtdHead;
use crate::model::{ModelError, ParamSet, ParamSetBuilder, Tokens};
use electra_core::{ElectraConfig, HeadKind};
use ndarray::parallel::prelude::*;
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use crate::rng::TrainRng;
pub use electra_pipeline::reader::Batch;

pub mod flops;
mod masking;
mod sampling;
mod step;

pub use masking::{mask_tokens, mask_tokens_from_row, Masking};
pub use sampling::{gumbel_max_sample, mlm_loss_and_samples};

/// Prefix of the generator's own tensors in the blob.
pub const GENERATOR_PREFIX: &str = "generator.";
/// Prefix of the discriminator's own tensors in the blob.
pub const DISCRIMINATOR_PREFIX: &str = "discriminator.";
/// HF prefix of the shared embeddings module.
pub const EMBEDDINGS_PREFIX: &str = "electra.embeddings";

/// The knobs of the ELECTRA objective, ELECTRA's values by default (but for dropout, off unless asked for), and
/// the special token ids it must not mask (BERT uncased vocab by default).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveOptions {
    /// Fraction of non-special tokens to mask (0.15).
    pub mask_prob: f32,
    /// Fraction of masked tokens replaced by `[MASK]`; the rest keep their token (0.85).
    pub mask_token_prob: f32,
    /// Weight of the discriminator's loss (50).
    pub disc_weight: f32,
    pub pad_id: u32,
    pub cls_id: u32,
    pub sep_id: u32,
    pub mask_id: u32,
    /// Dropout in both encoders during training steps (never in evaluation, nor in
    /// [`ElectraPretraining::gradients_given_samples`]). Off by default here; pre-training runs take ELECTRA's
    /// 0.1 from their `RunConfig`.
    #[serde(default = "no_dropout")]
    pub dropout: DropoutRates,
}

/// Options saved before dropout existed trained without it.
fn no_dropout() -> DropoutRates {
    DropoutRates::OFF
}

impl Default for ObjectiveOptions {
    fn default() -> Self {
        Self {
            mask_prob: 0.15,
            mask_token_prob: 0.85,
            disc_weight: 50.0,
            pad_id: 0,
            cls_id: 101,
            sep_id: 102,
            mask_id: 103,
            dropout: DropoutRates::OFF,
        }
    }
}

impl ObjectiveOptions {
    fn is_special(&self, id: u32) -> bool {
        id == self.pad_id || id == self.cls_id || id == self.sep_id
    }

    fn validate(&self, vocab_size: usize) -> Result<(), ModelError> {
        let unit = |v: f32| (0.0..=1.0).contains(&v);
        if !(unit(self.mask_prob)
            && unit(self.mask_token_prob)
            && self.disc_weight.is_finite()
            && self.disc_weight >= 0.0)
        {
            return Err(ModelError::BadOptions {
                message: format!(
                    "mask_prob {} and mask_token_prob {} must lie in [0, 1], disc_weight {} must be finite and ≥ 0",
                    self.mask_prob, self.mask_token_prob, self.disc_weight
                ),
            });
        }
        self.dropout.validate().map_err(|message| ModelError::BadOptions { message })?;
        for (name, id) in [("pad", self.pad_id), ("cls", self.cls_id), ("sep", self.sep_id), ("mask", self.mask_id)] {
            if id as usize >= vocab_size {
                return Err(ModelError::SpecialIdOutOfVocab { name, id, vocab_size });
            }
        }
        Ok(())
    }
}

/// What one step measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    /// `gen_loss + disc_weight · disc_loss`.
    pub loss: f32,
    /// Generator MLM loss (mean cross-entropy over masked positions).
    pub gen_loss: f32,
    /// Discriminator RTD loss (mean BCE over attended positions).
    pub disc_loss: f32,
    /// Fraction of attended positions the discriminator labels right (logit > 0 ⇔ replaced).
    pub rtd_accuracy: f32,
    /// Fraction of attended positions whose token was replaced by a different one; `1 − replaced_fraction`
    /// is the accuracy of always answering "original".
    pub replaced_fraction: f32,
    /// Positions masked for the generator.
    pub masked_tokens: usize,
    /// Attended positions (attention mask 1).
    pub tokens: usize,
}

/// How to sum `[masked, attended]` token counts over the ranks of a step.
pub type CountReducer<'a> = dyn FnMut(&mut [f64; 2]) -> Result<(), String> + 'a;

/// Receives `(offset, values)`: elements `offset..offset + values.len()` of the step's gradient blob, final for
/// this step (see [`ElectraPretraining::step_gradients_overlapped`]).
pub type GradientsFinal<'a> = dyn FnMut(usize, &[f32]) -> Result<(), String> + 'a;

/// One rank's share of a data-parallel step (see [`ElectraPretraining::step_gradients_shared`]).
pub struct StepShare<'a> {
    /// Index of this batch's first row in the global batch of the step.
    pub first_row: u64,
    /// Ranks whose gradients are averaged after the step.
    pub world_size: usize,
    /// Replaces this rank's `[masked, attended]` counts by their sums over all ranks; `None` on one process.
    pub sum_counts: Option<&'a mut CountReducer<'a>>,
}

impl StepShare<'static> {
    /// A single process running the whole batch.
    pub fn whole_batch() -> Self {
        Self { first_row: 0, world_size: 1, sum_counts: None }
    }
}

/// Which checkpoint's copy of the shared embeddings [`ElectraPretraining::from_tensors_sharing`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedEmbeddingsFrom {
    Generator,
    Discriminator,
}

/// Losses of one joint step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JointLosses {
    pub gen_loss: f32,
    pub disc_loss: f32,
    /// `gen_loss + disc_weight · disc_loss`.
    pub loss: f32,
    /// Attended positions the discriminator labels right.
    pub disc_correct: usize,
    /// Attended positions.
    pub disc_count: usize,
}

/// Generator + discriminator with shared embeddings, one parameter blob and one gradient blob.
#[derive(Clone, Debug)]
pub struct ElectraPretraining {
    pub gen_config: ElectraConfig,
    pub disc_config: ElectraConfig,
    pub generator: Encoder,
    pub generator_head: MlmHead,
    pub discriminator: Encoder,
    pub discriminator_head: RtdHead,
    params: ParamSet,
    grads: ParamSet,
    /// Gradient blobs of micro-batches 1.. of a step (micro-batch 0 writes `grads`), kept between steps.
    micro_grads: Vec<ParamSet>,
    /// Micro-batches per step; `None`: one per thread, at most [`MAX_MICRO_BATCHES`].
    micro_batches: Option<usize>,
}

/// Most micro-batches a step is split into by default: enough to keep every core of a small machine busy
/// with whole forward/backward passes (cores beyond it share each micro-batch's products), few enough that the
/// extra gradient blobs (one per micro-batch) stay a small share of memory.
pub const MAX_MICRO_BATCHES: usize = 4;

/// One micro-batch per core, at most [`MAX_MICRO_BATCHES`] and at most one per sequence.
pub fn default_micro_batches(batch_size: usize) -> usize {
    rayon::current_num_threads().min(MAX_MICRO_BATCHES).min(batch_size).max(1)
}

/// What one micro-batch of a step reports; the step's [`StepStats`] sum these.
#[derive(Clone, Copy, Debug, Default)]
struct MicroBatchStats {
    /// This micro-batch's share of the (rank's) generator loss, already scaled by its share of the counts.
    gen_loss: f64,
    /// Likewise for the discriminator loss.
    disc_loss: f64,
    correct: usize,
    attended: usize,
    replaced: usize,
}

impl ElectraPretraining {
    /// The layout for this pair of configs, every parameter zero.
    pub fn zeroed(gen: ElectraConfig, disc: ElectraConfig) -> Result<Self, ModelError> {
        gen.validate()?;
        disc.validate()?;
        for (field, g, d) in [
            ("vocab_size", gen.vocab_size, disc.vocab_size),
            ("embedding_size", gen.embedding_size, disc.embedding_size),
            ("max_position_embeddings", gen.max_position_embeddings, disc.max_position_embeddings),
            ("type_vocab_size", gen.type_vocab_size, disc.type_vocab_size),
            ("pad_token_id", gen.pad_token_id, disc.pad_token_id),
        ] {
            if g != d {
                return Err(ModelError::IncompatibleConfigs { field, generator: g, discriminator: d });
            }
        }
        let mut b = ParamSetBuilder::new();
        // One embeddings module (the discriminator's config: its LayerNorm eps) for both models.
        let embeddings = Embeddings::new(&mut b, EMBEDDINGS_PREFIX, &disc);
        let word = embeddings.word;
        let discriminator = Encoder::new(&mut b, "discriminator.electra", &disc, embeddings.clone());
        let discriminator_head = RtdHead::new(&mut b, "discriminator.discriminator_predictions", disc.hidden_size);
        let generator = Encoder::new(&mut b, "generator.electra", &gen, embeddings);
        let generator_head = MlmHead::new(
            &mut b,
            GENERATOR_PREFIX,
            gen.hidden_size,
            gen.embedding_size,
            gen.vocab_size,
            gen.layer_norm_eps,
            word,
        );
        let params = b.finish();
        let grads = params.zeros_like();
        Ok(Self {
            gen_config: gen,
            disc_config: disc,
            generator,
            generator_head,
            discriminator,
            discriminator_head,
            params,
            grads,
            micro_grads: Vec::new(),
            micro_batches: None,
        })
    }

    /// HF's initialization (normal std 0.02, zero biases, LayerNorm 1/0, padding row 0), reproducible from `seed`.
    pub fn init(gen: ElectraConfig, disc: ElectraConfig, seed: u64) -> Result<Self, ModelError> {
        let mut model = Self::zeroed(gen, disc)?;
        let mut rng = TrainRng::new(seed);
        let word = format!("{EMBEDDINGS_PREFIX}.word_embeddings.weight");
        hf_init(&mut model.params, &mut rng, INITIALIZER_RANGE, &[(&word, disc.pad_token_id)]);
        Ok(model)
    }

    /// Loads both models from HF checkpoints (`ElectraForMaskedLM` and `ElectraForPreTraining`). ELECTRA
    /// shares the embeddings, so both checkpoints must hold the same `electra.embeddings.*` values (those this
    /// crate writes do); if they differ this refuses with [`ModelError::EmbeddingsDiffer`] rather than drop
    /// one copy; [`ElectraPretraining::from_tensors_sharing`] picks a side explicitly.
    pub fn from_tensors(
        gen_cfg: ElectraConfig,
        disc_cfg: ElectraConfig,
        gen: &HfCheckpoint,
        disc: &HfCheckpoint,
    ) -> Result<Self, ModelError> {
        Self::load(gen_cfg, disc_cfg, gen, disc, None)
    }

    /// As [`ElectraPretraining::from_tensors`], taking the shared embeddings from the checkpoint `from` names
    /// and ignoring the other's values (their shapes are still checked).
    pub fn from_tensors_sharing(
        gen_cfg: ElectraConfig,
        disc_cfg: ElectraConfig,
        gen: &HfCheckpoint,
        disc: &HfCheckpoint,
        from: SharedEmbeddingsFrom,
    ) -> Result<Self, ModelError> {
        Self::load(gen_cfg, disc_cfg, gen, disc, Some(from))
    }

    fn load(
        gen_cfg: ElectraConfig,
        disc_cfg: ElectraConfig,
        gen: &HfCheckpoint,
        disc: &HfCheckpoint,
        from: Option<SharedEmbeddingsFrom>,
    ) -> Result<Self, ModelError> {
        if gen.head != HeadKind::MaskedLm {
            return Err(ModelError::WrongHead { expected: "ElectraForMaskedLM", found: gen.head.hf_architecture() });
        }
        if disc.head != HeadKind::ReplacedTokenDetection {
            return Err(ModelError::WrongHead {
                expected: "ElectraForPreTraining",
                found: disc.head.hf_architecture(),
            });
        }
        let mut model = Self::zeroed(gen_cfg, disc_cfg)?;
        let entries = model.params.entries().to_vec();
        for e in &entries {
            let values = if let Some(name) = e.name.strip_prefix(GENERATOR_PREFIX) {
                gen.get(name, &e.shape)?
            } else if let Some(name) = e.name.strip_prefix(DISCRIMINATOR_PREFIX) {
                disc.get(name, &e.shape)?
            } else {
                let (g, d) = (gen.get(&e.name, &e.shape)?, disc.get(&e.name, &e.shape)?);
                match from {
                    Some(SharedEmbeddingsFrom::Generator) => g,
                    Some(SharedEmbeddingsFrom::Discriminator) => d,
                    None if g == d => d,
                    None => return Err(ModelError::EmbeddingsDiffer { tensor: e.name.clone() }),
                }
            };
            model.params.data_mut()[e.offset..e.offset + e.len].copy_from_slice(values);
        }
        Ok(model)
    }

    pub fn params(&self) -> &ParamSet {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut ParamSet {
        &mut self.params
    }

    pub fn grads(&self) -> &ParamSet {
        &self.grads
    }

    /// The parameters to update and the gradients to update them with, borrowed together for
    /// `AdamW::step(params, grads, lr)`.
    pub fn params_mut_and_grads(&mut self) -> (&mut ParamSet, &ParamSet) {
        (&mut self.params, &self.grads)
    }

    /// The discriminator as HF `ElectraForPreTraining` tensors (shared embeddings included).
    pub fn discriminator_tensors(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        self.tensors_of(DISCRIMINATOR_PREFIX)
    }

    /// The generator as HF `ElectraForMaskedLM` tensors, without the tied `generator_lm_head.weight` (HF does
    /// not store it either).
    pub fn generator_tensors(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        self.tensors_of(GENERATOR_PREFIX)
    }

    fn tensors_of(&self, prefix: &str) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        self.params
            .iter()
            .filter_map(|(name, shape, values)| {
                let hf_name = if name.starts_with(EMBEDDINGS_PREFIX) { Some(name) } else { name.strip_prefix(prefix) };
                hf_name.map(|n| (n.to_string(), shape.to_vec(), values.to_vec()))
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::sampling::GUMBEL_BLOCK;
    use super::step::{encoder_dropouts, step_dropout_seed};
    use super::*;
    use crate::model::math;
    use ndarray::Array2;

    fn tiny_opts() -> ObjectiveOptions {
        ObjectiveOptions { pad_id: 0, cls_id: 2, sep_id: 3, mask_id: 4, ..ObjectiveOptions::default() }
    }

    /// Two sequences of T = 40: one full (38 words), one of 10 words then padding.
    fn batch() -> Batch {
        let t = 40;
        let mut ids = vec![0u32; 2 * t];
        let mut mask = vec![0u8; 2 * t];
        for (b, words) in [(0, 38), (1, 10)] {
            ids[b * t] = 2;
            for i in 1..=words {
                ids[b * t + i] = 10 + (i as u32 * 7) % 50;
            }
            ids[b * t + words + 1] = 3;
            mask[b * t..b * t + words + 2].fill(1);
        }
        Batch { batch_size: 2, seq_len: t, input_ids: ids, attention_mask: mask, token_type_ids: vec![0; 2 * t] }
    }

    fn tokens(b: &Batch) -> Tokens<'_> {
        Tokens::from(b)
    }

    #[test]
    fn masking_picks_15_percent_of_words_never_specials_and_85_percent_become_mask() {
        let b = batch();
        let opts = tiny_opts();
        let mut rng = TrainRng::new(3);
        let (mut masked, mut to_mask_token) = (0usize, 0usize);
        for _ in 0..2000 {
            let m = mask_tokens(&tokens(&b), &opts, &mut rng);
            // round(0.15·38) = 6 (≤ round(0.15·40) = 6) and round(0.15·10) = 2.
            assert_eq!(m.positions.iter().filter(|&&i| i < 40).count(), 6);
            assert_eq!(m.positions.iter().filter(|&&i| i >= 40).count(), 2);
            for &i in &m.positions {
                assert!(b.attention_mask[i] == 1 && !opts.is_special(b.input_ids[i]), "masked a special or pad");
                assert!(m.input_ids[i] == 4 || m.input_ids[i] == b.input_ids[i], "no random replacement");
                to_mask_token += usize::from(m.input_ids[i] == 4);
            }
            // Nothing else changes.
            for i in 0..80 {
                if !m.positions.contains(&i) {
                    assert_eq!(m.input_ids[i], b.input_ids[i]);
                }
            }
            masked += m.positions.len();
        }
        let share = to_mask_token as f64 / masked as f64;
        // 16,000 Bernoulli(0.85) draws: standard deviation 0.003.
        assert!((share - 0.85).abs() < 0.015, "[MASK] share {share}");
    }

    #[test]
    fn every_word_is_equally_likely_to_be_masked() {
        let b = batch();
        let mut rng = TrainRng::new(11);
        let mut hits = [0usize; 80];
        let draws = 4000;
        for _ in 0..draws {
            for i in mask_tokens(&tokens(&b), &tiny_opts(), &mut rng).positions {
                hits[i] += 1;
            }
        }
        // Sequence 0: each of its 38 words is masked with probability 6/38.
        for (i, &h) in hits.iter().enumerate().take(39).skip(1) {
            let p = h as f64 / draws as f64;
            assert!((p - 6.0 / 38.0).abs() < 0.03, "word {i}: {p}");
        }
    }

    #[test]
    fn gumbel_max_draws_from_the_softmax() {
        let logits_row = [0.0f32, 1.0, 2.0, -1.0, 0.5];
        let rows = 40_000;
        let logits = Array2::from_shape_fn((rows, 5), |(_, j)| logits_row[j]);
        let samples = gumbel_max_sample(logits.view(), &TrainRng::new(5));
        let z: f64 = logits_row.iter().map(|&l| (l as f64).exp()).sum();
        for (v, &l) in logits_row.iter().enumerate() {
            let want = (l as f64).exp() / z;
            let got = samples.iter().filter(|&&s| s as usize == v).count() as f64 / rows as f64;
            // Binomial standard deviation ≤ 0.0025 at 40,000 draws; 4σ.
            assert!((got - want).abs() < 0.01, "token {v}: {got} vs {want}");
        }
        // The same rng gives the same samples whatever the thread layout.
        assert_eq!(samples, gumbel_max_sample(logits.view(), &TrainRng::new(5)));
    }

    #[test]
    fn gumbel_max_skipping_hopeless_keys_picks_what_the_definition_picks() {
        // Full-vocab rows, flat (an untrained generator) and peaked (a trained one): the sampler skips most
        // logarithms; the definition computes every key with the same noise.
        let v = 30_522;
        let mut rng = TrainRng::new(17);
        for (rows, spread) in [(24, 0.05f32), (24, 4.0), (24, 12.0)] {
            let logits = Array2::from_shape_fn((rows, v), |_| spread * (rng.uniform_open() - 0.5));
            let samples = gumbel_max_sample(logits.view(), &TrainRng::new(9));
            for (r, row) in logits.axis_iter(Axis(0)).enumerate() {
                let mut e = row.to_vec();
                kernels::exp_shifted(&mut e);
                let mut stream = TrainRng::new(9).fork(r as u64);
                let mut u = vec![0.0f32; v];
                for block in u.chunks_mut(GUMBEL_BLOCK) {
                    stream.fill_uniform_open(block);
                }
                let want = (0..v).map(|i| (i, -math::ln(u[i]) / e[i])).fold((0, f32::INFINITY), |best, (i, key)| {
                    if key < best.1 {
                        (i, key)
                    } else {
                        best
                    }
                });
                assert_eq!(samples[r] as usize, want.0, "row {r}, spread {spread}");
            }
        }
    }

    /// Largest gradient difference allowed between micro-batch splits, relative to the largest gradient:
    /// the sums are the same, only float additions happen in another order (float32 rounding, ~1e-7 per
    /// addition, over a few hundred terms per gradient entry).
    const MICRO_BATCH_TOLERANCE: f32 = 1e-5;

    /// Five sequences: full, short with padding, and an all-padding one (no masked or attended token).
    fn five_rows() -> Batch {
        let two = batch();
        let t = two.seq_len;
        let mut b = Batch { batch_size: 5, ..two.clone() };
        b.input_ids.clear();
        b.attention_mask.clear();
        for row in [0, 1, 0, 1] {
            b.input_ids.extend_from_slice(&two.input_ids[row * t..(row + 1) * t]);
            b.attention_mask.extend_from_slice(&two.attention_mask[row * t..(row + 1) * t]);
        }
        b.input_ids.extend(std::iter::repeat_n(0, t));
        b.attention_mask.extend(std::iter::repeat_n(0, t));
        b.token_type_ids = vec![0; 5 * t];
        b
    }

    fn tiny_pair() -> (ElectraConfig, ElectraConfig) {
        (
            ElectraConfig { vocab_size: 64, ..ElectraConfig::tiny_generator() },
            ElectraConfig { vocab_size: 64, ..ElectraConfig::tiny() },
        )
    }

    /// `split` is the step `whole` is, up to the order of float additions.
    fn assert_same_step(
        what: &str,
        (whole, g_whole): &(StepStats, Vec<f32>),
        (split, g_split): &(StepStats, Vec<f32>),
    ) {
        let largest = g_whole.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        assert!(largest > 0.0);
        assert_eq!((split.masked_tokens, split.tokens), (whole.masked_tokens, whole.tokens), "{what}");
        assert_eq!((split.rtd_accuracy, split.replaced_fraction), (whole.rtd_accuracy, whole.replaced_fraction));
        for (name, a, b) in [("loss", split.loss, whole.loss), ("gen", split.gen_loss, whole.gen_loss)] {
            assert!((a - b).abs() <= 1e-5 * b.abs(), "{what}: {name} {a} vs {b}");
        }
        let worst = g_split.iter().zip(g_whole).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst <= MICRO_BATCH_TOLERANCE * largest, "{what}: gradient off by {worst} (largest {largest})");
    }

    /// One step of the tiny pair on `b` in `parts` micro-batches: its stats and gradients.
    fn step_in_parts(b: &Batch, parts: usize, dropout: DropoutRates) -> (StepStats, Vec<f32>) {
        let (gen, disc) = tiny_pair();
        let mut model = ElectraPretraining::init(gen, disc, 1).unwrap();
        model.set_micro_batches(Some(parts));
        let opts = ObjectiveOptions { dropout, ..tiny_opts() };
        let stats = model.step_gradients(b, &mut TrainRng::new(9), &opts).unwrap();
        (stats, model.grads().data().to_vec())
    }

    #[test]
    fn micro_batches_give_the_whole_batch_step() {
        let b = five_rows();
        for dropout in [DropoutRates::OFF, DropoutRates::ELECTRA] {
            let whole = step_in_parts(&b, 1, dropout);
            for parts in [2, 3, 5, 8] {
                assert_same_step(
                    &format!("{parts} parts, dropout {dropout:?}"),
                    &whole,
                    &step_in_parts(&b, parts, dropout),
                );
            }
        }
    }

    #[test]
    fn dropout_changes_the_step_and_is_reproducible() {
        let b = five_rows();
        let (off, g_off) = step_in_parts(&b, 1, DropoutRates::OFF);
        let (on, g_on) = step_in_parts(&b, 1, DropoutRates::ELECTRA);
        // The masks are applied: other losses and gradients. The RNG's draws are not touched: the same masking.
        assert_ne!(on.gen_loss, off.gen_loss);
        assert_ne!(on.disc_loss, off.disc_loss);
        assert_ne!(g_on, g_off);
        assert_eq!((on.masked_tokens, on.tokens), (off.masked_tokens, off.tokens));
        // The same RNG state gives the same masks, bit for bit.
        assert_eq!(step_in_parts(&b, 1, DropoutRates::ELECTRA), (on, g_on));
        // The same rates with another dropout seed, or for the other encoder, give other masks; the step's RNG
        // state names the seed without moving on.
        let keys = [0u64, 1, 2];
        let mut rng = TrainRng::new(9);
        let seed = step_dropout_seed(&rng);
        assert_eq!(rng, TrainRng::new(9));
        rng.next_u64();
        assert_ne!(step_dropout_seed(&rng), seed);
        let (gen, disc) = encoder_dropouts(DropoutRates::ELECTRA, seed, &keys);
        let mask = |d: &Dropout<'_>| d.mask("layer.0.output", 0.1, 3, 3 * 256).unwrap();
        assert_ne!(mask(&gen), mask(&disc));
        let (_, other_step) = encoder_dropouts(DropoutRates::ELECTRA, step_dropout_seed(&rng), &keys);
        assert_ne!(mask(&other_step), mask(&disc));
        // A rate of 1 is refused.
        let (g, d) = tiny_pair();
        let mut model = ElectraPretraining::init(g, d, 1).unwrap();
        let all = ObjectiveOptions { dropout: DropoutRates::uniform(1.0), ..tiny_opts() };
        assert!(matches!(model.step_gradients(&b, &mut TrainRng::new(9), &all), Err(ModelError::BadOptions { .. })));
    }

    #[test]
    fn data_parallel_ranks_with_dropout_give_the_whole_batch_step() {
        // Ranks of 3 and 2 rows (rank batches may differ here), each split into micro-batches: the mean of their
        // gradients is the single-process step over all 5 rows, dropout masks included.
        let b = five_rows();
        let t = b.seq_len;
        let whole = step_in_parts(&b, 1, DropoutRates::ELECTRA);
        let global = [whole.0.masked_tokens as f64, whole.0.tokens as f64];
        let opts = ObjectiveOptions { dropout: DropoutRates::ELECTRA, ..tiny_opts() };
        let (gen, disc) = tiny_pair();
        let mut grads = vec![0.0f32; whole.1.len()];
        let (mut loss, mut gen_loss) = (0.0f32, 0.0f32);
        for (first, rows, parts) in [(0usize, 3usize, 2usize), (3, 2, 1)] {
            let local = Batch {
                batch_size: rows,
                seq_len: t,
                input_ids: b.input_ids[first * t..(first + rows) * t].to_vec(),
                attention_mask: b.attention_mask[first * t..(first + rows) * t].to_vec(),
                token_type_ids: b.token_type_ids[first * t..(first + rows) * t].to_vec(),
            };
            let mut model = ElectraPretraining::init(gen, disc, 1).unwrap();
            model.set_micro_batches(Some(parts));
            let mut sum_counts = |counts: &mut [f64; 2]| -> Result<(), String> {
                *counts = global;
                Ok(())
            };
            let mut share = StepShare { first_row: first as u64, world_size: 2, sum_counts: Some(&mut sum_counts) };
            let stats = model.step_gradients_shared(&local, &mut TrainRng::new(9), &opts, &mut share).unwrap();
            loss += stats.loss / 2.0;
            gen_loss += stats.gen_loss / 2.0;
            grads.iter_mut().zip(model.grads().data()).for_each(|(g, &x)| *g += x / 2.0);
        }
        let ranks = StepStats { loss, gen_loss, ..whole.0 };
        assert_same_step("2 ranks, dropout 0.1", &whole, &(ranks, grads));
    }

    #[test]
    fn a_step_is_reproducible_and_rejects_bad_batches() {
        let gen = ElectraConfig { vocab_size: 64, ..ElectraConfig::tiny_generator() };
        let disc = ElectraConfig { vocab_size: 64, ..ElectraConfig::tiny() };
        let b = batch();
        let run = || {
            let mut model = ElectraPretraining::init(gen, disc, 1).unwrap();
            let stats = model.step_gradients(&b, &mut TrainRng::new(9), &tiny_opts()).unwrap();
            (stats, model.grads().data().to_vec())
        };
        let (s1, g1) = run();
        let (s2, g2) = run();
        assert_eq!(s1, s2);
        assert_eq!(g1, g2);
        assert_eq!((s1.masked_tokens, s1.tokens), (8, 52));
        assert!(s1.loss.is_finite() && (s1.loss - (s1.gen_loss + 50.0 * s1.disc_loss)).abs() < 1e-4);
        assert!(g1.iter().any(|&g| g != 0.0));

        let mut model = ElectraPretraining::init(gen, disc, 1).unwrap();
        let mut bad = b.clone();
        bad.input_ids[5] = 64;
        let err = model.step_gradients(&bad, &mut TrainRng::new(9), &tiny_opts()).unwrap_err();
        assert_eq!(err.to_string(), "token id 64 at sequence 0, position 5 is outside the vocab of 64");
        let mut short = b.clone();
        short.attention_mask.pop();
        assert!(matches!(
            model.step_gradients(&short, &mut TrainRng::new(9), &tiny_opts()),
            Err(ModelError::BatchShape { field: "attention_mask", .. })
        ));
        assert!(matches!(
            model.step_gradients(&b, &mut TrainRng::new(9), &ObjectiveOptions::default()),
            Err(ModelError::SpecialIdOutOfVocab { .. })
        ));
        let bad_prob = ObjectiveOptions { mask_prob: 1.5, ..tiny_opts() };
        assert!(matches!(
            model.step_gradients(&b, &mut TrainRng::new(9), &bad_prob),
            Err(ModelError::BadOptions { .. })
        ));
        let wide = ElectraConfig { embedding_size: 48, ..gen };
        assert!(matches!(
            ElectraPretraining::init(wide, disc, 1),
            Err(ModelError::IncompatibleConfigs { field: "embedding_size", .. })
        ));
    }

    #[test]
    fn tensors_split_into_the_two_hf_models() {
        let gen = ElectraConfig { vocab_size: 64, ..ElectraConfig::tiny_generator() };
        let disc = ElectraConfig { vocab_size: 64, ..ElectraConfig::tiny() };
        let model = ElectraPretraining::init(gen, disc, 1).unwrap();
        let d = model.discriminator_tensors();
        let g = model.generator_tensors();
        let d_layout = crate::model::TaskModel::zeroed(disc, electra_core::HeadKind::ReplacedTokenDetection).unwrap();
        let g_layout = crate::model::TaskModel::zeroed(gen, electra_core::HeadKind::MaskedLm).unwrap();
        let names = |v: &[(String, Vec<usize>, Vec<f32>)]| {
            let mut n: Vec<(String, Vec<usize>)> = v.iter().map(|(a, b, _)| (a.clone(), b.clone())).collect();
            n.sort();
            n
        };
        let layout = |m: &crate::model::TaskModel| names(&m.tensors());
        assert_eq!(names(&d), layout(&d_layout));
        assert_eq!(names(&g), layout(&g_layout));
        // Shared embeddings: the same values in both, padding row zero.
        let word = |v: &[(String, Vec<usize>, Vec<f32>)]| {
            v.iter().find(|(n, _, _)| n == "electra.embeddings.word_embeddings.weight").unwrap().2.clone()
        };
        assert_eq!(word(&d), word(&g));
        assert!(word(&d)[..32].iter().all(|&x| x == 0.0));
    }
}
