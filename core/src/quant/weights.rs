//! Borrowed views of one model file's tensors, as the int8 encoder reads them.

use super::kernels::int4::I4Weights;
use super::kernels::PackedB;

/// A quantized `Linear`: `y = x · Wᵀ + b` with `W[o, i] ≈ scale[o] · weight[o, i]` (int8), or
/// `W[o, i] ≈ scale[o, i / group] · q[o, i]` (int4, `group` set; format version 4).
#[derive(Clone, Copy, Debug)]
pub struct QLinear<'a> {
    /// int8: `[n_out, n_in]` row-major (HF `Linear.weight` layout). int4: the `[n_out, n_in / 2]`
    /// bytes of packed nibbles (see [`I4Weights`]).
    pub weight: &'a [i8],
    /// int8: `[n_out]`, one scale per output channel. int4: `[n_out, n_in / group]`.
    pub scale: &'a [f32],
    /// `[n_out]`.
    pub bias: &'a [f32],
    pub n_out: usize,
    pub n_in: usize,
    /// Inputs per scale of int4 weights; `None`: int8.
    pub group: Option<usize>,
    /// `weight` packed ahead of time for the packed kernel, if the caller packed it (int8 only).
    pub packed: Option<PackedB<'a>>,
}

impl<'a> QLinear<'a> {
    /// Output channels `[start, start + len)` of this layer: one attention head's slice of
    /// `query`/`key`/`value`.
    pub fn rows(&self, start: usize, len: usize) -> QLinear<'a> {
        if let Some(i4) = self.int4() {
            let rows = i4.rows(start, len);
            return QLinear {
                weight: bytemuck::cast_slice(rows.nibbles),
                scale: rows.scales,
                bias: &self.bias[start..start + len],
                n_out: len,
                packed: None,
                ..*self
            };
        }
        QLinear {
            weight: &self.weight[start * self.n_in..(start + len) * self.n_in],
            scale: &self.scale[start..start + len],
            bias: &self.bias[start..start + len],
            n_out: len,
            n_in: self.n_in,
            group: None,
            packed: self.packed.map(|p| p.columns_from(start)),
        }
    }

    /// The int4 kernels' view of this layer's weights, if they are int4.
    pub fn int4(&self) -> Option<I4Weights<'a>> {
        let group = self.group?;
        Some(I4Weights {
            nibbles: bytemuck::cast_slice(self.weight),
            scales: self.scale,
            n_in: self.n_in,
            group,
            k0: 0,
        })
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
    /// For a pruned word table (model file version 3): word 0 is `[UNK]`'s row, words `1..` the
    /// kept ids, strictly increasing (checked by `Model::from_bytes`); row `r` holds id
    /// `row_map[1 + r]`. `None`: row `r` is id `r`.
    pub row_map: Option<&'a [u32]>,
}

impl QEmbedding<'_> {
    /// The row that holds id `id`: itself in a full table; in a pruned one, its place among the
    /// kept ids by binary search (no allocation, so the firmware runs it unchanged), or `[UNK]`'s
    /// row for an id that was dropped, which is what the tokenizer would have said for a word it
    /// cannot spell.
    pub fn row_of(&self, id: usize) -> usize {
        match self.row_map {
            None => id,
            Some(map) => {
                let (&unk_row, ids) = map.split_first().unwrap_or((&0, &[]));
                match u32::try_from(id).ok().map(|id| ids.binary_search(&id)) {
                    Some(Ok(row)) => row,
                    _ => unk_row as usize,
                }
            }
        }
    }

    /// Adds the row of id `id` (dequantized; see [`Self::row_of`]) to `acc` (`[dim]`).
    pub fn add_row(&self, id: usize, acc: &mut [f32]) {
        let index = self.row_of(id);
        let scale = self.scale[index];
        let row = &self.weight[index * self.dim..(index + 1) * self.dim];
        for (a, &q) in acc.iter_mut().zip(row) {
            *a += scale * q as f32;
        }
    }
}
