//! Multi-head self-attention with a padding mask (HF `ElectraSelfAttention` + the `output.dense` of
//! `ElectraSelfOutput`; the residual and LayerNorm live in `layer.rs`).
//!
//! Glossary: `B` sequences of `T` tokens (`N = B·T` rows), `H` hidden, `A` heads of `D = H/A`.

use super::dropout::{Dropout, Keying, ScaledMask};
use super::gemm::{matmul_uninit, Threads};
use super::kernels;
use super::layout::{row_major, with_row_major_mut};
use super::linear::Linear;
use super::params::{ParamSet, ParamSetBuilder};
use super::Tokens;
use core::mem::MaybeUninit;
use ndarray::parallel::prelude::*;
use ndarray::{s, Array2, Array4, ArrayView2, ArrayViewMut2, Axis};

/// Which query rows a block computes: every token's, or only each sequence's first (`[CLS]`), which is all a
/// sequence classifier reads from the last block. Keys and values are every token's either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queries {
    All,
    First,
}

impl Queries {
    /// Query rows per sequence of `t` tokens (`Tq`).
    pub fn per_sequence(self, t: usize) -> usize {
        match self {
            Self::All => t,
            Self::First => t.min(1),
        }
    }
}

/// Rows `0..tq` of each of `blocks` row-major `[t, width]` blocks (the first tokens' part of a per-token tensor or
/// dropout mask): `[blocks·tq, width]`.
pub fn first_rows_of_blocks(values: &[f32], blocks: usize, t: usize, tq: usize, width: usize) -> Vec<f32> {
    if tq == t {
        return values.to_vec();
    }
    (0..blocks).flat_map(|i| &values[i * t * width..(i * t + tq) * width]).copied().collect()
}

#[derive(Clone, Debug)]
pub struct SelfAttention {
    /// `self.query`, `self.key`, `self.value` run as one `[3H, H]` product.
    pub qkv: Linear,
    /// `output.dense`, `[H, H]`.
    pub output: Linear,
    pub num_heads: usize,
    pub head_size: usize,
}

#[derive(Debug)]
pub struct AttentionCache {
    /// `[N, 3H]`: queries, keys, values side by side; head `a` uses columns `a·D..(a+1)·D` of each third.
    pub qkv: Array2<f32>,
    /// Softmax probabilities `[B, A, Tq, T]` (query row, key column); 0 on masked keys. `Tq = T`, or 1 when only
    /// the first tokens were queried ([`Queries::First`]).
    pub probs: Array4<f32>,
    /// Heads' outputs concatenated, `[B·Tq, H]`: the input of `output.dense`.
    pub context: Array2<f32>,
    /// Dropout on the probabilities, `[B, A, Tq, T]` row-major, scaled (`None`: no dropout). `probs` stays the
    /// softmax itself, which its backward needs; the context used `probs ⊙ mask`.
    pub probs_mask: Option<ScaledMask>,
}

impl SelfAttention {
    /// Adds the HF tensors under `prefix` (`electra.encoder.layer.{l}.attention`).
    pub fn new(b: &mut ParamSetBuilder, prefix: &str, hidden: usize, num_heads: usize) -> Self {
        let qkv_names = ["query", "key", "value"].map(|n| format!("{prefix}.self.{n}"));
        let qkv = Linear::stacked(b, &qkv_names, hidden, hidden);
        let output = Linear::new(b, &format!("{prefix}.output.dense"), hidden, hidden);
        Self { qkv, output, num_heads, head_size: hidden / num_heads }
    }

    /// `x [N, H] → output.dense(attention(x)) [N, H]`, without dropout.
    pub fn forward(&self, p: &ParamSet, x: ArrayView2<'_, f32>, tokens: &Tokens<'_>) -> (Array2<f32>, AttentionCache) {
        self.forward_with(p, x, tokens, &Dropout::off(), "", Queries::All)
    }

    /// [`SelfAttention::forward`] with dropout on the probabilities at `{site}.probs` (`site` is
    /// `layer.{l}.attention`), for the `queries` rows: the output is `[B·Tq, H]`.
    pub fn forward_with(
        &self,
        p: &ParamSet,
        x: ArrayView2<'_, f32>,
        tokens: &Tokens<'_>,
        drop: &Dropout<'_>,
        site: &str,
        queries: Queries,
    ) -> (Array2<f32>, AttentionCache) {
        let qkv = self.qkv.forward(p, x);
        let (b, a, t) = (tokens.batch_size, self.num_heads, tokens.seq_len);
        let tq = queries.per_sequence(t);
        let probs_site = format!("{site}.probs");
        let keying = Keying::HeadQueryKey { side: t };
        // The whole [B, A, T, T] mask, then the queried rows: a first token's mask is the one it has in a full pass.
        let probs_mask = drop
            .mask_keyed(&probs_site, drop.rates.attention, b, b * a * t * t, keying)
            .map(|mask| first_rows_of_blocks(&mask, b * a, t, tq, t));
        let (probs, context) = self.attend(qkv.view(), tokens, probs_mask.as_deref(), tq);
        let out = self.output.forward(p, context.view());
        (out, AttentionCache { qkv, probs, context, probs_mask })
    }

    /// Inference: `x += output.dense(attention(x))`, the residual added in place; no probabilities kept (each
    /// head's `[T, T]` block lives in one scratch buffer per sequence).
    pub fn infer_add(&self, p: &ParamSet, x: &mut Array2<f32>, tokens: &Tokens<'_>, threads: Threads) {
        let context = self.infer_context(p, x.view(), tokens, threads, tokens.seq_len);
        self.output.forward_add(p, context.view(), x, threads);
    }

    /// Inference for the first tokens only: `x_first + output.dense(attention(x)_first)`, `[B, H]`.
    pub fn infer_first(
        &self,
        p: &ParamSet,
        x: ArrayView2<'_, f32>,
        tokens: &Tokens<'_>,
        threads: Threads,
    ) -> Array2<f32> {
        let tq = Queries::First.per_sequence(tokens.seq_len);
        let context = self.infer_context(p, x, tokens, threads, tq);
        let mut out = x.slice(s![..;tokens.seq_len.max(1), ..]).to_owned();
        self.output.forward_add(p, context.view(), &mut out, threads);
        out
    }

    /// The heads' outputs `[B·Tq, H]` for the first `tq` queries of each sequence, without dropout.
    fn infer_context(
        &self,
        p: &ParamSet,
        x: ArrayView2<'_, f32>,
        tokens: &Tokens<'_>,
        threads: Threads,
        tq: usize,
    ) -> Array2<f32> {
        let qkv = self.qkv.forward_on(p, x, threads);
        let (t, a_heads, d) = (tokens.seq_len, self.num_heads, self.head_size);
        let h = a_heads * d;
        let scale = 1.0 / (d as f32).sqrt();
        let mut context = Array2::uninit((tokens.batch_size * tq, h));
        let one_sequence = |(b, mut context_b): (usize, ArrayViewMut2<'_, MaybeUninit<f32>>)| {
            let rows = qkv.slice(s![b * t..(b + 1) * t, ..]); // [T, 3H]
            let keep = key_weights(&tokens.attention_mask[b * t..(b + 1) * t]);
            let mut scores = Array2::<f32>::uninit((tq, t));
            for a in 0..a_heads {
                let q = rows.slice(s![..tq, a * d..(a + 1) * d]); // [Tq, D]
                let k = rows.slice(s![.., h + a * d..h + (a + 1) * d]);
                let v = rows.slice(s![.., 2 * h + a * d..2 * h + (a + 1) * d]);
                matmul_uninit(q, k.t(), scores.view_mut(), Threads::One);
                // SAFETY: the product wrote every score of this head.
                let mut pa = unsafe { scores.view_mut().assume_init() };
                with_row_major_mut(&mut pa, |scores| kernels::masked_softmax_rows(scores, &keep, scale));
                matmul_uninit(pa.view(), v, context_b.slice_mut(s![.., a * d..(a + 1) * d]), Threads::One);
            }
        };
        let sequences = context.axis_chunks_iter_mut(Axis(0), tq.max(1));
        match threads {
            Threads::All => sequences.into_par_iter().enumerate().for_each(one_sequence),
            Threads::One => sequences.enumerate().for_each(one_sequence),
        }
        // SAFETY: every sequence wrote every head's context columns.
        unsafe { context.assume_init() }
    }

    /// Accumulates every parameter gradient and returns `dx [N, H]`.
    pub fn backward(
        &self,
        p: &ParamSet,
        g: &mut ParamSet,
        x: ArrayView2<'_, f32>,
        tokens: &Tokens<'_>,
        cache: &AttentionCache,
        dout: ArrayView2<'_, f32>,
    ) -> Array2<f32> {
        let dcontext = self.output.backward(p, g, cache.context.view(), dout);
        let dqkv = self.attend_backward(cache, dcontext.view(), tokens);
        self.qkv.backward(p, g, x, dqkv.view())
    }

    /// `dropout(softmax(Q·Kᵀ/√D + mask))·V` for every sequence and head, for the first `tq` queries of each
    /// sequence (all `T`, or the first token); sequences run in parallel.
    fn attend(
        &self,
        qkv: ArrayView2<'_, f32>,
        tokens: &Tokens<'_>,
        dropout: Option<&[f32]>,
        tq: usize,
    ) -> (Array4<f32>, Array2<f32>) {
        let (bsz, t, a_heads, d) = (tokens.batch_size, tokens.seq_len, self.num_heads, self.head_size);
        let h = a_heads * d;
        let scale = 1.0 / (d as f32).sqrt();
        // Both are written in full below (every sequence, head, query row and key column), never read first.
        let mut probs = Array4::uninit((bsz, a_heads, tq, t));
        let mut context = Array2::uninit((bsz * tq, h));
        probs
            .outer_iter_mut()
            .into_par_iter()
            .zip(context.axis_chunks_iter_mut(Axis(0), tq.max(1)))
            .enumerate()
            .for_each(|(b, (mut probs_b, mut context_b))| {
                let rows = qkv.slice(s![b * t..(b + 1) * t, ..]); // [T, 3H]
                let keep = key_weights(&tokens.attention_mask[b * t..(b + 1) * t]);
                for a in 0..a_heads {
                    let q = rows.slice(s![..tq, a * d..(a + 1) * d]); // [Tq, D]
                    let k = rows.slice(s![.., h + a * d..h + (a + 1) * d]);
                    let v = rows.slice(s![.., 2 * h + a * d..2 * h + (a + 1) * d]);
                    let mut pa = probs_b.index_axis_mut(Axis(0), a); // [Tq, T]
                    matmul_uninit(q, k.t(), pa.view_mut(), Threads::One);
                    // SAFETY: the product wrote every score of this head.
                    let mut pa = unsafe { pa.assume_init() };
                    with_row_major_mut(&mut pa, |scores| kernels::masked_softmax_rows(scores, &keep, scale));
                    let context_a = context_b.slice_mut(s![.., a * d..(a + 1) * d]);
                    match head_mask(dropout, b, a, a_heads, tq * t) {
                        Some(mask) => {
                            let dropped = dropped_probs(pa.view(), mask);
                            matmul_uninit(dropped.view(), v, context_a, Threads::One)
                        }
                        None => matmul_uninit(pa.view(), v, context_a, Threads::One),
                    }
                }
            });
        // SAFETY: the loop wrote every head's probabilities and context columns of every sequence.
        let (probs, context) = unsafe { (probs.assume_init(), context.assume_init()) };
        (probs, context)
    }

    /// From `dcontext [B·Tq, H]` to `dqkv [N, 3H]` (`Tq` from the cache's probabilities; the unqueried rows'
    /// dQ is 0).
    fn attend_backward(
        &self,
        cache: &AttentionCache,
        dcontext: ArrayView2<'_, f32>,
        tokens: &Tokens<'_>,
    ) -> Array2<f32> {
        let (t, a_heads, d) = (tokens.seq_len, self.num_heads, self.head_size);
        let tq = cache.probs.dim().2;
        let h = a_heads * d;
        let scale = 1.0 / (d as f32).sqrt();
        // Written in full below: each head's dQ (zero below row Tq), dK and dV columns of every sequence.
        let mut dqkv = Array2::uninit((tokens.rows(), 3 * h));
        dqkv.axis_chunks_iter_mut(Axis(0), t).into_par_iter().zip(cache.probs.outer_iter()).enumerate().for_each(
            |(b, (mut dqkv_b, probs_b))| {
                let rows = cache.qkv.slice(s![b * t..(b + 1) * t, ..]);
                let drows = dcontext.slice(s![b * tq..(b + 1) * tq, ..]);
                let mut dscores = Array2::<f32>::uninit((tq, t));
                dqkv_b.slice_mut(s![tq.., ..h]).fill(MaybeUninit::new(0.0));
                for a in 0..a_heads {
                    let q = rows.slice(s![..tq, a * d..(a + 1) * d]);
                    let k = rows.slice(s![.., h + a * d..h + (a + 1) * d]);
                    let v = rows.slice(s![.., 2 * h + a * d..2 * h + (a + 1) * d]);
                    let dctx = drows.slice(s![.., a * d..(a + 1) * d]);
                    let pa = probs_b.index_axis(Axis(0), a);
                    let mask = head_mask(cache.probs_mask.as_deref(), b, a, a_heads, tq * t);
                    // dV = P̃ᵀ·dctx with P̃ = P ⊙ mask the probabilities the context used; dP̃ = dctx·Vᵀ.
                    let dv = dqkv_b.slice_mut(s![.., 2 * h + a * d..2 * h + (a + 1) * d]);
                    match mask {
                        Some(mask) => matmul_uninit(dropped_probs(pa, mask).t(), dctx, dv, Threads::One),
                        None => matmul_uninit(pa.t(), dctx, dv, Threads::One),
                    }
                    matmul_uninit(dctx, v.t(), dscores.view_mut(), Threads::One);
                    // SAFETY: the product wrote every element of `dscores`.
                    let mut dscores = unsafe { dscores.view_mut().assume_init() };
                    let p_rows = row_major(&pa);
                    with_row_major_mut(&mut dscores, |dscores| {
                        // dP = dP̃ ⊙ mask.
                        if let Some(mask) = mask {
                            dscores.iter_mut().zip(mask).for_each(|(g, &m)| *g *= m);
                        }
                        // Softmax backward: dS = P ⊙ (dP − Σ_j P·dP), times the 1/√D of the scores.
                        kernels::softmax_backward_rows(dscores, &p_rows, t, scale);
                    });
                    // dQ = dS·K, dK = dSᵀ·Q.
                    matmul_uninit(dscores.view(), k, dqkv_b.slice_mut(s![..tq, a * d..(a + 1) * d]), Threads::One);
                    matmul_uninit(dscores.t(), q, dqkv_b.slice_mut(s![.., h + a * d..h + (a + 1) * d]), Threads::One);
                }
            },
        );
        // SAFETY: the loop wrote all 3H columns of every sequence's rows.
        unsafe { dqkv.assume_init() }
    }
}

/// Sequence `b`, head `a`'s `[Tq, T]` block (`block` = Tq·T values) of a `[B, A, Tq, T]` dropout mask.
fn head_mask(mask: Option<&[f32]>, b: usize, a: usize, heads: usize, block: usize) -> Option<&[f32]> {
    mask.map(|m| &m[(b * heads + a) * block..(b * heads + a + 1) * block])
}

/// `P ⊙ mask` for one head, `[Tq, T]`.
fn dropped_probs(p: ArrayView2<'_, f32>, mask: &[f32]) -> Array2<f32> {
    let mut out = p.to_owned();
    for (o, &m) in out.iter_mut().zip(mask) {
        *o *= m;
    }
    out
}

/// 1 for keys a query may attend to, 0 for padding. A sequence with no unmasked key attends to all of them
/// uniformly-weighted by score, which is what HF's additive `finfo.min` mask amounts to in that case.
fn key_weights(mask: &[u8]) -> Vec<f32> {
    if mask.iter().all(|&m| m == 0) {
        vec![1.0; mask.len()]
    } else {
        mask.iter().map(|&m| if m != 0 { 1.0 } else { 0.0 }).collect()
    }
}
