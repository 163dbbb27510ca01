//! Float32 ELECTRA inference on borrowed weights and caller scratch: no heap, no `std`.
//!
//! Matches HF transformers' `ElectraForPreTraining`, `ElectraForMaskedLM`,
//! `ElectraForSequenceClassification` and `ElectraForTokenClassification` (eval mode) to float32
//! rounding; the parity tests in `tests/tests/float_parity.rs` check it against HF's own outputs.
//!
//! Dimension glossary (see [`crate::config`]): `V` vocab, `E` embedding, `H` hidden, `L` layers,
//! `A` heads, `D = H / A` head size, `F` FFN, `P` positions, `S` token types, `T` tokens,
//! `C` labels, `B` sequences in a batch (host only).
//!
//! ```text
//! input_ids [T] ─ embeddings ─ [T, E] ─ embeddings_project ─ [T, H] ─ L × encoder layer ─ [T, H] ─ head ─ logits
//! ```
//!
//! One file per layer kind; each takes its weights as a struct of borrowed slices named after the HF
//! module, and its intermediates as slices of the caller's scratch. [`params`] lays every tensor of a
//! checkpoint out in one blob; [`model`] runs the whole stack for one sequence.

pub mod activation;
pub mod attention;
pub mod classifier_head;
pub mod embeddings;
pub mod encoder_layer;
pub mod error;
pub mod ffn;
pub mod gemm;
pub mod layer_norm;
pub mod linear;
pub mod mlm_head;
pub mod model;
pub mod params;
pub mod reduce;
pub mod rtd_head;

pub use embeddings::SequenceInput;
pub use error::FloatError;
#[cfg(feature = "matrixmultiply")]
pub use gemm::MatrixMultiply;
pub use gemm::{Gemm, MatMut, MatRef};
pub use linear::{LinearWeights, WeightLayout};
pub use model::{forward, forward_observed, logits_len, scratch_len};
pub use params::{ElectraWeights, HeadWeights, ParamLayout, TensorInfo};

#[cfg(test)]
mod tests;
