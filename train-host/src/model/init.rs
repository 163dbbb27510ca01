//! HF's `_init_weights` for ELECTRA: weights and embedding tables `N(0, initializer_range²)`, biases 0,
//! LayerNorm weight 1 and bias 0, and the padding row of each word-embedding table 0.

use super::params::ParamSet;
use crate::rng::TrainRng;

/// HF `ElectraConfig.initializer_range` default.
pub const INITIALIZER_RANGE: f32 = 0.02;

/// Initializes every tensor of `p` by its name, drawing in layout order from `rng`.
/// `padding_rows` lists `(tensor name, row)` pairs to zero afterwards (`word_embeddings` at `pad_token_id`).
pub fn hf_init(p: &mut ParamSet, rng: &mut TrainRng, std: f32, padding_rows: &[(&str, usize)]) {
    let entries: Vec<_> = p.entries().to_vec();
    for e in &entries {
        let values = &mut p.data_mut()[e.offset..e.offset + e.len];
        if e.name.ends_with("LayerNorm.weight") {
            values.fill(1.0);
        } else if e.name.ends_with("bias") {
            values.fill(0.0);
        } else {
            for v in values.iter_mut() {
                *v = (rng.normal() * std as f64) as f32;
            }
        }
    }
    for &(name, row) in padding_rows {
        if let Some(id) = p.id(name) {
            let mut m = p.matrix_mut(id);
            if row < m.nrows() {
                m.row_mut(row).fill(0.0);
            }
        }
    }
}
