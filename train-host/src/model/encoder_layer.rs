//! One transformer encoder block (post-LayerNorm, as BERT and ELECTRA):
//!
//! ```text
//! a = LayerNorm(x + Attention(x))      attention.output.LayerNorm
//! y = LayerNorm(a + FFN(a))            output.LayerNorm
//! ```
//! Shapes are `[N, H]` throughout (`N = B·T` rows), or `[B, H]` after the attention of a block that queries only the
//! first tokens ([`Queries::First`]: a sequence classifier's last block).

use super::attention::{first_rows_of_blocks, AttentionCache, Queries, SelfAttention};
use super::dropout::{self, Dropout, ScaledMask};
use super::ffn::FeedForward;
use super::gelu::GeluCache;
use super::gemm::Threads;
use super::layer_norm::{LayerNorm, LayerNormCache};
use super::params::{ParamSet, ParamSetBuilder};
use super::Tokens;
use electra_core::ElectraConfig;
use ndarray::{s, Array2, ArrayView2};

#[derive(Clone, Debug)]
pub struct EncoderLayer {
    pub attention: SelfAttention,
    pub attention_norm: LayerNorm,
    pub ffn: FeedForward,
    pub output_norm: LayerNorm,
}

/// Everything the backward pass of one block reads.
#[derive(Debug)]
pub struct EncoderLayerCache {
    /// The block's input `x [N, H]` (the previous block's output, kept only here).
    pub input: Array2<f32>,
    pub attention: AttentionCache,
    pub attention_norm: LayerNormCache,
    /// `a [B·Tq, H]`, the FFN's input and residual.
    pub mid: Array2<f32>,
    pub ffn: GeluCache,
    pub output_norm: LayerNormCache,
    /// Dropout after `attention.output.dense` and after the FFN's `output.dense` (scaled masks, `[B·Tq, H]`).
    pub attention_output_mask: Option<ScaledMask>,
    pub output_mask: Option<ScaledMask>,
}

impl EncoderLayer {
    /// Adds the block's tensors under `prefix` (`electra.encoder.layer.{l}`), in HF order.
    pub fn new(b: &mut ParamSetBuilder, prefix: &str, c: &ElectraConfig) -> Self {
        let h = c.hidden_size;
        let attention = SelfAttention::new(b, &format!("{prefix}.attention"), h, c.num_attention_heads);
        let attention_norm = LayerNorm::new(b, &format!("{prefix}.attention.output.LayerNorm"), h, c.layer_norm_eps);
        let ffn = FeedForward::new(b, prefix, h, c.intermediate_size);
        let output_norm = LayerNorm::new(b, &format!("{prefix}.output.LayerNorm"), h, c.layer_norm_eps);
        Self { attention, attention_norm, ffn, output_norm }
    }

    /// Consumes the input (it moves into the cache) and returns the block's output.
    pub fn forward(&self, p: &ParamSet, x: Array2<f32>, tokens: &Tokens<'_>) -> (Array2<f32>, EncoderLayerCache) {
        self.forward_with(p, x, tokens, &Dropout::off(), 0, Queries::All)
    }

    /// [`EncoderLayer::forward`] with dropout, as HF places it in block `index`, for the `queries` rows (the
    /// output is `[B·Tq, H]`):
    /// ```text
    /// a = LayerNorm(x + dropout(Attention(x)))     (Attention drops its probabilities too)
    /// y = LayerNorm(a + dropout(FFN(a)))
    /// ```
    pub fn forward_with(
        &self,
        p: &ParamSet,
        x: Array2<f32>,
        tokens: &Tokens<'_>,
        drop: &Dropout<'_>,
        index: usize,
        queries: Queries,
    ) -> (Array2<f32>, EncoderLayerCache) {
        let (b, n, t, h) = (tokens.batch_size, x.len(), tokens.seq_len, x.ncols());
        let tq = queries.per_sequence(t);
        let site = format!("layer.{index}");
        let (mut attended, attention) =
            self.attention.forward_with(p, x.view(), tokens, drop, &format!("{site}.attention"), queries);
        // The whole [N, H] masks, then the queried rows: a first token keeps the mask it has in a full pass.
        let hidden_mask = |name: &str| {
            drop.mask(&format!("{site}.{name}"), drop.rates.hidden, b, n).map(|m| first_rows_of_blocks(&m, b, t, tq, h))
        };
        let attention_output_mask = hidden_mask("attention.output");
        dropout::apply_opt(&mut attended, attention_output_mask.as_ref());
        let (mid, attention_norm) = match queries {
            Queries::All => self.attention_norm.forward(p, (attended + &x).view()),
            Queries::First => self.attention_norm.forward(p, (attended + x.slice(s![..;t.max(1), ..])).view()),
        };
        let (mut fed, ffn) = self.ffn.forward(p, mid.view());
        let output_mask = hidden_mask("output");
        dropout::apply_opt(&mut fed, output_mask.as_ref());
        let (y, output_norm) = self.output_norm.forward(p, (fed + &mid).view());
        let cache = EncoderLayerCache {
            input: x,
            attention,
            attention_norm,
            mid,
            ffn,
            output_norm,
            attention_output_mask,
            output_mask,
        };
        (y, cache)
    }

    /// Inference: the block on `x [N, H]` in place, without dropout and keeping nothing for a backward pass
    /// (the same arithmetic as [`EncoderLayer::forward`], the residuals added where the products land).
    pub fn infer(&self, p: &ParamSet, x: &mut Array2<f32>, tokens: &Tokens<'_>, threads: Threads) {
        self.attention.infer_add(p, x, tokens, threads); // x + Attention(x)
        self.attention_norm.infer_in_place(p, x, threads); // a
        self.ffn.infer_add(p, x, threads); // a + FFN(a)
        self.output_norm.infer_in_place(p, x, threads); // y
    }

    /// [`EncoderLayer::infer`] for the first tokens only: `x [N, H] → y [B, H]`.
    pub fn infer_first(&self, p: &ParamSet, x: &Array2<f32>, tokens: &Tokens<'_>, threads: Threads) -> Array2<f32> {
        let mut y = self.attention.infer_first(p, x.view(), tokens, threads); // x + Attention(x), first rows
        self.attention_norm.infer_in_place(p, &mut y, threads);
        self.ffn.infer_add(p, &mut y, threads);
        self.output_norm.infer_in_place(p, &mut y, threads);
        y
    }

    /// Accumulates the block's parameter gradients and returns `dx [N, H]` from `dy [B·Tq, H]`.
    pub fn backward(
        &self,
        p: &ParamSet,
        g: &mut ParamSet,
        tokens: &Tokens<'_>,
        cache: &EncoderLayerCache,
        dy: ArrayView2<'_, f32>,
    ) -> Array2<f32> {
        // y = LN(a + FFN(a)): the residual sends the LayerNorm's input gradient to `a` twice.
        // Dropout's backward multiplies by the same scaled mask.
        let dsum2 = self.output_norm.backward(p, g, &cache.output_norm, dy);
        let dfed = masked(&dsum2, cache.output_mask.as_ref());
        let dmid = self.ffn.backward(p, g, cache.mid.view(), &cache.ffn, dfed.view()) + &dsum2;
        // a = LN(x + Attn(x)).
        let dsum1 = self.attention_norm.backward(p, g, &cache.attention_norm, dmid.view());
        let dattended = masked(&dsum1, cache.attention_output_mask.as_ref());
        let mut dx = self.attention.backward(p, g, cache.input.view(), tokens, &cache.attention, dattended.view());
        if dsum1.nrows() == dx.nrows() {
            dx += &dsum1;
        } else {
            // Only the first tokens were queried: the residual reached their rows alone.
            let mut first = dx.slice_mut(s![..;tokens.seq_len.max(1), ..]);
            first += &dsum1;
        }
        dx
    }
}

/// `d ⊙ mask`, or `d` itself (borrowed) without dropout.
fn masked<'a>(d: &'a Array2<f32>, mask: Option<&ScaledMask>) -> std::borrow::Cow<'a, Array2<f32>> {
    match mask {
        Some(mask) => {
            let mut out = d.clone();
            dropout::apply_opt(&mut out, Some(mask));
            std::borrow::Cow::Owned(out)
        }
        None => std::borrow::Cow::Borrowed(d),
    }
}
