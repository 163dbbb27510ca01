//! Borrowed views of one model file's tensors, as the int8 encoder reads them.

use super::floats::Floats;
use super::kernels::int4::{I4Weights, Scales};
use super::kernels::PackedB;
use super::quantize::nibble;

/// A quantized `Linear`: `y = x · Wᵀ + b` with `W[o, i] ≈ scale[o] · weight[o, i]` (int8), or
/// `W[o, i] ≈ scale[o, i / group] · q[o, i]` (int4, `group` set; format version 4).
#[derive(Clone, Copy, Debug)]
pub struct QLinear<'a> {
    /// int8: `[n_out, n_in]` row-major (HF `Linear.weight` layout). int4: the `[n_out, n_in / 2]`
    /// bytes of packed nibbles (see [`I4Weights`]).
    pub weight: &'a [i8],
    /// int8: `[n_out]`, one f32 scale per output channel. int4: `[n_out, n_in / group]`, f32 or
    /// (format version 6) f16.
    pub scale: Scales<'a>,
    /// `[n_out]`, f32 or (format version 7) f16.
    pub bias: Floats<'a>,
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
                bias: self.bias.range(start, start + len),
                n_out: len,
                packed: None,
                ..*self
            };
        }
        QLinear {
            weight: &self.weight[start * self.n_in..(start + len) * self.n_in],
            scale: self.scale.range(start, start + len),
            bias: self.bias.range(start, start + len),
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
    /// `[n]`, f32 or (format version 7) f16, as `bias`.
    pub weight: Floats<'a>,
    pub bias: Floats<'a>,
    pub eps: f32,
}

/// A quantized embedding table: row `r` is `scale[r] · weight[r, :]` (int8), or (int4, `group`
/// set; the word table of model file version 5) `w[r, c] = scale[r, c / group] · q[r, c]`.
#[derive(Clone, Copy, Debug)]
pub struct QEmbedding<'a> {
    /// int8: `[rows, dim]` row-major. int4: the `[rows, dim / 2]` bytes of packed nibbles, input
    /// `c` of a row in the low nibble of byte `c / 2` for even `c`, the high one for odd `c`
    /// (as an int4 linear's, see [`I4Weights`]).
    pub weight: &'a [i8],
    /// int8: `[rows]`, f32. int4: `[rows, dim / group]`, f32 or (format version 6) f16.
    pub scale: Scales<'a>,
    pub rows: usize,
    pub dim: usize,
    /// Columns per scale of an int4 table; `None`: int8 (checked by `Model::from_bytes`: even,
    /// dividing `dim`).
    pub group: Option<usize>,
    /// For a pruned word table (model file version 3): word 0 is `[UNK]`'s row, words `1..` the
    /// kept ids, strictly increasing (checked by `Model::from_bytes`); row `r` holds id
    /// `row_map[1 + r]`. `None`: row `r` is id `r`.
    pub row_map: Option<&'a [u32]>,
}

impl<'a> QEmbedding<'a> {
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
        let Some(group) = self.group else {
            let scale = self.scale.get(index);
            let row = &self.weight[index * self.dim..(index + 1) * self.dim];
            for (a, &q) in acc.iter_mut().zip(row) {
                *a += scale * q as f32;
            }
            return;
        };
        // int4: one token's row, scalar (a gather, not a product). `scale · q` in f32, as the int8
        // row and as the definition `w[r, c] = scale[r, c / group] · q[r, c]` say; the group size
        // is even and divides `dim`, so a group is whole bytes of this row.
        let bytes: &[u8] = bytemuck::cast_slice(&self.weight[index * self.dim / 2..(index + 1) * self.dim / 2]);
        // Even and at least 2 whatever the caller built (a file's is checked): never a panic.
        let group = group.max(2) & !1;
        let groups = self.dim / group;
        let scales = self.scale.range(index * groups, (index + 1) * groups);
        let groups = acc.chunks_exact_mut(group).zip(bytes.chunks_exact(group / 2));
        for (g, (acc, bytes)) in groups.enumerate().take(scales.len()) {
            let scale = scales.get(g);
            for (pair, &byte) in acc.chunks_exact_mut(2).zip(bytes) {
                pair[0] += scale * nibble(byte, false) as f32;
                pair[1] += scale * nibble(byte, true) as f32;
            }
        }
    }

    /// The tied output layer of a masked-LM head: this table as a linear `[rows, dim]` (int8 per
    /// row, or int4 in groups: per-row scales are per-output-channel scales, and an int4 row's
    /// groups are an int4 linear's), with `bias`.
    pub fn as_linear<'b>(&self, bias: Floats<'b>) -> QLinear<'b>
    where
        'a: 'b,
    {
        QLinear {
            weight: self.weight,
            scale: self.scale,
            bias,
            n_out: self.rows,
            n_in: self.dim,
            group: self.group,
            packed: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::quantize::quantize_group_i4;

    /// The int4 value of nibble `c` of a packed row, decoded apart from [`nibble`]: low nibble
    /// first, two's complement.
    fn reference_nibble(row: &[u8], c: usize) -> f32 {
        let v = (row[c / 2] >> (4 * (c % 2))) & 0xf;
        if v >= 8 {
            v as f32 - 16.0
        } else {
            v as f32
        }
    }

    #[test]
    fn int4_gather_is_the_dequantized_row_bit_for_bit() {
        const ROWS: usize = 5;
        const DIM: usize = 12;
        let mut state = 0x9e37_79b9u32;
        let float: std::vec::Vec<f32> = (0..ROWS * DIM)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect();
        for group in [2, 4, 6, 12] {
            let mut nibbles = std::vec![0u8; ROWS * DIM / 2];
            let scales: std::vec::Vec<f32> = float
                .chunks_exact(group)
                .zip(nibbles.chunks_exact_mut(group / 2))
                .map(|(w, q)| quantize_group_i4(w, q))
                .collect();
            // Row 3's first byte: the nibbles -8 (never written, still read) and 7.
            nibbles[3 * DIM / 2] = 0x78;
            let table = QEmbedding {
                weight: bytemuck::cast_slice(&nibbles),
                scale: Scales::F32(&scales),
                rows: ROWS,
                dim: DIM,
                group: Some(group),
                row_map: None,
            };
            for id in 0..ROWS {
                let bias: std::vec::Vec<f32> = (0..DIM).map(|c| c as f32 * 0.25).collect();
                let mut acc = bias.clone();
                table.add_row(id, &mut acc);
                let row = &nibbles[id * DIM / 2..(id + 1) * DIM / 2];
                for c in 0..DIM {
                    let scale = scales[id * (DIM / group) + c / group];
                    let want = bias[c] + scale * reference_nibble(row, c);
                    assert_eq!(acc[c].to_bits(), want.to_bits(), "g{group} row {id} column {c}");
                    // And within half a step of the float weight (the row 3 bytes edited aside).
                    if !(id == 3 && c < 2) {
                        let w = float[id * DIM + c];
                        assert!((acc[c] - bias[c] - w).abs() <= scale * 0.5 + 1e-6, "g{group} {id} {c}");
                    }
                }
            }
            let mut acc = [0f32; DIM];
            table.add_row(3, &mut acc);
            assert_eq!((acc[0], acc[1]), (-8.0 * scales[3 * (DIM / group)], 7.0 * scales[3 * (DIM / group)]));
        }
    }

    #[test]
    fn int4_gather_through_a_row_map_reads_unk_for_dropped_ids() {
        // Two kept rows (ids 4 and 9), [UNK] is row 0; one group of 4 a row.
        let nibbles = [0x21u8, 0x43, 0xef, 0xcd];
        let scales = [0.5f32, 2.0];
        let map = [0u32, 4, 9];
        let table = QEmbedding {
            weight: bytemuck::cast_slice(&nibbles),
            scale: Scales::F32(&scales),
            rows: 2,
            dim: 4,
            group: Some(4),
            row_map: Some(&map),
        };
        let gather = |id| {
            let mut acc = [0f32; 4];
            table.add_row(id, &mut acc);
            acc
        };
        assert_eq!(gather(4), [0.5, 1.0, 1.5, 2.0]);
        assert_eq!(gather(9), [-2.0, -4.0, -6.0, -8.0]);
        assert_eq!(gather(5), gather(4), "a dropped id reads [UNK]'s row");
        // The tied output layer sees the same nibbles and scales as an int4 linear.
        let lm = table.as_linear(Floats::F32(&[0.0, 0.0]));
        assert_eq!((lm.n_out, lm.n_in, lm.group, lm.scale.len()), (2, 4, Some(4), 2));
    }
}
