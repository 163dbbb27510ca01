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
//!
//! The parts, in the order a run calls them: [`Model::run`] here (the layers, in order), the
//! embeddings (`embeddings.rs`), attention (`attention.rs`), the rest of each layer
//! (`encoder_layer.rs`), the head (`head.rs`), and the plan and the per-worker tasks every phase
//! is split into (`tasks.rs`).

use super::arena::{ArenaOptions, Dims, Plan};
use super::attention::{attention_heads, LayerInput};
use super::encoder_layer::{block_rows, quantize_hidden_rows, LayerWeights};
use super::error::RunError;
use super::options::RunOptions;
use super::parallel::Parallel;
use super::tasks::{hidden_outputs, plan_arena, run_tasks, Outputs, RunArena};
use crate::config::HeadKind;
use crate::input::SequenceInput;
use crate::model_file::Model;

/// Rows per block of the smallest arena ([`ArenaOptions::SMALLEST`]): two rows let every kernel
/// tile reuse a weight row twice at a cost of a few KiB.
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
        if let Some(packed) = packed {
            packed.check_source(self)?;
        }
        input.validate(self.config())?;
        let SequenceInput { input_ids: ids, token_type_ids, attention_mask } = *input;
        let token_types = token_type_ids.unwrap_or(&[]);
        // A mask of all ones is the same as no mask: the unmasked attention kernel is then used.
        let key_mask = attention_mask.filter(|mask| mask.contains(&0));
        let t = ids.len();
        let RunArena { d, shared, mut scratches } = plan_arena(self, t, parallel.workers(), arena)?;

        // Embeddings → hidden, and with the cache its rows quantized for the first layer (by the
        // same task, which saves a phase and its wait for every worker).
        let outputs = hidden_outputs(&d, &mut *shared.hidden, &mut *shared.x_q, &mut *shared.x_scale);
        run_tasks(parallel, &mut scratches, t, outputs, &|rows, hidden, x_scale, x_q, scratch| {
            self.embed_rows(&d, ids, token_types, rows.clone(), hidden, scratch)?;
            quantize_hidden_rows(&d, rows.len(), hidden, x_q, x_scale, scratch)
        })?;

        let layers = self.config().num_hidden_layers;
        for l in 0..layers {
            let w = LayerWeights::new(self, &self.layer_spans(l))?;
            let w = match packed.and_then(|p| p.layer(self, l)) {
                Some(views) => w.with_packed(views),
                None => w,
            };
            // Attention: each worker a group of heads, over all tokens.
            let (x_q, x_scale): (&[i8], &[f32]) = (shared.x_q, shared.x_scale);
            let hidden: &[u16] = shared.hidden;
            let per_head = t * d.d;
            let outputs = Outputs::new(&mut *shared.context, per_head).with_scale(&mut *shared.context_scale, t);
            run_tasks(parallel, &mut scratches, d.a, outputs, &|heads, context, context_scale, _, scratch| {
                let x = LayerInput { hidden, x_q, x_scale };
                attention_heads(&d, &w, heads, x, key_mask, context, context_scale, scratch)
            })?;
            // Attention output and FFN: each worker a group of token rows. The new hidden rows,
            // and with the cache the next layer's quantized input.
            let (context, context_scale): (&[i8], &[f32]) = (shared.context, shared.context_scale);
            let outputs = hidden_outputs(&d, &mut *shared.hidden, &mut *shared.x_q, &mut *shared.x_scale);
            let last = l + 1 == layers;
            run_tasks(parallel, &mut scratches, t, outputs, &|rows, hidden, x_scale, x_q, scratch| {
                block_rows(&d, &w, rows.clone(), hidden, context, context_scale, scratch)?;
                if last {
                    return Ok(());
                }
                quantize_hidden_rows(&d, rows.len(), hidden, x_q, x_scale, scratch)
            })?;
        }

        // The head.
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
}
