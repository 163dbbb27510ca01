//! Float32 inference on the host: [`FloatModel`] loads an HF checkpoint into the no_std core's
//! parameter blob and scores batches of sequences on all cores; [`loss`] turns logits into the
//! losses HF reports.

mod error;
mod gemm_backend;
pub mod loss;
mod model;

pub use error::InferError;
pub use gemm_backend::{GemmBackend, GemmCrate};
pub use model::{FloatModel, InputSeq, Logits};
