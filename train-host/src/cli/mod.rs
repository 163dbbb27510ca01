//! One module per `electra` subcommand: `Args` (clap) and `run(args)`.

pub mod bench_infer;
pub mod infer;
pub mod tokenize;
pub mod export;
pub mod shard;
pub mod eval;
pub mod pretrain;
pub mod quickstart;
