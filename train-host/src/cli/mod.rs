//! One module per `electra` subcommand: `Args` (clap) and `run(args)`.

pub mod bench_infer;
pub mod eval;
pub mod evaluate;
pub mod export;
pub mod finetune;
pub mod infer;
pub mod inspect;
pub mod pretrain;
pub mod quickstart;
pub mod shard;
pub mod tokenize;
