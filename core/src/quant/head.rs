//! The head on the last hidden state, per block of `R` token rows (for sequence classification
//! just the first token): replaced-token detection, masked LM (tied to the word embeddings),
//! sequence or token classification.

use super::arena::{Carver, Dims, HeadScratch};
use super::error::RunError;
use super::linear::{linear, quantize_rows, QRows};
use super::math::{gelu_in_place, layer_norm_in_place, load_f16};
use super::weights::{QLayerNorm, QLinear};
use crate::model_file::layout::HeadSpans;
use crate::model_file::Model;
use core::ops::Range;

impl<'a> Model<'a> {
    /// The head on token rows `rows` (just row 0 for sequence classification); `logits` holds
    /// those rows' logits.
    pub(super) fn head_rows(
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
                    let lm = word.as_linear(self.biases_and_norms(bias)?);
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
