//! One module per `electra` subcommand: its clap `Args` and `run`.

pub mod tokenize;
