//! Borrowed views of one model file's tensors, as the int8 encoder reads them.

use super::kernels::PackedB;

/// A quantized `Linear`: `y = x · Wᵀ + b` with `W[o, i] ≈ scale[o] · weight[o, i]`.
#[derive(Clone, Copy, Debug)]
pub struct QLinear<'a> {
    /// `[n_out, n_in]` row-major (HF `Linear.weight` layout).
    pub weight: &'a [i8],
    /// `[n_out]`: one scale per output channel.
    pub scale: &'a [f32],
    /// `[n_out]`.
    pub bias: &'a [f32],
    pub n_out: usize,
    pub n_in: usize,
    /// `weight` packed ahead of time for the packed kernel, if the caller packed it.
    pub packed: Option<PackedB<'a>>,
}

impl<'a> QLinear<'a> {
    /// Output channels `[start, start + len)` of this layer: one attention head's slice of
    /// `query`/`key`/`value`.
    pub fn rows(&self, start: usize, len: usize) -> QLinear<'a> {
        QLinear {
            weight: &self.weight[start * self.n_in..(start + len) * self.n_in],
            scale: &self.scale[start..start + len],
            bias: &self.bias[start..start + len],
            n_out: len,
            n_in: self.n_in,
            packed: self.packed.map(|p| p.columns_from(start)),
        }
    }
}

/// A `LayerNorm` in float.
#[derive(Clone, Copy, Debug)]
pub struct QLayerNorm<'a> {
    pub weight: &'a [f32],
    pub bias: &'a [f32],
    pub eps: f32,
}

/// A quantized embedding table: row `r` is `scale[r] · weight[r, :]`.
#[derive(Clone, Copy, Debug)]
pub struct QEmbedding<'a> {
    /// `[rows, dim]` row-major.
    pub weight: &'a [i8],
    /// `[rows]`.
    pub scale: &'a [f32],
    pub rows: usize,
    pub dim: usize,
}

impl QEmbedding<'_> {
    /// Adds row `index` (dequantized) to `acc` (`[dim]`).
    pub fn add_row(&self, index: usize, acc: &mut [f32]) {
        let scale = self.scale[index];
        let row = &self.weight[index * self.dim..(index + 1) * self.dim];
        for (a, &q) in acc.iter_mut().zip(row) {
            *a += scale * q as f32;
        }
    }
}
