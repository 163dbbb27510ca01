//! One sequence through the int8 ELECTRA: [`Model::run`].
//!
//! Dimension glossary: `V E H L A D F P S T` as in [`crate::config`], `R` rows per block, `C`
//! labels. Per layer (post-LayerNorm BERT block, as in HF):
//!
//! ```text
//! x [T, H] (f16 in the arena)
//!  ├─ attention, one head at a time (all T tokens):
//!  │    K_h = x·Wk_hᵀ, V_h = x·Wv_hᵀ      [T, D]  int8 per token
//!  │    for each block of R query rows:  Q = x·Wq_hᵀ / √D        [R, D] int8 per row
//!  │        P = softmax(Q·K_hᵀ)          [R, T]  float
//!  │        ctx_h = P·V_h                [R, D]  (P int16, V int8) → int8 per (head, token)
//!  └─ per block of R token rows:
//!       x1 = LN(x + Σ_h ctx_h·Wo[:, h]ᵀ + bo)        (int8 × int8 per head, float sum)
//!       x2 = LN(x1 + GELU(x1·Wiᵀ + bi)·Wo2ᵀ + bo2)   (int8 in, float GELU, int8 in)
//! ```
//!
//! Every matrix product is int8 (or int16 × int8) with int32 sums; LayerNorm, softmax and GELU
//! are float. Activations are quantized per row at run time (dynamic). Results do not depend on
//! `R`, the number of workers or the kernel twin: integer sums are exact and every float
//! operation runs in the same order.

use super::arena::{
    ArenaOptions, AttentionScratch, BlockScratch, Carver, Dims, EmbeddingScratch, HeadScratch, Plan, Shared,
};
use super::error::RunError;
use super::kernels::{self, PackedB};
use super::linear::{accumulate_columns, linear, quantize_rows, QRows};
use super::math::{gelu_in_place, layer_norm_in_place, softmax_in_place};
use super::options::RunOptions;
use super::parallel::{Parallel, MAX_WORKERS};
use super::quantize::quantize_row_i16;
use super::weights::{QLayerNorm, QLinear};
use crate::config::HeadKind;
use crate::input::SequenceInput;
use crate::model_file::layout::{HeadSpans, LayerSpans};
use crate::model_file::Model;
use crate::simd::multiversion;
use core::ops::Range;
use half::f16;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};

/// Rows per block that [`Model::run`] tries, largest first; it takes the largest that fits the
/// arena it is given. The last is [`MIN_ROWS_PER_BLOCK`], so [`Model::arena_bytes`] of
/// [`ArenaOptions::SMALLEST`] is the least `run` accepts.
const ROW_BLOCKS: [usize; 7] = [128, 64, 32, 16, 8, 4, MIN_ROWS_PER_BLOCK];

/// Rows per block of the smallest arena ([`ArenaOptions::SMALLEST`]): two rows let every kernel tile
/// reuse a weight row twice at a cost of a few KiB.
pub const MIN_ROWS_PER_BLOCK: usize = 2;

/// The head's output for one sequence, borrowed from the arena: `rows × cols` row-major.
/// - replaced-token detection: `[T, 1]`, one logit per token (> 0: replaced);
/// - masked LM: `[T, V]`; token classification: `[T, C]`; sequence classification: `[1, C]`.
#[derive(Debug)]
pub struct Logits<'r> {
    pub values: &'r [f32],
    pub rows: usize,
    pub cols: usize,
}

impl<'r> Logits<'r> {
    /// Row `i` (a token, or the one sequence row).
    pub fn row(&self, i: usize) -> &'r [f32] {
        &self.values[i * self.cols..(i + 1) * self.cols]
    }
}

/// The largest `|P|` in the int16 probabilities for `T` tokens: the `P·V` sums stay below 2^31
/// (`T · 127 · qmax`), and below 32767 for int16.
fn probability_qmax(t: usize) -> f32 {
    let bound = (i32::MAX as usize) / (127 * t.max(1));
    bound.min(32767) as f32
}

fn load_f16(bits: &[u16], out: &mut [f32]) {
    bits.reinterpret_cast::<f16>().convert_to_f32_slice(out);
}

fn store_f16(x: &[f32], bits: &mut [u16]) {
    bits.reinterpret_cast_mut::<f16>().convert_from_f32_slice(x);
}

multiversion! {
    /// `buf[r, c] ← sums[r, c] · row_scale[r] · col_scale[c]`: int32 sums in, f32 out, in place.
    fn scale_sums(buf: &mut [f32], cols: usize, row_scale: &[f32], col_scale: &[f32]) {
        let sums: &mut [i32] = bytemuck::cast_slice_mut(buf);
        for (row, &rs) in sums.chunks_exact_mut(cols).zip(row_scale) {
            for (v, &cs) in row.iter_mut().zip(col_scale) {
                *v = ((*v as f32) * (rs * cs)).to_bits() as i32;
            }
        }
    }
}

multiversion! {
    /// `p[j] ← p[j] · v_scale[j]`.
    fn mul_in_place(p: &mut [f32], v_scale: &[f32]) {
        for (p, &vs) in p.iter_mut().zip(v_scale) {
            *p *= vs;
        }
    }
}

multiversion! {
    /// `buf[r, c] ← sums[r, c] · row_scale[r]`: int32 sums in, f32 out, in place.
    fn scale_sum_rows(buf: &mut [f32], cols: usize, row_scale: &[f32]) {
        let sums: &mut [i32] = bytemuck::cast_slice_mut(buf);
        for (row, &rs) in sums.chunks_exact_mut(cols).zip(row_scale) {
            for v in row.iter_mut() {
                *v = ((*v as f32) * rs).to_bits() as i32;
            }
        }
    }
}

/// One slice of a phase's work.
struct Task<'x, O> {
    /// Token rows, or heads for attention.
    items: Range<usize>,
    out: &'x mut [O],
    /// The context scales of `items` (attention), or the scales of their quantized rows.
    out_scale: &'x mut [f32],
    /// The quantized rows of `items` (phases that write the hidden state, with the cache).
    out_q: &'x mut [i8],
    scratch: &'x mut [u8],
    result: Result<(), RunError>,
}

/// A phase's work on `(items, out, out_scale, out_q, scratch)`.
type TaskFn<'f, O> =
    dyn Fn(Range<usize>, &mut [O], &mut [f32], &mut [i8], &mut [u8]) -> Result<(), RunError> + Sync + 'f;

/// Per-item chunks of the outputs of a phase: `(slice, elements per item)`.
struct Outputs<'x, O> {
    out: (&'x mut [O], usize),
    scale: (&'x mut [f32], usize),
    q: (&'x mut [i8], usize),
}

impl<'x, O> Outputs<'x, O> {
    fn new(out: &'x mut [O], per_item: usize) -> Self {
        Self { out: (out, per_item), scale: (&mut [], 0), q: (&mut [], 0) }
    }

    fn with_scale(self, scale: &'x mut [f32], per_item: usize) -> Self {
        Self { scale: (scale, per_item), ..self }
    }

    fn with_q(self, q: &'x mut [i8], per_item: usize) -> Self {
        Self { q: (q, per_item), ..self }
    }
}

/// The hidden state's rows (`[T, H]` f16) and, with the cache, their quantized rows and scales.
fn hidden_outputs<'x>(d: &Dims, hidden: &'x mut [u16], x_q: &'x mut [i8], x_scale: &'x mut [f32]) -> Outputs<'x, u16> {
    let per_row = |n: usize| if d.cache_x { n } else { 0 };
    Outputs::new(hidden, d.h).with_q(x_q, per_row(d.h)).with_scale(x_scale, per_row(1))
}

/// The first `items · per_item` elements of `rest` (as many as there are), leaving the others.
fn take_chunk<'x, T>(rest: &mut &'x mut [T], items: usize, per_item: usize) -> &'x mut [T] {
    let len = (items * per_item).min(rest.len());
    let (chunk, tail) = core::mem::take(rest).split_at_mut(len);
    *rest = tail;
    chunk
}

/// Splits `0..count` into one contiguous range per worker, each output into the matching chunks
/// of its per-item elements, runs `f` on each, and returns the first error.
fn run_tasks<P: Parallel, O: Send>(
    parallel: &P,
    scratches: &mut [&mut [u8]],
    count: usize,
    outputs: Outputs<'_, O>,
    f: &TaskFn<'_, O>,
) -> Result<(), RunError> {
    let available = scratches.len();
    let workers = available.min(count).max(1);
    let chunk = count.div_ceil(workers);
    let mut tasks: heapless::Vec<Task<O>, MAX_WORKERS> = heapless::Vec::new();
    let Outputs { out: (mut out_rest, per_item), scale: (mut scale_rest, per_scale), q: (mut q_rest, per_q) } = outputs;
    for (w, scratch) in scratches.iter_mut().enumerate().take(workers) {
        let items = (w * chunk).min(count)..((w + 1) * chunk).min(count);
        let out = take_chunk(&mut out_rest, items.len(), per_item);
        let out_scale = take_chunk(&mut scale_rest, items.len(), per_scale);
        let out_q = take_chunk(&mut q_rest, items.len(), per_q);
        let task = Task { items, out, out_scale, out_q, scratch, result: Ok(()) };
        if tasks.push(task).is_err() {
            return Err(RunError::TooManyWorkers { workers: available, max: MAX_WORKERS });
        }
    }
    parallel.for_each(&mut tasks, &|t: &mut Task<O>| {
        t.result = f(t.items.clone(), t.out, t.out_scale, t.out_q, t.scratch);
    });
    tasks.into_iter().map(|t| t.result).find(|r| r.is_err()).unwrap_or(Ok(()))
}

/// Views of one encoder layer's weights.
struct LayerWeights<'a> {
    query: QLinear<'a>,
    key: QLinear<'a>,
    value: QLinear<'a>,
    attention_output: QLinear<'a>,
    attention_layer_norm: QLayerNorm<'a>,
    intermediate: QLinear<'a>,
    output: QLinear<'a>,
    output_layer_norm: QLayerNorm<'a>,
}

impl<'a> LayerWeights<'a> {
    fn new(model: &Model<'a>, s: &LayerSpans) -> Result<Self, RunError> {
        Ok(Self {
            query: model.linear(s.query)?,
            key: model.linear(s.key)?,
            value: model.linear(s.value)?,
            attention_output: model.linear(s.attention_output)?,
            attention_layer_norm: model.layer_norm(s.attention_layer_norm)?,
            intermediate: model.linear(s.intermediate)?,
            output: model.linear(s.output)?,
            output_layer_norm: model.layer_norm(s.output_layer_norm)?,
        })
    }

    /// These views reading the pre-packed copy `packed` of their weights (layer order of
    /// [`super::prepack`]).
    fn with_packed(mut self, packed: [PackedB<'a>; 6]) -> Self {
        let [query, key, value, attention_output, intermediate, output] = packed;
        self.query.packed = Some(query);
        self.key.packed = Some(key);
        self.value.packed = Some(value);
        self.attention_output.packed = Some(attention_output);
        self.intermediate.packed = Some(intermediate);
        self.output.packed = Some(output);
        self
    }
}

impl<'a> Model<'a> {
    /// Exact arena size in bytes for [`Model::run`] on `seq_len` tokens in the plan `options`
    /// (`usize::MAX` if that overflows). Given at least this much, `run` uses that plan or a
    /// faster one. [`ArenaOptions::SMALLEST`] gives the least `run` accepts (ELECTRA-Small at 128
    /// tokens: 120 KiB); more rows per block, workers and the cache buy speed with memory.
    pub fn arena_bytes(&self, seq_len: usize, options: ArenaOptions) -> usize {
        let rows = options.rows_per_block.max(MIN_ROWS_PER_BLOCK);
        let dims = Dims::new(self.config(), self.head(), seq_len, rows, options.cache_quantized_hidden);
        Plan::new(&dims).ok().and_then(|p| p.total(options.workers.max(1))).unwrap_or(usize::MAX)
    }

    /// Runs one sequence through the encoder and the head; the logits are a slice of `arena`.
    ///
    /// - `input`: the token ids, and optionally token types (all 0 when absent) and an HF
    ///   `attention_mask` (`0` = padding: no token attends to it; its own logits are computed like
    ///   HF's and mean nothing). A sequence on its own needs no mask; it is for batched host input.
    ///   Checked first ([`SequenceInput::validate`]), as the float path checks it.
    /// - `arena`: 4-byte aligned, at least [`Model::arena_bytes`]`(T, options)` bytes for
    ///   [`ArenaOptions::SMALLEST`] with `workers: options.parallel.workers()`. Of the plans that
    ///   fit, `run` takes the one with the most rows per block, and the cache of the quantized
    ///   hidden state if it also fits.
    /// - `options`: [`RunOptions::default`] (one core) or other workers and pre-packed weights.
    ///
    /// The logits are the same bits for every arena, every option and every kernel twin.
    pub fn run<'r, P: Parallel>(
        &self,
        input: &SequenceInput<'_>,
        arena: &'r mut [u8],
        options: &RunOptions<'_, P>,
    ) -> Result<Logits<'r>, RunError> {
        let RunOptions { parallel, packed } = *options;
        let SequenceInput { input_ids: ids, token_type_ids: token_types, attention_mask } = *input;
        if let Some(packed) = packed {
            packed.check_source(self)?;
        }
        let config = *self.config();
        let t = ids.len();
        input.validate(&config)?;
        // A mask of all ones is the same as no mask: the unmasked attention kernel is then used.
        let key_mask = attention_mask.filter(|mask| mask.contains(&0));
        let workers = parallel.workers().max(1);
        if workers > MAX_WORKERS {
            return Err(RunError::TooManyWorkers { workers, max: MAX_WORKERS });
        }
        let address = arena.as_ptr() as usize;
        if !address.is_multiple_of(4) {
            return Err(RunError::ArenaMisaligned { address });
        }
        let fits = |r: usize, cache_x: bool| -> Option<(Dims, Plan)> {
            let dims = Dims::new(&config, self.head(), t, r, cache_x);
            let plan = Plan::new(&dims).ok()?;
            (plan.total(workers)? <= arena.len()).then_some((dims, plan))
        };
        let chosen = ROW_BLOCKS.iter().find_map(|&r| fits(r.min(t), true).or_else(|| fits(r.min(t), false)));
        let Some((d, plan)) = chosen else {
            let needed = self.arena_bytes(t, ArenaOptions { workers, ..ArenaOptions::SMALLEST });
            return Err(RunError::ArenaTooSmall { needed, found: arena.len() });
        };

        let (shared_bytes, rest) = arena.split_at_mut(plan.shared);
        let mut scratches: heapless::Vec<&mut [u8], MAX_WORKERS> = heapless::Vec::new();
        for chunk in rest.chunks_exact_mut(plan.scratch.max(1)).take(workers) {
            let _ = scratches.push(chunk);
        }
        let shared = Shared::carve(&mut Carver::new(shared_bytes), &d)?;
        let token_types = token_types.unwrap_or(&[]);

        // Embeddings → hidden, and with the cache its rows quantized for the first layer (by the
        // same task, which saves a phase and its wait for every worker).
        let outputs = hidden_outputs(&d, &mut *shared.hidden, &mut *shared.x_q, &mut *shared.x_scale);
        run_tasks(parallel, &mut scratches, t, outputs, &|rows, hidden, x_scale, x_q, scratch| {
            self.embed_rows(&d, ids, token_types, rows.clone(), hidden, scratch)?;
            quantize_hidden_rows(&d, rows.len(), hidden, x_q, x_scale, scratch)
        })?;

        for l in 0..config.num_hidden_layers {
            let w = LayerWeights::new(self, &self.layer_spans(l))?;
            let w = match packed.and_then(|p| p.layer(self, l)) {
                Some(views) => w.with_packed(views),
                None => w,
            };
            let (x_q, x_scale): (&[i8], &[f32]) = (shared.x_q, shared.x_scale);
            let hidden: &[u16] = shared.hidden;
            let per_head = t * d.d;
            let outputs = Outputs::new(&mut *shared.context, per_head).with_scale(&mut *shared.context_scale, t);
            run_tasks(parallel, &mut scratches, d.a, outputs, &|heads, context, context_scale, _, scratch| {
                let x = LayerInput { hidden, x_q, x_scale };
                attention_heads(&d, &w, heads, x, key_mask, context, context_scale, scratch)
            })?;
            let (context, context_scale): (&[i8], &[f32]) = (shared.context, shared.context_scale);
            // The new hidden rows, and with the cache the next layer's quantized input.
            let outputs = hidden_outputs(&d, &mut *shared.hidden, &mut *shared.x_q, &mut *shared.x_scale);
            let last = l + 1 == config.num_hidden_layers;
            run_tasks(parallel, &mut scratches, t, outputs, &|rows, hidden, x_scale, x_q, scratch| {
                block_rows(&d, &w, rows.clone(), hidden, context, context_scale, scratch)?;
                if last {
                    return Ok(());
                }
                quantize_hidden_rows(&d, rows.len(), hidden, x_q, x_scale, scratch)
            })?;
        }

        let hidden: &[u16] = shared.hidden;
        let (rows, cols) = match self.head() {
            HeadKind::SequenceClassification { num_labels } => {
                // Only the first token feeds the head.
                let mut one = [&mut *scratches[0]];
                let outputs = Outputs::new(&mut *shared.logits, num_labels);
                run_tasks(parallel, &mut one, 1, outputs, &|rows, logits, _, _, scratch| {
                    self.head_rows(&d, rows, hidden, logits, scratch)
                })?;
                (1, num_labels)
            }
            _ => {
                let outputs = Outputs::new(&mut *shared.logits, d.logits_per_row);
                run_tasks(parallel, &mut scratches, t, outputs, &|rows, logits, _, _, scratch| {
                    self.head_rows(&d, rows, hidden, logits, scratch)
                })?;
                (t, d.logits_per_row)
            }
        };
        Ok(Logits { values: shared.logits, rows, cols })
    }

    /// `hidden[rows] = project(LN(word[id] + position[t] + token_type[type]))`.
    fn embed_rows(
        &self,
        d: &Dims,
        ids: &[u32],
        token_types: &[u32],
        rows: Range<usize>,
        hidden: &mut [u16],
        scratch: &mut [u8],
    ) -> Result<(), RunError> {
        let s = EmbeddingScratch::carve(&mut Carver::new(scratch), d)?;
        let layout = self.layout();
        let word = self.embedding(layout.word_embeddings)?;
        let position = self.embedding(layout.position_embeddings)?;
        let token_type = self.embedding(layout.token_type_embeddings)?;
        let ln = self.layer_norm(layout.embeddings_layer_norm)?;
        let project = layout.embeddings_project.map(|p| self.linear(p)).transpose()?;
        for r0 in rows.clone().step_by(d.r) {
            let n = d.r.min(rows.end - r0);
            for (i, x) in s.x.chunks_exact_mut(d.e).take(n).enumerate() {
                let t = r0 + i;
                x.fill(0.0);
                word.add_row(ids[t] as usize, x);
                token_type.add_row(token_types.get(t).copied().unwrap_or(0) as usize, x);
                position.add_row(t, x);
                layer_norm_in_place(x, &ln);
            }
            let out = &mut hidden[(r0 - rows.start) * d.h..(r0 - rows.start + n) * d.h];
            match &project {
                Some(p) => {
                    let xq = quantize_rows(&s.x[..n * d.e], d.e, n, s.xq, s.xs);
                    linear(xq, p, s.proj);
                    store_f16(&s.proj[..n * d.h], out);
                }
                None => store_f16(&s.x[..n * d.e], out),
            }
        }
        Ok(())
    }

    /// The head on token rows `rows` (just row 0 for sequence classification); `logits` holds
    /// those rows' logits.
    fn head_rows(
        &self,
        d: &Dims,
        rows: Range<usize>,
        hidden: &[u16],
        logits: &mut [f32],
        scratch: &mut [u8],
    ) -> Result<(), RunError> {
        let s = HeadScratch::carve(&mut Carver::new(scratch), d)?;
        let head = self.layout().head_spans;
        for r0 in rows.clone().step_by(d.r) {
            let n = d.r.min(rows.end - r0);
            load_f16(&hidden[r0 * d.h..(r0 + n) * d.h], &mut s.x[..n * d.h]);
            let x = quantize_rows(&s.x[..n * d.h], d.h, n, s.xq, s.xs);
            let out = &mut logits[(r0 - rows.start) * d.logits_per_row..(r0 - rows.start + n) * d.logits_per_row];
            match head {
                HeadSpans::ReplacedTokenDetection { dense, prediction } => {
                    let y = dense_gelu(x, &self.linear(dense)?, None, s.dense, s.dq, s.ds);
                    linear(y, &self.linear(prediction)?, out);
                }
                HeadSpans::SequenceClassification { dense, out_proj } => {
                    let y = dense_gelu(x, &self.linear(dense)?, None, s.dense, s.dq, s.ds);
                    linear(y, &self.linear(out_proj)?, out);
                }
                HeadSpans::MaskedLm { dense, layer_norm, bias } => {
                    let ln = self.layer_norm(layer_norm)?;
                    let y = dense_gelu(x, &self.linear(dense)?, Some(&ln), s.dense, s.dq, s.ds);
                    // The output layer is tied to the word embeddings: per-row scales are exactly
                    // per-output-channel scales (an int4 table's group scales, an int4 linear's).
                    let word = self.embedding(self.layout().word_embeddings)?;
                    let lm = word.as_linear(self.f32s(bias)?);
                    linear(y, &lm, out);
                }
                HeadSpans::TokenClassification { classifier } => linear(x, &self.linear(classifier)?, out),
            }
        }
        Ok(())
    }
}

/// A head's `dense → GELU (→ LayerNorm)`, quantized per row for the output layer.
fn dense_gelu<'s>(
    x: QRows,
    dense: &QLinear,
    ln: Option<&QLayerNorm>,
    buf: &mut [f32],
    q: &'s mut [i8],
    scale: &'s mut [f32],
) -> QRows<'s> {
    let (n, width) = (x.rows, dense.n_out);
    linear(x, dense, buf);
    let y = &mut buf[..n * width];
    gelu_in_place(y);
    if let Some(ln) = ln {
        y.chunks_exact_mut(width).for_each(|row| layer_norm_in_place(row, ln));
    }
    quantize_rows(y, width, n, q, scale)
}

/// With the cache (`x_q` not empty): `x_q[i], x_scale[i]` = row `i < rows` of `hidden`, quantized
/// (the next layer's input, from the f16 values it will read).
fn quantize_hidden_rows(
    d: &Dims,
    rows: usize,
    hidden: &[u16],
    x_q: &mut [i8],
    x_scale: &mut [f32],
    scratch: &mut [u8],
) -> Result<(), RunError> {
    if !d.cache_x {
        return Ok(());
    }
    let row: &mut [f32] = Carver::new(scratch).take(d.h)?;
    for i in 0..rows {
        load_f16(&hidden[i * d.h..(i + 1) * d.h], row);
        x_scale[i] = super::quantize::quantize_row(row, &mut x_q[i * d.h..(i + 1) * d.h]);
    }
    Ok(())
}

/// A layer's input: the f16 hidden state, and its quantized rows if the plan caches them.
#[derive(Clone, Copy)]
struct LayerInput<'x> {
    hidden: &'x [u16],
    x_q: &'x [i8],
    x_scale: &'x [f32],
}

impl<'x> LayerInput<'x> {
    /// Rows `r0..r0 + n` quantized: from the cache, or quantized now into `xq`/`xs` via `x`.
    fn rows<'s>(&self, d: &Dims, r0: usize, n: usize, x: &mut [f32], xq: &'s mut [i8], xs: &'s mut [f32]) -> QRows<'s>
    where
        'x: 's,
    {
        if d.cache_x {
            return QRows { q: &self.x_q[r0 * d.h..], scale: &self.x_scale[r0..], rows: n, stride: d.h };
        }
        load_f16(&self.hidden[r0 * d.h..(r0 + n) * d.h], &mut x[..n * d.h]);
        quantize_rows(&x[..n * d.h], d.h, n, xq, xs)
    }
}

/// Attention for heads `heads` over all tokens (keys with mask 0 excluded); writes their contexts (`[heads, T, D]`, int8)
/// and per-(head, token) scales.
#[allow(clippy::too_many_arguments)]
fn attention_heads(
    d: &Dims,
    w: &LayerWeights,
    heads: Range<usize>,
    input: LayerInput,
    key_mask: Option<&[u8]>,
    context: &mut [i8],
    context_scale: &mut [f32],
    scratch: &mut [u8],
) -> Result<(), RunError> {
    let s = AttentionScratch::carve(&mut Carver::new(scratch), d)?;
    let (t, dd) = (d.t, d.d);
    let inv_sqrt_d = 1.0 / libm::sqrtf(dd as f32);
    let p_qmax = probability_qmax(t);
    for (slot, head) in heads.enumerate() {
        let (wq, wk, wv) = (w.query.rows(head * dd, dd), w.key.rows(head * dd, dd), w.value.rows(head * dd, dd));

        // Keys and values of every token: K [T, D] and Vᵀ [D, T], int8 per token.
        for r0 in (0..t).step_by(d.r) {
            let n = d.r.min(t - r0);
            let x = input.rows(d, r0, n, s.x, s.xq, s.xs);
            linear(x, &wk, s.proj);
            quantize_rows(&s.proj[..n * dd], dd, n, &mut s.key[r0 * dd..], &mut s.key_scale[r0..]);
            linear(x, &wv, s.proj);
            quantize_rows(&s.proj[..n * dd], dd, n, s.qq, &mut s.value_scale[r0..]);
            // Vᵀ [D, T]: row by row of Vᵀ, so the stores run along a line (the loads stride
            // through the n × D block just quantized, which is in L1).
            for (c, vt_row) in s.value_t.chunks_exact_mut(t).take(dd).enumerate() {
                for (i, vt) in vt_row[r0..r0 + n].iter_mut().enumerate() {
                    *vt = s.qq[i * dd + c];
                }
            }
        }

        let context_h = &mut context[slot * t * dd..(slot + 1) * t * dd];
        let scale_h = &mut context_scale[slot * t..(slot + 1) * t];
        for r0 in (0..t).step_by(d.r) {
            let n = d.r.min(t - r0);
            // Q [n, D], int8 per row; 1/√D folds into the row scales.
            let x = input.rows(d, r0, n, s.x, s.xq, s.xs);
            linear(x, &wq, s.proj);
            quantize_rows(&s.proj[..n * dd], dd, n, s.qq, s.qs);
            s.qs[..n].iter_mut().for_each(|q| *q *= inv_sqrt_d);

            // Scores [n, T] = Q·Kᵀ, then softmax rows.
            let scores = &mut s.scores[..n * t];
            kernels::gemm_i8(n, t, dd, s.qq, dd, s.key, dd, bytemuck::cast_slice_mut(&mut *scores), t);
            scale_sums(scores, t, &s.qs[..n], &s.key_scale[..t]);
            if let Some(mask) = key_mask {
                // HF adds float32's lowest value to masked scores: their probabilities vanish.
                for row in scores.chunks_exact_mut(t) {
                    row.iter_mut().zip(mask).filter(|(_, &m)| m == 0).for_each(|(v, _)| *v = f32::MIN);
                }
            }
            for row in scores.chunks_exact_mut(t) {
                softmax_in_place(row);
                // P·V with V's per-token scales folded into P.
                mul_in_place(row, &s.value_scale[..t]);
            }
            for ((row, pq), ps) in scores.chunks_exact(t).zip(s.pq.chunks_exact_mut(t)).zip(s.ps.iter_mut()) {
                *ps = quantize_row_i16(row, pq, p_qmax);
            }

            // Context [n, D] = P·V → int8 per (head, token).
            let ctx = &mut s.proj[..n * dd];
            kernels::gemm_i16_i8(n, dd, t, s.pq, t, s.value_t, t, bytemuck::cast_slice_mut(&mut *ctx), dd);
            scale_sum_rows(ctx, dd, &s.ps[..n]);
            quantize_rows(ctx, dd, n, &mut context_h[r0 * dd..], &mut scale_h[r0..]);
        }
    }
    Ok(())
}

/// Token rows `rows`: attention output + residual + LayerNorm, then the FFN + residual +
/// LayerNorm, written back over those rows of `hidden`.
fn block_rows(
    d: &Dims,
    w: &LayerWeights,
    rows: Range<usize>,
    hidden: &mut [u16],
    context: &[i8],
    context_scale: &[f32],
    scratch: &mut [u8],
) -> Result<(), RunError> {
    let s = BlockScratch::carve(&mut Carver::new(scratch), d)?;
    let (t, h, f, dd) = (d.t, d.h, d.f, d.d);
    for r0 in rows.clone().step_by(d.r) {
        let n = d.r.min(rows.end - r0);
        let hidden_rows = &mut hidden[(r0 - rows.start) * h..(r0 - rows.start + n) * h];

        // x1 = LN(x + bo + Σ_h ctx_h · Wo[:, h·D..(h+1)·D]ᵀ)
        let acc = &mut s.acc[..n * h];
        load_f16(hidden_rows, acc);
        for row in acc.chunks_exact_mut(h) {
            row.iter_mut().zip(w.attention_output.bias).for_each(|(a, b)| *a += b);
        }
        for head in 0..d.a {
            let at = head * t * dd + r0 * dd;
            let ctx =
                QRows { q: &context[at..at + n * dd], scale: &context_scale[head * t + r0..], rows: n, stride: dd };
            accumulate_columns(ctx, &w.attention_output, head * dd, dd, s.sums, acc);
        }
        acc.chunks_exact_mut(h).for_each(|row| layer_norm_in_place(row, &w.attention_layer_norm));

        // x2 = LN(x1 + GELU(x1·Wiᵀ + bi)·Wo2ᵀ + bo2)
        let x1 = quantize_rows(acc, h, n, s.xq, s.xs);
        linear(x1, &w.intermediate, s.inter);
        gelu_in_place(&mut s.inter[..n * f]);
        let inter = quantize_rows(&s.inter[..n * f], f, n, s.inter_q, s.inter_s);
        let out: &mut [f32] = bytemuck::cast_slice_mut(&mut s.sums[..n * h]);
        linear(inter, &w.output, out);
        out.iter_mut().zip(acc.iter()).for_each(|(o, a)| *o += a);
        out.chunks_exact_mut(h).for_each(|row| layer_norm_in_place(row, &w.output_layer_norm));
        store_f16(out, hidden_rows);
    }
    Ok(())
}
