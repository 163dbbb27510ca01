//! The arena: every intermediate of one forward pass, carved from one caller buffer.
//!
//! ```text
//! shared                                    per worker (one "scratch" each; phases reuse it)
//! ├ logits   f32 [T, C] (or [C])            ├ embeddings: x f32 [R, E], xq i8 [R, E], proj f32 [R, H]
//! ├ hidden   f16 [T, H]  the residual stream├ attention (one head at a time): K i8 [T, D], Vᵀ i8 [D, T],
//! ├ context  i8  [A, T, D] head-major       │   x/xq [R, H], q [R, D], scores f32 [R, T], P i16 [R, T]
//! └ ctx scale f32 [A, T]                    ├ block (attention output + FFN, R rows at a time):
//!                                           │   acc f32 [R, H], sums i32 [R, H], xq [R, H], FFN f32 [R, F]
//!                                           └ head: x [R, H], dense [R, max(H, E)]
//! ```
//!
//! `R` (rows per block) trades arena for speed: the int8 kernels reuse each weight row `R` times.
//! Sizes are counted by carving with no buffer ([`Carver::measure`]), so the size and the carving
//! cannot disagree. Every region starts at a multiple of 64 bytes from the arena's start.

use super::error::RunError;
use crate::config::{ElectraConfig, HeadKind};

/// Region alignment inside the arena.
const REGION_ALIGN: usize = 64;

/// Saturating product: an absurd size becomes an error in [`Carver::take`], never a wrap.
fn m(a: usize, b: usize) -> usize {
    a.saturating_mul(b)
}

/// Hands out typed regions of the arena in order, or only counts their bytes.
pub(crate) struct Carver<'s> {
    rest: &'s mut [u8],
    measuring: bool,
    used: usize,
}

impl<'s> Carver<'s> {
    /// Counts bytes without a buffer; every `take` returns an empty slice.
    pub fn measure() -> Self {
        Self { rest: &mut [], measuring: true, used: 0 }
    }

    pub fn new(buf: &'s mut [u8]) -> Self {
        Self { rest: buf, measuring: false, used: 0 }
    }

    pub fn used(&self) -> usize {
        self.used
    }

    /// The next `n` elements of `T`, 64-byte padded.
    pub fn take<T: bytemuck::Pod>(&mut self, n: usize) -> Result<&'s mut [T], RunError> {
        let overflow = RunError::ArenaTooSmall { needed: usize::MAX, found: self.used };
        let bytes = n.checked_mul(core::mem::size_of::<T>()).ok_or(overflow.clone())?;
        let padded = bytes.checked_add(REGION_ALIGN - 1).ok_or(overflow.clone())? / REGION_ALIGN * REGION_ALIGN;
        self.used = self.used.checked_add(padded).ok_or(overflow)?;
        if self.measuring {
            return Ok(&mut []);
        }
        let rest = core::mem::take(&mut self.rest);
        if rest.len() < padded {
            return Err(RunError::ArenaTooSmall { needed: self.used, found: self.used - padded + rest.len() });
        }
        let (region, rest) = rest.split_at_mut(padded);
        self.rest = rest;
        let address = region.as_ptr() as usize;
        bytemuck::try_cast_slice_mut(&mut region[..bytes]).map_err(|_| RunError::ArenaMisaligned { address })
    }
}

/// The plan an arena is sized for ([`crate::model_file::Model::arena_bytes`]`(seq_len, options)`)
/// and [`crate::model_file::Model::run`] then uses (or a faster one that also fits): the smallest
/// is [`ArenaOptions::SMALLEST`]; more rows per block, one scratch per worker, and a cache of the
/// quantized hidden state each buy speed with memory. The logits are the same bits in every plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArenaOptions {
    /// Token rows per block (`R`); clamped to `[1, T]`.
    pub rows_per_block: usize,
    /// Parallel workers, each with its own scratch.
    pub workers: usize,
    /// Keep each layer's input quantized once for all heads (`T·H` bytes + `T` scales) instead of
    /// quantizing it again for every head.
    pub cache_quantized_hidden: bool,
}

impl ArenaOptions {
    /// The least arena `run` accepts on one core: 2 rows per block ([`super::MIN_ROWS_PER_BLOCK`]),
    /// one worker, no cache (ELECTRA-Small at 128 tokens: 123,200 bytes).
    pub const SMALLEST: Self = Self { rows_per_block: 2, workers: 1, cache_quantized_hidden: false };

    /// A plan for speed on a host: 128 rows per block (each packed weight panel of the AVX-512
    /// kernel serves 128 rows), the cache, `workers` workers.
    pub const fn fast(workers: usize) -> Self {
        Self { rows_per_block: 128, workers, cache_quantized_hidden: true }
    }
}

/// Every size the plan needs, from the config, the head, `T` and the options.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    /// Tokens.
    pub t: usize,
    /// Rows per block (`1..=T`).
    pub r: usize,
    pub e: usize,
    pub h: usize,
    pub f: usize,
    pub a: usize,
    pub d: usize,
    /// Width of the head's dense layer (`H`, or `E` for the generator).
    pub head_width: usize,
    /// Logits per token row of the head (`1` RTD, `V` MLM, `C` classifiers).
    pub logits_per_row: usize,
    /// All logits: `T · logits_per_row`, or `C` for sequence classification.
    pub logits: usize,
    /// The quantized hidden state is cached per layer.
    pub cache_x: bool,
}

impl Dims {
    pub fn new(config: &ElectraConfig, head: HeadKind, t: usize, r: usize, cache_x: bool) -> Self {
        let (logits_per_row, logits, head_width) = match head {
            HeadKind::ReplacedTokenDetection => (1, t, config.hidden_size),
            HeadKind::MaskedLm => (config.vocab_size, t.saturating_mul(config.vocab_size), config.embedding_size),
            HeadKind::SequenceClassification { num_labels } => (num_labels, num_labels, config.hidden_size),
            HeadKind::TokenClassification { num_labels } => (num_labels, t.saturating_mul(num_labels), 0),
        };
        Self {
            t,
            r: r.clamp(1, t.max(1)),
            e: config.embedding_size,
            h: config.hidden_size,
            f: config.intermediate_size,
            a: config.num_attention_heads,
            d: config.head_size(),
            head_width,
            logits_per_row,
            logits,
            cache_x,
        }
    }
}

/// Regions every worker reads or writes its part of.
pub(crate) struct Shared<'s> {
    pub logits: &'s mut [f32],
    /// `[T, H]` f16 bits.
    pub hidden: &'s mut [u16],
    /// `[A, T, D]`: head `h`'s context for token `t`, quantized per (head, token).
    pub context: &'s mut [i8],
    /// `[A, T]`.
    pub context_scale: &'s mut [f32],
    /// `[T, H]` this layer's input, quantized per row (empty without the cache).
    pub x_q: &'s mut [i8],
    /// `[T]`.
    pub x_scale: &'s mut [f32],
}

impl<'s> Shared<'s> {
    pub fn carve(c: &mut Carver<'s>, d: &Dims) -> Result<Self, RunError> {
        Ok(Self {
            logits: c.take(d.logits)?,
            hidden: c.take(m(d.t, d.h))?,
            context: c.take(m(d.a, m(d.t, d.d)))?,
            context_scale: c.take(m(d.a, d.t))?,
            x_q: c.take(if d.cache_x { m(d.t, d.h) } else { 0 })?,
            x_scale: c.take(if d.cache_x { d.t } else { 0 })?,
        })
    }
}

pub(crate) struct EmbeddingScratch<'s> {
    pub x: &'s mut [f32],
    pub xq: &'s mut [i8],
    pub xs: &'s mut [f32],
    /// `[R, H]` when `E ≠ H`.
    pub proj: &'s mut [f32],
}

impl<'s> EmbeddingScratch<'s> {
    pub fn carve(c: &mut Carver<'s>, d: &Dims) -> Result<Self, RunError> {
        Ok(Self {
            x: c.take(m(d.r, d.e))?,
            xq: c.take(m(d.r, d.e))?,
            xs: c.take(d.r)?,
            proj: c.take(if d.e != d.h { m(d.r, d.h) } else { 0 })?,
        })
    }
}

pub(crate) struct AttentionScratch<'s> {
    /// `[T, D]` keys of the current head, per-token scales `key_scale`.
    pub key: &'s mut [i8],
    pub key_scale: &'s mut [f32],
    /// `[D, T]` values of the current head, transposed; per-token scales `value_scale`.
    pub value_t: &'s mut [i8],
    pub value_scale: &'s mut [f32],
    pub x: &'s mut [f32],
    pub xq: &'s mut [i8],
    pub xs: &'s mut [f32],
    /// `[R, D]` one projection's output (int32 then f32), then the context.
    pub proj: &'s mut [f32],
    /// `[R, D]` quantized queries (and values on their way to `value_t`).
    pub qq: &'s mut [i8],
    pub qs: &'s mut [f32],
    /// `[R, T]` scores, then probabilities.
    pub scores: &'s mut [f32],
    /// `[R, T]` probabilities × value scales, int16.
    pub pq: &'s mut [i16],
    pub ps: &'s mut [f32],
}

impl<'s> AttentionScratch<'s> {
    pub fn carve(c: &mut Carver<'s>, d: &Dims) -> Result<Self, RunError> {
        Ok(Self {
            key: c.take(m(d.t, d.d))?,
            key_scale: c.take(d.t)?,
            value_t: c.take(m(d.d, d.t))?,
            value_scale: c.take(d.t)?,
            x: c.take(m(d.r, d.h))?,
            xq: c.take(m(d.r, d.h))?,
            xs: c.take(d.r)?,
            proj: c.take(m(d.r, d.d))?,
            qq: c.take(m(d.r, d.d))?,
            qs: c.take(d.r)?,
            scores: c.take(m(d.r, d.t))?,
            pq: c.take(m(d.r, d.t))?,
            ps: c.take(d.r)?,
        })
    }
}

pub(crate) struct BlockScratch<'s> {
    /// `[R, H]` attention output + residual, then the FFN's residual.
    pub acc: &'s mut [f32],
    /// `[R, H]` per-head int32 sums, then the FFN output (f32).
    pub sums: &'s mut [i32],
    pub xq: &'s mut [i8],
    pub xs: &'s mut [f32],
    /// `[R, F]`.
    pub inter: &'s mut [f32],
    pub inter_q: &'s mut [i8],
    pub inter_s: &'s mut [f32],
}

impl<'s> BlockScratch<'s> {
    pub fn carve(c: &mut Carver<'s>, d: &Dims) -> Result<Self, RunError> {
        Ok(Self {
            acc: c.take(m(d.r, d.h))?,
            sums: c.take(m(d.r, d.h))?,
            xq: c.take(m(d.r, d.h))?,
            xs: c.take(d.r)?,
            inter: c.take(m(d.r, d.f))?,
            inter_q: c.take(m(d.r, d.f))?,
            inter_s: c.take(d.r)?,
        })
    }
}

pub(crate) struct HeadScratch<'s> {
    pub x: &'s mut [f32],
    pub xq: &'s mut [i8],
    pub xs: &'s mut [f32],
    /// `[R, head_width]`.
    pub dense: &'s mut [f32],
    pub dq: &'s mut [i8],
    pub ds: &'s mut [f32],
}

impl<'s> HeadScratch<'s> {
    pub fn carve(c: &mut Carver<'s>, d: &Dims) -> Result<Self, RunError> {
        Ok(Self {
            x: c.take(m(d.r, d.h))?,
            xq: c.take(m(d.r, d.h))?,
            xs: c.take(d.r)?,
            dense: c.take(m(d.r, d.head_width))?,
            dq: c.take(m(d.r, d.head_width))?,
            ds: c.take(d.r)?,
        })
    }
}

/// Byte sizes of the shared part and of one worker's scratch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    pub shared: usize,
    pub scratch: usize,
}

impl Plan {
    pub fn new(d: &Dims) -> Result<Self, RunError> {
        let measure = |f: &dyn Fn(&mut Carver<'static>) -> Result<(), RunError>| -> Result<usize, RunError> {
            let mut c = Carver::measure();
            f(&mut c)?;
            Ok(c.used())
        };
        let shared = measure(&|c| Shared::carve(c, d).map(drop))?;
        let scratch = [
            measure(&|c| EmbeddingScratch::carve(c, d).map(drop))?,
            measure(&|c| AttentionScratch::carve(c, d).map(drop))?,
            measure(&|c| BlockScratch::carve(c, d).map(drop))?,
            measure(&|c| HeadScratch::carve(c, d).map(drop))?,
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        Ok(Self { shared, scratch })
    }

    /// Arena bytes for `workers` workers.
    pub fn total(&self, workers: usize) -> Option<usize> {
        self.scratch.checked_mul(workers)?.checked_add(self.shared)
    }
}
