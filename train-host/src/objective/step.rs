//! Steps 2-5 put together: one joint step of generator and discriminator, split into micro-batches and
//! data-parallel shares, with the gradients of both in one blob.

use super::*;

impl ElectraPretraining {
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
        let tokens = Tokens::from(batch);
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
        grads.accumulate(&micro_grads[..parts - 1], early.clone(), None);
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
            grads.accumulate(&micro_grads[..parts - 1], span.clone(), None);
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
        let (hidden, cache) = self.generator.forward_with(p, tokens, drop, Queries::All);
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
        let (hidden, cache) = self.discriminator.forward_with(p, tokens, drop, Queries::All);
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
pub(super) fn step_dropout_seed(rng: &TrainRng) -> u64 {
    rng.fork(DROPOUT_STREAM).next_u64()
}

/// The generator's and the discriminator's dropout for sequences `keys` (global rows) of a step.
pub(super) fn encoder_dropouts(rates: DropoutRates, seed: u64, keys: &[u64]) -> (Dropout<'_>, Dropout<'_>) {
    (Dropout::seeded(rates, seed ^ GENERATOR_DROPOUT, keys), Dropout::seeded(rates, seed, keys))
}
