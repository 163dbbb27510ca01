//! One HF ELECTRA class — encoder plus one head — with its own parameter and gradient blobs:
//! `ElectraForPreTraining`, `ElectraForMaskedLM`, `ElectraForSequenceClassification`,
//! `ElectraForTokenClassification`. Fine-tuning and the gradient-parity tests run on this.

use super::attention::Queries;
use super::dropout::Dropout;
use super::embeddings::Embeddings;
use super::encoder::Encoder;
use super::gemm::Threads;
use super::init::{hf_init, INITIALIZER_RANGE};
use super::loss::{bce_with_logits, cross_entropy, IGNORE_INDEX};
use super::mlm_head::MlmHead;
use super::params::{ParamSet, ParamSetBuilder};
use super::rtd_head::RtdHead;
use super::seq_cls_head::SeqClsHead;
use super::tok_cls_head::TokClsHead;
use super::{ModelError, Tokens};
use crate::checkpoint::HfCheckpoint;
use crate::rng::TrainRng;
use electra_core::{ElectraConfig, HeadKind};
use ndarray::{Array1, Array2, Axis};
use rayon::prelude::*;

/// The head on top of the encoder.
#[derive(Clone, Debug)]
pub enum Head {
    Rtd(RtdHead),
    Mlm(MlmHead),
    SeqCls(SeqClsHead),
    TokCls(TokClsHead),
}

/// Training targets, one kind per head.
#[derive(Clone, Copy, Debug)]
pub enum Labels<'a> {
    /// Replaced-token detection: 1 where the token was replaced, 0 where original, one per token `[B·T]`.
    Replaced(&'a [u8]),
    /// Class indices: one per token `[B·T]` for MLM and token classification (−100 = ignore), one per
    /// sequence `[B]` for sequence classification.
    Classes(&'a [i64]),
    /// Regression targets, one per sequence `[B]` (a sequence classifier with one label, as HF's
    /// `problem_type = "regression"`).
    Scores(&'a [f32]),
}

/// What a loss computation returns.
#[derive(Debug)]
pub struct TaskOutput {
    pub loss: f32,
    /// `[B·T, 1]` (RTD), `[B·T, V]` (MLM), `[B, C]` (sequence) or `[B·T, C]` (token classification).
    pub logits: Array2<f32>,
}

#[derive(Clone, Debug)]
pub struct TaskModel {
    pub config: ElectraConfig,
    pub kind: HeadKind,
    pub encoder: Encoder,
    pub head: Head,
    params: ParamSet,
    grads: ParamSet,
    /// Gradient blobs of the micro-batches after the first ([`TaskModel::loss_and_gradients_split`]), kept
    /// between steps so their pages are not faulted in again.
    micro_grads: Vec<ParamSet>,
}

/// One micro-batch of a training step ([`TaskModel::loss_and_gradients_split`]): its own padded tokens,
/// labels and dropout masks, and the weight of its mean loss in the step's (its share of the step's labels).
#[derive(Clone, Copy)]
pub struct MicroBatch<'a> {
    pub tokens: Tokens<'a>,
    pub labels: Labels<'a>,
    pub drop: &'a Dropout<'a>,
    pub weight: f32,
}

const WORD_EMBEDDINGS: &str = "electra.embeddings.word_embeddings.weight";

/// Fewest token positions in a training step (all its micro-batches together) for which
/// [`TaskModel::loss_and_gradients_split`] takes the transposed weight copies first. The copy costs the same
/// whatever the step (~1 ns a weight, ELECTRA-Small's 9.4 M encoder weights); the faster forward products it buys
/// save in proportion to the tokens. Measured (docs/BENCHMARKS.md, fine-tuning speed): on an AVX-512 Xeon an
/// SST-2 step (~424 positions) ran 3.5% faster without the copy, the forward products gaining only ~6% from it;
/// on an AVX2 EPYC they gain 11-15%, which pays for the copy from ~400 positions. Above this bound both kinds of
/// machine gain or lose little; below it the copy is skipped. The two layouts may round differently (some
/// shapes sum in another order; ELECTRA-Small's SST-2 steps gave the same bits), and the choice is a function
/// of the step's tokens alone, so a rerun or a `--resume` makes the same one.
const TRANSPOSE_MIN_STEP_TOKENS: usize = 1024;

impl TaskModel {
    /// The layout of HF's class for `kind`, every parameter zero.
    pub fn zeroed(config: ElectraConfig, kind: HeadKind) -> Result<Self, ModelError> {
        config.validate()?;
        let mut b = ParamSetBuilder::new();
        let embeddings = Embeddings::new(&mut b, "electra.embeddings", &config);
        let word = embeddings.word;
        let encoder = Encoder::new(&mut b, "electra", &config, embeddings);
        let (h, e, v) = (config.hidden_size, config.embedding_size, config.vocab_size);
        let head = match kind {
            HeadKind::ReplacedTokenDetection => Head::Rtd(RtdHead::new(&mut b, "discriminator_predictions", h)),
            HeadKind::MaskedLm => Head::Mlm(MlmHead::new(&mut b, "", h, e, v, config.layer_norm_eps, word)),
            HeadKind::SequenceClassification { num_labels } => {
                Head::SeqCls(SeqClsHead::new(&mut b, "classifier", h, num_labels))
            }
            HeadKind::TokenClassification { num_labels } => {
                Head::TokCls(TokClsHead::new(&mut b, "classifier", h, num_labels))
            }
        };
        let params = b.finish();
        let grads = params.zeros_like();
        Ok(Self { config, kind, encoder, head, params, grads, micro_grads: Vec::new() })
    }

    /// A freshly initialized model (HF's init, `initializer_range` 0.02).
    pub fn init(config: ElectraConfig, kind: HeadKind, seed: u64) -> Result<Self, ModelError> {
        let mut model = Self::zeroed(config, kind)?;
        let mut rng = TrainRng::new(seed);
        hf_init(&mut model.params, &mut rng, INITIALIZER_RANGE, &[(WORD_EMBEDDINGS, config.pad_token_id)]);
        Ok(model)
    }

    /// Loads every parameter from an HF checkpoint, by name, checking shapes. Extra tensors in the file
    /// (such as the tied `generator_lm_head.weight` some exporters write) are ignored.
    pub fn from_checkpoint(ckpt: &HfCheckpoint) -> Result<Self, ModelError> {
        let mut model = Self::zeroed(ckpt.config, ckpt.head)?;
        let entries = model.params.entries().to_vec();
        for e in &entries {
            let values = ckpt.get(&e.name, &e.shape)?;
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

    /// The gradients, to scale or reduce across data-parallel ranks before the optimizer reads them.
    pub fn grads_mut(&mut self) -> &mut ParamSet {
        &mut self.grads
    }

    /// The parameters to update and the gradients to update them with, borrowed together for
    /// `AdamW::step(params, grads, lr)`.
    pub fn params_mut_and_grads(&mut self) -> (&mut ParamSet, &ParamSet) {
        (&mut self.params, &self.grads)
    }

    /// Takes the row-major `Wᵀ` copies the forward products read faster (see [`ParamSet::refresh_transposes`]);
    /// a no-op while the parameters are unchanged. Training calls it each step; call it before [`TaskModel::logits`]
    /// on a model that has just changed for the faster products there too.
    pub fn refresh_transposes(&mut self) {
        let runs = self.encoder.linear_weight_runs();
        self.params.refresh_transposes(&runs);
    }

    /// Every parameter under its HF name, for writing a checkpoint.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        self.params.iter().map(|(n, s, v)| (n.to_string(), s.to_vec(), v.to_vec())).collect()
    }

    /// HF's `hidden_states`: the embeddings after projection, then each block's output (`L + 1` arrays
    /// `[B·T, H]`).
    pub fn hidden_states(&self, tokens: &Tokens<'_>) -> Result<Vec<Array2<f32>>, ModelError> {
        tokens.validate(&self.config)?;
        let (last, cache) = self.encoder.forward(&self.params, tokens);
        let mut states: Vec<Array2<f32>> = cache.layers.iter().map(|c| c.input.clone()).collect();
        states.push(last);
        Ok(states)
    }

    /// The head's logits (see [`TaskOutput::logits`] for shapes), MLM on every position: inference, without
    /// dropout and without the training forward's caches, over all cores.
    pub fn logits(&self, tokens: &Tokens<'_>) -> Result<Array2<f32>, ModelError> {
        self.logits_on(tokens, Threads::All)
    }

    /// [`TaskModel::logits`] with the encoder's products on `threads`: `Threads::One` lets a caller run one
    /// batch per core (evaluation), which keeps every core busy on the short batches of sentence tasks.
    pub fn logits_on(&self, tokens: &Tokens<'_>, threads: Threads) -> Result<Array2<f32>, ModelError> {
        tokens.validate(&self.config)?;
        let outputs = self.outputs();
        let hidden = self.encoder.infer(&self.params, tokens, threads, outputs);
        let hidden_seq_len = if outputs == Queries::First { 1 } else { tokens.seq_len };
        Ok(match &self.head {
            Head::Rtd(head) => {
                let (logits, _) = head.forward(&self.params, hidden);
                Array1::from_vec(logits).insert_axis(Axis(1)) // [N] → [N, 1]
            }
            Head::Mlm(head) => {
                let rows: Vec<usize> = (0..hidden.nrows()).collect();
                head.forward(&self.params, hidden.view(), &rows).0
            }
            Head::SeqCls(head) => head.forward(&self.params, hidden.view(), hidden_seq_len).0,
            Head::TokCls(head) => head.forward(&self.params, hidden.view()),
        })
    }

    /// The rows the head reads from the last block: a sequence classifier reads only each sequence's first token,
    /// so its last block queries only those ([`Queries::First`]: the same values, a twelfth of a Small model's
    /// encoder work skipped).
    fn outputs(&self) -> Queries {
        match (&self.head, self.encoder.layers.is_empty()) {
            (Head::SeqCls(_), false) => Queries::First,
            _ => Queries::All,
        }
    }

    /// Zeroes the gradients, runs forward and backward, and leaves `∂loss/∂θ` in [`TaskModel::grads`].
    /// Losses as HF computes them: RTD mean BCE over positions with attention mask 1; MLM and token
    /// classification mean CE over labels ≠ −100; sequence classification mean CE; regression (one label)
    /// mean squared error.
    pub fn loss_and_gradients(&mut self, tokens: &Tokens<'_>, labels: Labels<'_>) -> Result<TaskOutput, ModelError> {
        self.loss_and_gradients_with(tokens, labels, &Dropout::off())
    }

    /// [`TaskModel::loss_and_gradients`] in training mode: with `drop`'s dropout in the encoder and the head.
    pub fn loss_and_gradients_with(
        &mut self,
        tokens: &Tokens<'_>,
        labels: Labels<'_>,
        drop: &Dropout<'_>,
    ) -> Result<TaskOutput, ModelError> {
        tokens.validate(&self.config)?;
        self.check_labels(tokens, labels)?;
        self.refresh_transposes();
        let mut grads = std::mem::take(&mut self.grads);
        grads.fill_zero();
        let output = self.forward_backward(&mut grads, tokens, labels, drop);
        self.grads = grads;
        output
    }

    /// One training step's gradients from several micro-batches, one per core, each a whole forward and backward
    /// pass into its own gradient blob (cores meet once a step instead of at each of its hundreds of products,
    /// as pre-training's micro-batches do). [`TaskModel::grads`] is left holding `Σₖ weightₖ · ∂lossₖ/∂θ`,
    /// summed in micro-batch order; returns `Σₖ weightₖ · lossₖ`. With labels-share weights that is the whole
    /// batch's mean loss and its gradient, the one-pass result up to float rounding. A single micro-batch of
    /// weight 1 is exactly [`TaskModel::loss_and_gradients_with`].
    pub fn loss_and_gradients_split(&mut self, parts: &[MicroBatch<'_>]) -> Result<f32, ModelError> {
        if parts.is_empty() {
            return Err(ModelError::BadLabels { message: "a step needs at least one micro-batch".into() });
        }
        for part in parts {
            part.tokens.validate(&self.config)?;
            self.check_labels(&part.tokens, part.labels)?;
        }
        // Taken or not by the step's size alone, whatever a dev evaluation left: a resumed run repeats the choice.
        if parts.iter().map(|part| part.tokens.rows()).sum::<usize>() >= TRANSPOSE_MIN_STEP_TOKENS {
            self.refresh_transposes();
        } else {
            self.params.forget_transposes();
        }
        while self.micro_grads.len() + 1 < parts.len() {
            self.micro_grads.push(self.params.zeros_like());
        }
        let mut grads = std::mem::take(&mut self.grads);
        let mut micro_grads = std::mem::take(&mut self.micro_grads);
        let this = &*self;
        let mut blobs: Vec<&mut ParamSet> =
            std::iter::once(&mut grads).chain(micro_grads.iter_mut()).take(parts.len()).collect();
        let losses: Result<Vec<f32>, ModelError> = blobs
            .par_iter_mut()
            .zip(parts.par_iter())
            .map(|(g, part)| {
                g.fill_zero();
                Ok(this.forward_backward(g, &part.tokens, part.labels, part.drop)?.loss)
            })
            .collect();
        drop(blobs);
        let losses = match losses {
            Ok(losses) => losses,
            Err(e) => {
                (self.grads, self.micro_grads) = (grads, micro_grads);
                return Err(e);
            }
        };
        let weights: Vec<f32> = parts.iter().map(|p| p.weight).collect();
        let whole = 0..grads.data().len();
        grads.accumulate(&micro_grads[..parts.len() - 1], whole, Some((weights[0], &weights[1..])));
        self.grads = grads;
        self.micro_grads = micro_grads;
        Ok(losses.iter().zip(&weights).map(|(&l, &w)| f64::from(l) * f64::from(w)).sum::<f64>() as f32)
    }

    /// Forward and backward of one (micro-)batch whose tokens and labels were checked, gradients into `g`
    /// (zeroed by the caller).
    fn forward_backward(
        &self,
        g: &mut ParamSet,
        tokens: &Tokens<'_>,
        labels: Labels<'_>,
        drop: &Dropout<'_>,
    ) -> Result<TaskOutput, ModelError> {
        let outputs = self.outputs();
        let p = &self.params;
        let (hidden, cache) = self.encoder.forward_with(p, tokens, drop, outputs);
        // A sequence classifier's hidden is [B, H]: one row (its first token) per sequence.
        let hidden_seq_len = if outputs == Queries::First { 1 } else { tokens.seq_len };
        let n = tokens.rows();
        let (loss, logits, dhidden) = match (&self.head, labels) {
            (Head::Rtd(head), Labels::Replaced(replaced)) => {
                let (logits, head_cache) = head.forward(p, hidden);
                let targets: Vec<f32> = replaced.iter().map(|&r| r as f32).collect();
                let active: Vec<bool> = tokens.attention_mask.iter().map(|&m| m != 0).collect();
                let bce = bce_with_logits(&logits, &targets, &active);
                let dhidden = head.backward(p, g, &head_cache, &bce.dlogits);
                (bce.loss, Array1::from_vec(logits).insert_axis(Axis(1)), dhidden)
            }
            (Head::Mlm(head), Labels::Classes(classes)) => {
                let rows: Vec<usize> = (0..n).collect();
                let (logits, head_cache) = head.forward(p, hidden.view(), &rows);
                let mut dlogits = logits.clone();
                let (loss, _) = cross_entropy(dlogits.view_mut(), classes);
                let dhidden = head.backward(p, g, &head_cache, dlogits.view(), &rows, n);
                (loss, logits, dhidden)
            }
            (Head::SeqCls(head), Labels::Classes(classes)) => {
                let (logits, head_cache) = head.forward_with(p, hidden.view(), hidden_seq_len, drop);
                let mut dlogits = logits.clone();
                let (loss, _) = cross_entropy(dlogits.view_mut(), classes);
                let dhidden = head.backward(p, g, &head_cache, dlogits.view(), hidden_seq_len);
                (loss, logits, dhidden)
            }
            (Head::SeqCls(head), Labels::Scores(scores)) => {
                let (logits, head_cache) = head.forward_with(p, hidden.view(), hidden_seq_len, drop);
                let (loss, dlogits) = mse(&logits, scores);
                let dhidden = head.backward(p, g, &head_cache, dlogits.view(), hidden_seq_len);
                (loss, logits, dhidden)
            }
            (Head::TokCls(head), Labels::Classes(classes)) => {
                let (logits, head_cache) = head.forward_with(p, hidden.view(), tokens.batch_size, drop);
                let mut dlogits = logits.clone();
                let (loss, _) = cross_entropy(dlogits.view_mut(), classes);
                let dhidden = head.backward(p, g, hidden.view(), &head_cache, dlogits.view());
                (loss, logits, dhidden)
            }
            // check_labels rejects every other pairing before anything runs.
            _ => return Err(ModelError::BadLabels { message: "labels do not fit the head".into() }),
        };
        self.encoder.backward(p, g, tokens, &cache, dhidden);
        Ok(TaskOutput { loss, logits })
    }

    /// Labels fit the head: the right kind, count and range.
    fn check_labels(&self, tokens: &Tokens<'_>, labels: Labels<'_>) -> Result<(), ModelError> {
        let bad = |message: String| Err(ModelError::BadLabels { message });
        let (expected, classes) = match self.kind {
            HeadKind::ReplacedTokenDetection => (tokens.rows(), 2),
            HeadKind::MaskedLm => (tokens.rows(), self.config.vocab_size),
            HeadKind::SequenceClassification { num_labels } => (tokens.batch_size, num_labels),
            HeadKind::TokenClassification { num_labels } => (tokens.rows(), num_labels),
        };
        match (self.kind, labels) {
            (HeadKind::ReplacedTokenDetection, Labels::Replaced(r)) => {
                if r.len() != expected {
                    return bad(format!("{} replaced flags for {expected} tokens", r.len()));
                }
                if let Some(i) = r.iter().position(|&x| x > 1) {
                    return bad(format!("replaced flag {} at index {i} is not 0 or 1", r[i]));
                }
                Ok(())
            }
            (HeadKind::ReplacedTokenDetection, _) => bad("replaced-token detection takes 0/1 replaced flags".into()),
            (HeadKind::SequenceClassification { num_labels: 1 }, Labels::Scores(s)) => {
                if s.len() != expected {
                    return bad(format!("{} scores, expected {expected}", s.len()));
                }
                if let Some(i) = s.iter().position(|x| !x.is_finite()) {
                    return bad(format!("score {} at index {i} is not finite", s[i]));
                }
                Ok(())
            }
            (HeadKind::SequenceClassification { num_labels: 1 }, _) => {
                bad("a sequence classifier with one label is a regression head: it takes scores".into())
            }
            (_, Labels::Scores(_)) => bad(format!("{} takes class labels, not scores", self.kind.hf_architecture())),
            (_, Labels::Replaced(_)) => bad(format!("{} takes class labels", self.kind.hf_architecture())),
            (_, Labels::Classes(c)) => {
                if c.len() != expected {
                    return bad(format!("{} labels, expected {expected}", c.len()));
                }
                if let Some(i) = c.iter().position(|&l| l != IGNORE_INDEX && !(0..classes as i64).contains(&l)) {
                    return bad(format!("label {} at index {i} is outside 0..{classes} (and not -100)", c[i]));
                }
                Ok(())
            }
        }
    }
}

/// HF's regression loss (`MSELoss` on `logits.squeeze()`): `mean over b of (z_b − y_b)²`, and its gradient
/// `2(z_b − y_b)/B`, for `logits [B, 1]`.
fn mse(logits: &Array2<f32>, targets: &[f32]) -> (f32, Array2<f32>) {
    let b = targets.len().max(1) as f64;
    let mut sum = 0.0f64;
    let mut d = Array2::zeros(logits.raw_dim());
    for ((z, dz), &y) in logits.iter().zip(d.iter_mut()).zip(targets) {
        let diff = *z as f64 - y as f64;
        sum += diff * diff;
        *dz = (2.0 * diff / b) as f32;
    }
    ((sum / b) as f32, d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::dropout::DropoutRates;
    use crate::model::encoder::EncoderCache;

    /// A sequence classifier's last block queries only the first tokens ([`Queries::First`]); everything it
    /// returns must be what the full last block gives: logits, loss and every gradient, with padding and dropout.
    #[test]
    fn first_token_queries_give_the_full_blocks_results() {
        let config = ElectraConfig { vocab_size: 100, num_attention_heads: 4, ..ElectraConfig::tiny() };
        let mut model = TaskModel::init(config, HeadKind::SequenceClassification { num_labels: 3 }, 4).unwrap();
        // Three sequences of 7 positions, two of them padded.
        let (b, t) = (3, 7);
        let input_ids: Vec<u32> = (0..b * t).map(|i| (i * 37 % 97 + 1) as u32).collect();
        let token_type_ids = vec![0u8; b * t];
        let lengths = [7, 4, 2];
        let attention_mask: Vec<u8> = (0..b * t).map(|i| u8::from(i % t < lengths[i / t])).collect();
        let tokens = Tokens {
            batch_size: b,
            seq_len: t,
            input_ids: &input_ids,
            token_type_ids: &token_type_ids,
            attention_mask: &attention_mask,
        };
        let classes = [2i64, 0, 1];
        let keys = [11u64, 12, 13];
        let drop = Dropout::seeded(DropoutRates::uniform(0.2), 9, &keys);
        let first = model.loss_and_gradients_with(&tokens, Labels::Classes(&classes), &drop).unwrap();
        let first_grads = model.grads().data().to_vec();
        let first_logits = model.logits(&tokens).unwrap();

        // The same step through the full last block, the head reading rows 0, T, 2T.
        model.grads.fill_zero();
        let (p, g) = (&model.params, &mut model.grads);
        let (hidden, cache): (Array2<f32>, EncoderCache) = model.encoder.forward_with(p, &tokens, &drop, Queries::All);
        let Head::SeqCls(head) = &model.head else { unreachable!() };
        let (logits, head_cache) = head.forward_with(p, hidden.view(), t, &drop);
        let mut dlogits = logits.clone();
        let (loss, _) = cross_entropy(dlogits.view_mut(), &classes);
        let dhidden = head.backward(p, g, &head_cache, dlogits.view(), t);
        model.encoder.backward(p, g, &tokens, &cache, dhidden);
        let inferred = head.forward(p, model.encoder.infer(p, &tokens, Threads::All, Queries::All).view(), t).0;

        // Float32 sums over the same terms, in another grouping of rows inside the products: a few ulps.
        const TOL: f32 = 1e-5;
        let worst = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!((first.loss - loss).abs() < TOL, "loss {} vs {loss}", first.loss);
        assert!(worst(first.logits.as_slice().unwrap(), logits.as_slice().unwrap()) < TOL);
        assert!(worst(first_logits.as_slice().unwrap(), inferred.as_slice().unwrap()) < TOL);
        let scale = model.grads.data().iter().fold(0.0f32, |m, g| m.max(g.abs()));
        let d = worst(&first_grads, model.grads.data());
        assert!(d < TOL * scale.max(1.0), "gradients differ by {d} (largest {scale})");
        assert!(
            scale > 0.0
                && first_grads
                    .iter()
                    .zip(model.grads.data())
                    .all(|(a, b)| (*a == 0.0) == (*b == 0.0) || (a - b).abs() < TOL * scale)
        );
    }

    /// Sequences `rows` of a padded `[B, T]` batch, re-padded to their own longest: what a micro-batch holds.
    struct Rows {
        seq_len: usize,
        input_ids: Vec<u32>,
        token_type_ids: Vec<u8>,
        attention_mask: Vec<u8>,
    }

    impl Rows {
        fn of(lengths: &[usize], rows: &[usize]) -> Self {
            let seq_len = rows.iter().map(|&r| lengths[r]).max().unwrap();
            let mut out = Rows { seq_len, input_ids: vec![], token_type_ids: vec![], attention_mask: vec![] };
            for &r in rows {
                for i in 0..seq_len {
                    let real = i < lengths[r];
                    out.input_ids.push(if real { (r * 31 + i * 17) as u32 % 97 + 1 } else { 0 });
                    out.token_type_ids.push(u8::from(real && i > lengths[r] / 2));
                    out.attention_mask.push(u8::from(real));
                }
            }
            out
        }

        fn tokens(&self) -> Tokens<'_> {
            Tokens {
                batch_size: self.input_ids.len() / self.seq_len,
                seq_len: self.seq_len,
                input_ids: &self.input_ids,
                token_type_ids: &self.token_type_ids,
                attention_mask: &self.attention_mask,
            }
        }
    }

    /// A step split into micro-batches ([`TaskModel::loss_and_gradients_split`]), each padded to its own length and
    /// weighted by its share of the labels, gives the one-pass loss and gradients: sequence classification
    /// (one label a sequence) and tagging (the tagged tokens, unevenly spread), with dropout keyed by example.
    #[test]
    fn micro_batches_give_the_one_pass_step() {
        let config = ElectraConfig { vocab_size: 100, num_attention_heads: 4, ..ElectraConfig::tiny() };
        let lengths = [9usize, 3, 6, 2, 8];
        let all: Vec<usize> = (0..lengths.len()).collect();
        let keys: Vec<u64> = all.iter().map(|&r| 100 + r as u64).collect();
        let rates = DropoutRates::uniform(0.2);
        for kind in
            [HeadKind::SequenceClassification { num_labels: 3 }, HeadKind::TokenClassification { num_labels: 4 }]
        {
            let whole = Rows::of(&lengths, &all);
            // Labels of the rows of a micro-batch padded to `seq_len`: a class a sequence, or a tag on every other
            // real token (−100 on the rest and on padding) so the micro-batches hold different label counts.
            let labels_of = |rows: &[usize], seq_len: usize| -> Vec<i64> {
                match kind {
                    HeadKind::TokenClassification { .. } => rows
                        .iter()
                        .flat_map(|&r| {
                            (0..seq_len)
                                .map(move |i| if i < lengths[r] && i % 2 == 0 { ((r + i) % 4) as i64 } else { -100 })
                        })
                        .collect(),
                    _ => rows.iter().map(|&r| (r % 3) as i64).collect(),
                }
            };
            let count = |labels: &[i64]| labels.iter().filter(|&&l| l != -100).count();
            let mut model = TaskModel::init(config, kind, 5).unwrap();
            let labels = labels_of(&all, whole.seq_len);
            let drop = Dropout::seeded(rates, 3, &keys);
            let one = model.loss_and_gradients_with(&whole.tokens(), Labels::Classes(&labels), &drop).unwrap();
            let one_grads = model.grads().data().to_vec();

            let splits: [&[usize]; 3] = [&[0, 2, 4], &[1], &[3]];
            let parts: Vec<(Rows, Vec<i64>, Vec<u64>)> = splits
                .iter()
                .map(|rows| {
                    let r = Rows::of(&lengths, rows);
                    let labels = labels_of(rows, r.seq_len);
                    (r, labels, rows.iter().map(|&i| keys[i]).collect())
                })
                .collect();
            let drops: Vec<Dropout<'_>> = parts.iter().map(|(_, _, k)| Dropout::seeded(rates, 3, k)).collect();
            let micro: Vec<MicroBatch<'_>> = parts
                .iter()
                .zip(&drops)
                .map(|((rows, labels, _), drop)| MicroBatch {
                    tokens: rows.tokens(),
                    labels: Labels::Classes(labels),
                    drop,
                    weight: count(labels) as f32 / count(&labels_of(&all, whole.seq_len)) as f32,
                })
                .collect();
            let loss = model.loss_and_gradients_split(&micro).unwrap();

            // Float32 sums of the same terms grouped by micro-batch: a few ulps of the largest gradient.
            const TOL: f32 = 1e-5;
            assert!((one.loss - loss).abs() < TOL * one.loss.abs().max(1.0), "{kind:?}: loss {} vs {loss}", one.loss);
            let scale = one_grads.iter().fold(0.0f32, |m, g| m.max(g.abs()));
            let d = one_grads.iter().zip(model.grads().data()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(scale > 0.0 && d < TOL * scale, "{kind:?}: gradients differ by {d} (largest {scale})");

            // One micro-batch of weight 1 is the one-pass step, bit for bit.
            let single =
                [MicroBatch { tokens: whole.tokens(), labels: Labels::Classes(&labels), drop: &drop, weight: 1.0 }];
            let loss = model.loss_and_gradients_split(&single).unwrap();
            assert_eq!(loss.to_bits(), one.loss.to_bits());
            assert!(one_grads.iter().zip(model.grads().data()).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }

    /// The transposed weight copies are taken for a step of at least [`TRANSPOSE_MIN_STEP_TOKENS`] positions and
    /// not used below it, even when an earlier refresh left them (as a dev evaluation does); the forward products
    /// then read `W` itself, and the step's loss and gradients agree with the copies' to float rounding (the two
    /// layouts may sum in another order).
    #[test]
    fn transposed_copies_taken_by_step_size_change_only_rounding() {
        let config = ElectraConfig { vocab_size: 100, num_attention_heads: 4, ..ElectraConfig::tiny() };
        let kind = HeadKind::SequenceClassification { num_labels: 3 };
        let batch_of = |lengths: &[usize]| {
            let rows: Vec<usize> = (0..lengths.len()).collect();
            let classes: Vec<i64> = rows.iter().map(|&r| (r % 3) as i64).collect();
            let keys: Vec<u64> = rows.iter().map(|&r| 7 + r as u64).collect();
            (Rows::of(lengths, &rows), classes, keys)
        };
        // Split into one micro-batch, after an explicit refresh or not: (loss, gradients, copies held after).
        let split = |lengths: &[usize], refresh_first: bool| {
            let (batch, classes, keys) = batch_of(lengths);
            let drop = Dropout::seeded(DropoutRates::uniform(0.1), 4, &keys);
            let mut model = TaskModel::init(config, kind, 6).unwrap();
            if refresh_first {
                model.refresh_transposes();
            }
            let part =
                [MicroBatch { tokens: batch.tokens(), labels: Labels::Classes(&classes), drop: &drop, weight: 1.0 }];
            let loss = model.loss_and_gradients_split(&part).unwrap();
            (loss, model.grads().data().to_vec(), model.params().transposed_any())
        };
        let small = [9usize, 3, 6];
        assert!(batch_of(&small).0.tokens().rows() < TRANSPOSE_MIN_STEP_TOKENS);
        let (loss, grads, copied) = split(&small, false);
        assert!(!copied, "a small step takes no copies");
        let (loss_after_refresh, grads_after_refresh, copied) = split(&small, true);
        assert!(!copied, "a small step drops the copies an earlier refresh left");
        assert_eq!(loss.to_bits(), loss_after_refresh.to_bits());
        assert!(grads.iter().zip(&grads_after_refresh).all(|(a, b)| a.to_bits() == b.to_bits()));

        // The same step through the copies (`loss_and_gradients_with` always takes them).
        let (batch, classes, keys) = batch_of(&small);
        let drop = Dropout::seeded(DropoutRates::uniform(0.1), 4, &keys);
        let mut model = TaskModel::init(config, kind, 6).unwrap();
        let with_copies = model.loss_and_gradients_with(&batch.tokens(), Labels::Classes(&classes), &drop).unwrap();
        assert!(model.params().transposed_any());
        // Float32 sums of the same products in another order: a few ulps of the largest value.
        const TOL: f32 = 1e-5;
        assert!((loss - with_copies.loss).abs() < TOL * loss.abs().max(1.0), "loss {loss} vs {}", with_copies.loss);
        let scale = grads.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        let d = grads.iter().zip(model.grads().data()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(scale > 0.0 && d < TOL * scale, "gradients differ by {d} (largest {scale})");

        let large = [128usize; 8];
        assert!(batch_of(&large).0.tokens().rows() >= TRANSPOSE_MIN_STEP_TOKENS);
        assert!(split(&large, false).2, "a large step takes the copies");
    }
}
