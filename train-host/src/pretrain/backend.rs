//! The one place the driver names the types it is built on: the model, objective and optimizer
//! (`electra_train::{model, objective, optim}`) and the shard reader (`electra_pipeline::reader`).

pub use crate::model::{ModelError, ParamSet, Tokens};
pub use crate::objective::TrainRng;
pub use crate::objective::{mask_tokens, mlm_loss_and_samples, Batch, ElectraPretraining, ObjectiveOptions, StepShare};
pub use crate::optim::{AdamW, AdamWConfig, LinearSchedule, OptimError};
pub use electra_pipeline::reader::{EpochBatches, ReaderError, ShardReader};
