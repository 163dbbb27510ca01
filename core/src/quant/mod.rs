//! int8 ELECTRA: weights int8 with one scale per output channel (embeddings: per row),
//! activations quantized per row at run time, int32 sums, float LayerNorm/softmax/GELU. Encoder
//! linears may instead be int4 with one scale per group of input channels (model file format
//! version 4, chosen per tensor): int32 sums per group, f32 across groups ([`kernels::int4`]).
//!
//! - [`kernels`]: the integer matrix products and their SIMD twins.
//! - [`encoder`]: `Model::run` (one sequence, caller arena, [`RunOptions`]: workers, pre-packed weights),
//!   the layers in order; its parts (private modules): `embeddings`, `attention`, `encoder_layer`
//!   (attention output and FFN), `head`, and `tasks` (the arena plan and the per-worker split).
//! - [`arena`]: what the arena holds and how large it is.
//!
//! Why dynamic per-row activation scales rather than calibrated ones: they need no calibration
//! data, follow each token's own range (ELECTRA's LayerNorm outputs have a few large channels
//! whose size varies by token), and cost one pass over a row that the matrix product reads
//! anyway. The accuracy test `core/tests/int8_accuracy.rs` measures both on the same model.

pub mod arena;
mod attention;
mod embeddings;
pub mod encoder;
mod encoder_layer;
pub mod error;
pub mod floats;
mod head;
pub mod kernels;
pub mod linear;
pub mod math;
pub mod options;
pub mod parallel;
pub mod prepack;
pub mod quantize;
mod tasks;
pub mod weights;

pub use arena::ArenaOptions;
pub use encoder::{Logits, MIN_ROWS_PER_BLOCK};
pub use error::RunError;
pub use options::RunOptions;
pub use parallel::{Parallel, Sequential, MAX_WORKERS};
pub use prepack::PackedWeights;
