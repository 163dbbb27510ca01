//! The embeddings, per block of `R` token rows: word + position + token type, LayerNorm, and the
//! projection to `H` where `E ≠ H`; stored as the f16 hidden state.

use super::arena::{Carver, Dims, EmbeddingScratch};
use super::error::RunError;
use super::linear::{linear, quantize_rows};
use super::math::{layer_norm_in_place, store_f16};
use crate::model_file::Model;
use core::ops::Range;

impl<'a> Model<'a> {
    /// `hidden[rows] = project(LN(word[id] + position[t] + token_type[type]))`.
    pub(super) fn embed_rows(
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
}
