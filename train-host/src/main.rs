//! The `electra` command line: one subcommand per stage of corpus → shards → pre-training → export → inference.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "electra", version, about = "ELECTRA from raw corpus to microcontroller")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // One line per subcommand; each lives in `electra_train::cli::<name>`.
    /// Export an HF ELECTRA checkpoint to an int8 model file.
    Export(electra_train::cli::export::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Export(args) => electra_train::cli::export::run(args),
    }
}
