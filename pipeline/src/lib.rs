//! electra-pipeline: corpus → packed, sharded Parquet → batches for training.
