//! One module per `electra` subcommand: `Args` (clap) and `run(args)`.

pub mod export;
