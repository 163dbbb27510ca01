//! TEMPORARY stand-in for `electra_pipeline::reader::Batch` (agreed interface 2), which helper `pipe` is
//! landing on main. The definition is identical; `objective.rs` names it through a single
//! `pub use crate::batch::Batch;` line that becomes `pub use electra_pipeline::reader::Batch;` (and this
//! file goes away) once the pipeline exports it.

/// One training batch: row-major `[B, T]`, padded with id 0 / mask 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub batch_size: usize,
    pub seq_len: usize,
    pub input_ids: Vec<u32>,
    pub attention_mask: Vec<u8>,
    pub token_type_ids: Vec<u8>,
}
