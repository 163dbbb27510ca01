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

/// The masking of one batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Masking {
    /// The generator's input: `[MASK]` at 85% of the masked positions.
    pub input_ids: Vec<u32>,
    /// Flat indices `b·T + t` of the masked positions, ascending.
    pub positions: Vec<usize>,
}

/// Chooses the positions to mask in every sequence and builds the generator's input.
pub fn mask_tokens(tokens: &Tokens<'_>, opts: &ObjectiveOptions, rng: &mut TrainRng) -> Masking {
    mask_tokens_from_row(tokens, opts, rng, 0)
}

/// [`mask_tokens`] for a batch whose first row is row `first_row` of the global (all-rank) batch.
///
/// One draw from `rng` seeds the step; row `b` then draws from its own stream, forked by its global index
/// `first_row + b`, so the masks of an example do not depend on how the global batch is split over ranks.
pub fn mask_tokens_from_row(
    tokens: &Tokens<'_>,
    opts: &ObjectiveOptions,
    rng: &mut TrainRng,
    first_row: u64,
) -> Masking {
    let step_rng = TrainRng::new(rng.next_u64());
    let t = tokens.seq_len;
    let max_per_sequence = (opts.mask_prob as f64 * t as f64).round() as usize;
    let mut input_ids = tokens.input_ids.to_vec();
    let mut positions = Vec::new();
    for b in 0..tokens.batch_size {
        let mut rng = step_rng.fork(first_row + b as u64);
        let row = b * t..(b + 1) * t;
        let mut candidates: Vec<usize> =
            row.filter(|&i| tokens.attention_mask[i] != 0 && !opts.is_special(tokens.input_ids[i])).collect();
        if candidates.is_empty() {
            continue;
        }
        // ELECTRA masks at least one token of a sequence that has any.
        let wanted = ((opts.mask_prob as f64 * candidates.len() as f64).round() as usize).max(1);
        let k = wanted.min(candidates.len()).min(max_per_sequence);
        // Partial Fisher–Yates: the first k candidates become a uniform random k-subset.
        for i in 0..k {
            let j = i + rng.below(candidates.len() - i);
            candidates.swap(i, j);
        }
        let chosen = &mut candidates[..k];
        chosen.sort_unstable();
        for &i in chosen.iter() {
            if rng.uniform_f64() < opts.mask_token_prob as f64 {
                input_ids[i] = opts.mask_id;
            }
            positions.push(i);
        }
    }
    Masking { input_ids, positions }
}

/// Uniforms drawn per block of a row's Gumbel noise.
const GUMBEL_BLOCK: usize = 512;

/// Gumbel-max over one row of softmax numerators `e = exp(logits − max)`, with noise from `stream`:
/// `argmax_v (logit_v + g_v)`, `g_v = −ln(−ln u_v)`, `u_v ~ U(0, 1)`, evaluated as `argmin_v (−ln u_v)/e_v`
/// (the same index: subtract `max`, negate, exponentiate).
fn gumbel_max_row(e: &[f32], stream: &mut TrainRng) -> u32 {
    let mut u = [0.0f32; GUMBEL_BLOCK];
    let mut best = (0usize, f32::INFINITY);
    for (b, block) in e.chunks(GUMBEL_BLOCK).enumerate() {
        let u = &mut u[..block.len()];
        stream.fill_uniform_open(u);
        let (i, key) = kernels::gumbel_argmin(block, u, best.1);
        if key < best.1 {
            best = (b * GUMBEL_BLOCK + i, key);
        }
    }
    best.0 as u32
}

/// Gumbel-max sampling at temperature 1: an exact draw from `softmax(logits)` per row. Row `r` draws its
/// noise from `rng.fork(r)`, so the result does not depend on how rows are spread over threads.
pub fn gumbel_max_sample(logits: ArrayView2<'_, f32>, rng: &TrainRng) -> Vec<u32> {
    logits
        .axis_iter(Axis(0))
        .into_par_iter()
        .enumerate()
        .map(|(r, row)| {
            let mut e = row.to_vec();
            kernels::exp_shifted(&mut e);
            gumbel_max_row(&e, &mut rng.fork(r as u64))
        })
        .collect()
}

/// The generator's MLM loss (mean cross-entropy of `logits [M, V]` against `targets [M]`) and, when `rng` is
/// given, one Gumbel-max sample per row ([`gumbel_max_sample`]'s draws exactly), in one pass over the
/// logits. Overwrites `logits` with `∂loss/∂logits`.
///
/// `streams[r]` names row `r`'s noise stream (`rng.fork(streams[r])`); `None` numbers the rows 0, 1, 2, …
pub fn mlm_loss_and_samples(
    logits: &mut Array2<f32>,
    targets: &[i64],
    rng: Option<&TrainRng>,
    streams: Option<&[u64]>,
) -> (f32, Vec<u32>) {
    let inv = if targets.is_empty() { 0.0 } else { 1.0 / targets.len() as f32 };
    let vocab = logits.ncols().max(1);
    let rows: Vec<(f64, u32)> = with_row_major_mut(logits, |flat| {
        flat.par_chunks_mut(vocab)
            .zip(targets.par_iter())
            .enumerate()
            .map(|(r, (e, &target))| {
                let label = target as usize;
                let label_logit = e[label];
                let max = kernels::exp_shifted(e);
                let stream = streams.and_then(|ids| ids.get(r).copied()).unwrap_or(r as u64);
                let sample = rng.map_or(0, |rng| gumbel_max_row(e, &mut rng.fork(stream)));
                let loss = kernels::cross_entropy_from_exp(e, label, inv) + (max - label_logit) as f64;
                (loss, sample)
            })
            .collect()
    });
    let loss = rows.iter().map(|r| r.0).sum::<f64>() * inv as f64;
    let samples = if rng.is_some() { rows.iter().map(|r| r.1).collect() } else { Vec::new() };
    (loss as f32, samples)
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

    /// One ELECTRA step on `batch`: zeroes the gradients, then leaves `∂(MLM + w·RTD)/∂θ` in
    /// [`ElectraPretraining::grads`]. Draws the masking and the samples from `rng`.
    pub fn step_gradients(
        &mut self,
        batch: &Batch,
        rng: &mut TrainRng,
        opts: &ObjectiveOptions,
    ) -> Result<StepStats, ModelError> {
        self.step_gradients_shared(batch, rng, opts, &mut StepShare::whole_batch())
    }

    /// [`ElectraPretraining::step_gradients_overlapped`] without anyone to tell when gradients are final.
    pub fn step_gradients_shared(
        &mut self,
        batch: &Batch,
        rng: &mut TrainRng,
        opts: &ObjectiveOptions,
        share: &mut StepShare<'_>,
    ) -> Result<StepStats, ModelError> {
        self.step_gradients_overlapped(batch, rng, opts, share, &mut |_, _| Ok(()))
    }

    /// The discriminator's own tensors (`discriminator.*`): one run of the blob, whose gradients are final once
    /// the discriminator's backward pass has run (the shared embeddings are not in it: the generator's backward
    /// adds to them). `None` if the layout ever stops keeping them together.
    fn discriminator_span(&self) -> Option<std::ops::Range<usize>> {
        let own = || self.params.entries().iter().filter(|e| e.name.starts_with(DISCRIMINATOR_PREFIX));
        let start = own().map(|e| e.offset).min()?;
        let end = own().map(|e| e.offset + e.len).max()?;
        (own().map(|e| e.len).sum::<usize>() == end - start).then_some(start..end)
    }

    /// [`ElectraPretraining::step_gradients`] for one rank's share of a data-parallel step, telling
    /// `gradients_final` about each part of the gradient blob as soon as it is final, so its reduction over the
    /// ranks can overlap the rest of the backward pass.
    ///
    /// Masks and samples of each example come from streams keyed by its global row (`share.first_row + b`),
    /// and both losses are normalised by the counts of the whole global batch (`share.sum_counts`), then
    /// multiplied by the number of ranks: once the ranks' gradients are averaged, the result is exactly the
    /// gradient of one process running the whole global batch. The returned losses are this rank's terms
    /// of the same sum: their mean over ranks is the global batch's loss.
    ///
    /// Order of work: every micro-batch runs its generator forward (and samples), then the discriminator's
    /// forward and backward; the discriminator's own tensors (38 of ELECTRA-Small's 57 MB) are then final and
    /// go to `gradients_final`, while the generator's backward runs; the rest (shared embeddings and the
    /// generator's tensors) follows. Every call covers disjoint elements, and together they cover the blob once.
    pub fn step_gradients_overlapped(
        &mut self,
        batch: &Batch,
        rng: &mut TrainRng,
        opts: &ObjectiveOptions,
        share: &mut StepShare<'_>,
        gradients_final: &mut GradientsFinal<'_>,
    ) -> Result<StepStats, ModelError> {
        let tokens = Tokens {
            batch_size: batch.batch_size,
            seq_len: batch.seq_len,
            input_ids: &batch.input_ids,
            token_type_ids: &batch.token_type_ids,
            attention_mask: &batch.attention_mask,
        };
        tokens.validate(&self.disc_config)?;
        opts.validate(self.disc_config.vocab_size)?;
        // Read before the masking's draw, without advancing the RNG: a function of the RNG state this step starts
        // from, the same on every rank and in a resumed run.
        let dropout_seed = step_dropout_seed(rng);
        let masking = mask_tokens_from_row(&tokens, opts, rng, share.first_row);
        let sample_rng = TrainRng::new(rng.next_u64());
        // Row `b·T + t` of the batch is position `(first_row + b)·T + t` of the global batch.
        let streams: Vec<u64> =
            masking.positions.iter().map(|&i| share.first_row * batch.seq_len as u64 + i as u64).collect();

        let attended = batch.attention_mask.iter().filter(|&&m| m != 0).count();
        let mut counts = [masking.positions.len() as f64, attended as f64];
        if let Some(sum_counts) = share.sum_counts.as_mut() {
            sum_counts(&mut counts).map_err(|message| ModelError::Collective { message })?;
        }
        let ranks = share.world_size.max(1) as f64;

        // The batch runs as micro-batches of whole sequences, each a full forward and backward pass on its own
        // core into its own gradient blob, summed at the end: the same arithmetic as one pass over the whole
        // batch (each micro-batch's losses are normalised by the whole batch's counts, as ranks are), with
        // no core waiting on another between the many small products of a layer.
        let mut linear_runs = self.discriminator.linear_weight_runs();
        linear_runs.extend(self.generator.linear_weight_runs());
        self.params.refresh_transposes(&linear_runs);

        let parts = self.micro_batch_count(batch.batch_size);
        let rows_per_part = batch.batch_size.div_ceil(parts);
        while self.micro_grads.len() + 1 < parts {
            self.micro_grads.push(self.params.zeros_like());
        }
        let disc_span = self.discriminator_span();
        let mut grads = std::mem::take(&mut self.grads);
        let mut micro_grads = std::mem::take(&mut self.micro_grads);
        let context = MicroBatch {
            batch,
            masking: &masking,
            streams: &streams,
            sample_rng: &sample_rng,
            counts,
            ranks,
            first_row: share.first_row,
            dropout_seed,
        };
        let this = &*self;
        // Phase 1, every micro-batch: generator forward and samples, discriminator forward and backward.
        let mut blobs: Vec<&mut ParamSet> =
            std::iter::once(&mut grads).chain(micro_grads.iter_mut()).take(parts).collect();
        let pending: Vec<(MicroBatchStats, GeneratorPending)> = blobs
            .par_iter_mut()
            .enumerate()
            .map(|(part, g)| {
                let rows = part * rows_per_part..((part + 1) * rows_per_part).min(batch.batch_size);
                g.fill_zero();
                this.micro_batch_forward(g, &context, rows, opts)
            })
            .collect();
        drop(blobs);
        // The discriminator's own tensors are final: summed over micro-batches and handed on.
        let len = grads.data().len();
        let (early, rest) = match &disc_span {
            Some(span) => (span.clone(), [0..span.start, span.end..len]),
            None => (0..0, [0..len, len..len]),
        };
        sum_span_into(&mut grads, &micro_grads[..parts - 1], early.clone());
        let collective = |message: String| ModelError::Collective { message };
        if !early.is_empty() {
            gradients_final(early.start, &grads.data()[early.clone()]).map_err(collective)?;
        }
        // Phase 2: the generator's backward, into the shared embeddings and its own tensors.
        let mut blobs: Vec<&mut ParamSet> =
            std::iter::once(&mut grads).chain(micro_grads.iter_mut()).take(parts).collect();
        let micro: Vec<MicroBatchStats> = blobs
            .par_iter_mut()
            .zip(pending.into_par_iter())
            .map(|(g, (stats, gen))| {
                this.generator_backward(g, &context, gen);
                stats
            })
            .collect();
        drop(blobs);
        for span in rest {
            sum_span_into(&mut grads, &micro_grads[..parts - 1], span.clone());
            if !span.is_empty() {
                gradients_final(span.start, &grads.data()[span]).map_err(collective)?;
            }
        }
        self.grads = grads;
        self.micro_grads = micro_grads;

        let total = micro.iter().fold(MicroBatchStats::default(), |a, m| MicroBatchStats {
            gen_loss: a.gen_loss + m.gen_loss,
            disc_loss: a.disc_loss + m.disc_loss,
            correct: a.correct + m.correct,
            attended: a.attended + m.attended,
            replaced: a.replaced + m.replaced,
        });
        let per_token = |k: usize| if total.attended > 0 { k as f32 / total.attended as f32 } else { 0.0 };
        let (gen_loss, disc_loss) = (total.gen_loss as f32, total.disc_loss as f32);
        Ok(StepStats {
            loss: gen_loss + opts.disc_weight * disc_loss,
            gen_loss,
            disc_loss,
            rtd_accuracy: per_token(total.correct),
            replaced_fraction: per_token(total.replaced),
            masked_tokens: masking.positions.len(),
            tokens: total.attended,
        })
    }

    /// Splits every step into `parts` micro-batches (at most one per sequence), whatever the thread count;
    /// `None` restores the default, one per thread up to [`MAX_MICRO_BATCHES`]. The gradient is the same sum
    /// either way, up to the order of float additions: fix it to make runs bit-identical across machines with
    /// different core counts.
    pub fn set_micro_batches(&mut self, parts: Option<usize>) {
        self.micro_batches = parts.map(|p| p.max(1));
    }

    fn micro_batch_count(&self, batch_size: usize) -> usize {
        let rows = batch_size.max(1);
        let wanted = self.micro_batches.unwrap_or_else(|| default_micro_batches(rows)).clamp(1, rows);
        // Equal row counts per part, none empty: 8 rows in 3 parts run as 3 + 3 + 2.
        rows.div_ceil(rows.div_ceil(wanted))
    }

    /// Rows `rows` of the batch: generator forward, samples, discriminator pass, its gradients into `g` (zeroed
    /// by the caller); the generator's backward is left for [`ElectraPretraining::generator_backward`]. Losses are
    /// scaled by this micro-batch's share of the whole batch's counts.
    fn micro_batch_forward(
        &self,
        g: &mut ParamSet,
        step: &MicroBatch<'_>,
        rows: std::ops::Range<usize>,
        opts: &ObjectiveOptions,
    ) -> (MicroBatchStats, GeneratorPending) {
        let batch = step.batch;
        let t = batch.seq_len;
        let span = rows.start * t..rows.end * t;
        let tokens = Tokens {
            batch_size: rows.len(),
            seq_len: t,
            input_ids: &batch.input_ids[span.clone()],
            token_type_ids: &batch.token_type_ids[span.clone()],
            attention_mask: &batch.attention_mask[span.clone()],
        };
        // Masked positions are ascending, so this micro-batch's are one run of them.
        let first = step.masking.positions.partition_point(|&i| i < span.start);
        let last = step.masking.positions.partition_point(|&i| i < span.end);
        let positions: Vec<usize> = step.masking.positions[first..last].iter().map(|&i| i - span.start).collect();
        let targets: Vec<i64> = positions.iter().map(|&i| tokens.input_ids[i] as i64).collect();
        let streams = &step.streams[first..last];
        let attended = tokens.attention_mask.iter().filter(|&&m| m != 0).count();
        let scale =
            |local: usize, global: f64| if global > 0.0 { (step.ranks * local as f64 / global) as f32 } else { 0.0 };
        let (gen_scale, disc_scale) = (scale(positions.len(), step.counts[0]), scale(attended, step.counts[1]));

        // Dropout keyed by each sequence's row in the step's global batch.
        let keys: Vec<u64> = rows.clone().map(|b| step.first_row + b as u64).collect();
        let (gen_drop, disc_drop) = encoder_dropouts(opts.dropout, step.dropout_seed, &keys);

        let gen_tokens = Tokens { input_ids: &step.masking.input_ids[span.clone()], ..tokens };
        let sampler = Some((step.sample_rng, streams));
        let (gen_loss, samples, pending) =
            self.generator_forward(&gen_tokens, &positions, &targets, sampler, gen_scale, &gen_drop);
        let mut disc_ids = tokens.input_ids.to_vec();
        let mut replaced = vec![0u8; disc_ids.len()];
        for (&i, &s) in positions.iter().zip(&samples) {
            disc_ids[i] = s;
            replaced[i] = u8::from(s != tokens.input_ids[i]);
        }
        let disc_tokens = Tokens { input_ids: &disc_ids, ..tokens };
        let (disc_loss, correct, count) =
            self.discriminator_pass(g, &disc_tokens, &replaced, opts.disc_weight * disc_scale, &disc_drop);
        let replaced_count =
            replaced.iter().zip(tokens.attention_mask.iter()).filter(|&(&r, &m)| r != 0 && m != 0).count();
        let stats = MicroBatchStats {
            gen_loss: (gen_loss * gen_scale) as f64,
            disc_loss: (disc_loss * disc_scale) as f64,
            correct,
            attended: count,
            replaced: replaced_count,
        };
        (stats, GeneratorPending { rows, positions, ..pending })
    }

    /// The generator's backward of a micro-batch [`ElectraPretraining::micro_batch_forward`] left pending.
    fn generator_backward(&self, g: &mut ParamSet, step: &MicroBatch<'_>, gen: GeneratorPending) {
        let (batch, t) = (step.batch, step.batch.seq_len);
        let span = gen.rows.start * t..gen.rows.end * t;
        let gen_tokens = Tokens {
            batch_size: gen.rows.len(),
            seq_len: t,
            input_ids: &step.masking.input_ids[span.clone()],
            token_type_ids: &batch.token_type_ids[span.clone()],
            attention_mask: &batch.attention_mask[span],
        };
        self.generator_backward_with(g, &gen_tokens, gen);
    }

    /// The deterministic core of a step, with the masking and the samples given (the fixture's joint case):
    /// generator on `gen_tokens` with HF-style `mlm_labels` (original id at masked positions, −100 elsewhere),
    /// discriminator on `disc_tokens` with `replaced` flags, loss = gen + `disc_weight`·disc. Zeroes, then
    /// fills the gradients.
    pub fn gradients_given_samples(
        &mut self,
        gen_tokens: &Tokens<'_>,
        mlm_labels: &[i64],
        disc_tokens: &Tokens<'_>,
        replaced: &[u8],
        disc_weight: f32,
    ) -> Result<JointLosses, ModelError> {
        gen_tokens.validate(&self.gen_config)?;
        disc_tokens.validate(&self.disc_config)?;
        let n = gen_tokens.rows();
        if mlm_labels.len() != n || replaced.len() != disc_tokens.rows() {
            return Err(ModelError::BadLabels {
                message: format!(
                    "{} MLM labels and {} replaced flags for {n} tokens",
                    mlm_labels.len(),
                    replaced.len()
                ),
            });
        }
        let vocab = self.gen_config.vocab_size as i64;
        if let Some(i) = mlm_labels.iter().position(|&l| l != IGNORE_INDEX && !(0..vocab).contains(&l)) {
            return Err(ModelError::BadLabels {
                message: format!("MLM label {} at {i} is outside the vocab", mlm_labels[i]),
            });
        }
        let positions: Vec<usize> = (0..n).filter(|&i| mlm_labels[i] != IGNORE_INDEX).collect();
        let targets: Vec<i64> = positions.iter().map(|&i| mlm_labels[i]).collect();
        let mut grads = std::mem::take(&mut self.grads);
        grads.fill_zero();
        let off = Dropout::off();
        let (gen_loss, _) = self.generator_pass(&mut grads, gen_tokens, &positions, &targets, None, 1.0, &off);
        let (disc_loss, disc_correct, disc_count) =
            self.discriminator_pass(&mut grads, disc_tokens, replaced, disc_weight, &off);
        self.grads = grads;
        Ok(JointLosses { gen_loss, disc_loss, loss: gen_loss + disc_weight * disc_loss, disc_correct, disc_count })
    }

    /// Generator forward on the masked input (with `drop` in the encoder), MLM head on the masked rows, optional
    /// samples, backward. Returns the MLM loss and the samples (empty without a sampler).
    #[allow(clippy::too_many_arguments)]
    fn generator_pass(
        &self,
        g: &mut ParamSet,
        tokens: &Tokens<'_>,
        positions: &[usize],
        targets: &[i64],
        sampler: Option<(&TrainRng, &[u64])>,
        grad_scale: f32,
        drop: &Dropout<'_>,
    ) -> (f32, Vec<u32>) {
        let (loss, samples, pending) = self.generator_forward(tokens, positions, targets, sampler, grad_scale, drop);
        self.generator_backward_with(g, tokens, GeneratorPending { positions: positions.to_vec(), ..pending });
        (loss, samples)
    }

    /// The forward half of [`ElectraPretraining::generator_pass`]: loss, samples, and what the backward needs
    /// (`rows` and `positions` left empty for the caller to fill).
    fn generator_forward(
        &self,
        tokens: &Tokens<'_>,
        positions: &[usize],
        targets: &[i64],
        sampler: Option<(&TrainRng, &[u64])>,
        grad_scale: f32,
        drop: &Dropout<'_>,
    ) -> (f32, Vec<u32>, GeneratorPending) {
        let p = &self.params;
        // The encoder's cache keeps its masks; `backward` applies them again.
        let (hidden, cache) = self.generator.forward_with(p, tokens, drop);
        // [M, V]: the masked rows only. Samples and loss in one pass; logits then hold ∂loss/∂logits.
        let (mut logits, head_cache) = self.generator_head.forward(p, hidden.view(), positions);
        let (loss, samples) = mlm_loss_and_samples(&mut logits, targets, sampler.map(|s| s.0), sampler.map(|s| s.1));
        if grad_scale != 1.0 {
            logits.mapv_inplace(|d| d * grad_scale);
        }
        let pending = GeneratorPending { rows: 0..0, positions: Vec::new(), cache, head_cache, dlogits: logits };
        (loss, samples, pending)
    }

    /// The backward half of [`ElectraPretraining::generator_pass`], on the same `tokens`.
    fn generator_backward_with(&self, g: &mut ParamSet, tokens: &Tokens<'_>, gen: GeneratorPending) {
        let p = &self.params;
        let dhidden =
            self.generator_head.backward(p, g, &gen.head_cache, gen.dlogits.view(), &gen.positions, tokens.rows());
        self.generator.backward(p, g, tokens, &gen.cache, dhidden);
    }

    /// Discriminator forward (with `drop` in the encoder), mean BCE over attended positions, backward of
    /// `weight · loss`. Returns `(loss, correct, attended)`.
    fn discriminator_pass(
        &self,
        g: &mut ParamSet,
        tokens: &Tokens<'_>,
        replaced: &[u8],
        weight: f32,
        drop: &Dropout<'_>,
    ) -> (f32, usize, usize) {
        let p = &self.params;
        let (hidden, cache) = self.discriminator.forward_with(p, tokens, drop);
        let (logits, head_cache) = self.discriminator_head.forward(p, hidden);
        let targets: Vec<f32> = replaced.iter().map(|&r| f32::from(r)).collect();
        let active: Vec<bool> = tokens.attention_mask.iter().map(|&m| m != 0).collect();
        let mut bce = bce_with_logits(&logits, &targets, &active);
        bce.dlogits.iter_mut().for_each(|d| *d *= weight);
        let dhidden = self.discriminator_head.backward(p, g, &head_cache, &bce.dlogits);
        self.discriminator.backward(p, g, tokens, &cache, dhidden);
        (bce.loss, bce.correct, bce.count)
    }
}

/// A micro-batch's generator between its forward pass and its backward pass.
struct GeneratorPending {
    /// The micro-batch's rows in the (rank's) batch.
    rows: std::ops::Range<usize>,
    /// Masked positions, relative to the micro-batch.
    positions: Vec<usize>,
    cache: EncoderCache,
    head_cache: MlmCache,
    /// `grad_scale · ∂loss/∂logits`, `[M, V]`.
    dlogits: Array2<f32>,
}

/// What every micro-batch of one step shares.
struct MicroBatch<'a> {
    batch: &'a Batch,
    masking: &'a Masking,
    /// Noise stream of each masked position (as `masking.positions`).
    streams: &'a [u64],
    sample_rng: &'a TrainRng,
    /// `[masked, attended]` over the whole (global) batch.
    counts: [f64; 2],
    /// Ranks whose gradients are averaged after the step.
    ranks: f64,
    /// Row of the (rank's) batch's first sequence in the step's global batch.
    first_row: u64,
    /// The step's dropout seed ([`step_dropout_seed`]).
    dropout_seed: u64,
}

/// Sub-stream of the step's RNG that names its dropout seed.
const DROPOUT_STREAM: u64 = 0xd509_0a75_7e9d_5eed;
/// Mixed into the step's dropout seed for the generator, so its masks are not the discriminator's.
const GENERATOR_DROPOUT: u64 = 0x6e6e_7261_746f_7221;

/// The dropout seed of the step that starts from `rng`'s state: read from a fork, so `rng` does not advance
/// (masking and sampling draw what they would without dropout). Each step advances the RNG, so each step has
/// its own seed; every rank holds the same state, and a resumed run restores it from the checkpoint.
fn step_dropout_seed(rng: &TrainRng) -> u64 {
    rng.fork(DROPOUT_STREAM).next_u64()
}

/// The generator's and the discriminator's dropout for sequences `keys` (global rows) of a step.
fn encoder_dropouts(rates: DropoutRates, seed: u64, keys: &[u64]) -> (Dropout<'_>, Dropout<'_>) {
    (Dropout::seeded(rates, seed ^ GENERATOR_DROPOUT, keys), Dropout::seeded(rates, seed, keys))
}

/// `total[span] += Σ parts[span]`, elementwise, in a fixed order (the result does not depend on thread timing,
/// nor on how the blob is cut into spans: each element is `total + parts[0] + parts[1] + …`).
fn sum_span_into(total: &mut ParamSet, parts: &[ParamSet], span: std::ops::Range<usize>) {
    const CHUNK: usize = 1 << 14;
    if parts.is_empty() {
        return;
    }
    let start = span.start;
    total.data_mut()[span].par_chunks_mut(CHUNK).enumerate().for_each(|(c, out)| {
        let from = start + c * CHUNK..start + c * CHUNK + out.len();
        for part in parts {
            for (o, &x) in out.iter_mut().zip(&part.data()[from.clone()]) {
                *o += x;
            }
        }
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
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
        Tokens {
            batch_size: b.batch_size,
            seq_len: b.seq_len,
            input_ids: &b.input_ids,
            token_type_ids: &b.token_type_ids,
            attention_mask: &b.attention_mask,
        }
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
