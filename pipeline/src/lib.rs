//! electra-pipeline: corpus → packed, sharded Parquet → batches for training.

pub mod tokenizer;
