//! Optimization: AdamW with decoupled weight decay and global-norm clipping ([`AdamW`]), and the learning-rate
//! schedule ([`LinearSchedule`]).

mod adamw;
mod schedule;

pub use adamw::{decays, AdamW, AdamWConfig, OptimError, StepReport};
pub use schedule::LinearSchedule;
