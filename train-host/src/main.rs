//! The `electra` command line: one subcommand per stage of corpus → shards → pre-training → export → inference.

use clap::{Parser, Subcommand};

/// mimalloc, told to keep freed memory (`electra_train::memory`): glibc's malloc and mimalloc's defaults hand
/// each training step's activation buffers back to the OS and fault them in again next step.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "electra",
    version,
    about = "ELECTRA from raw corpus to microcontroller",
    after_long_help = electra_train::cli::GRAMMAR
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // One line per subcommand, in the order of the pipeline (`electra --help` lists them so); each lives in
    // `electra_train::cli::<name>`.
    /// Shard the bundled corpus, pre-train a tiny ELECTRA for a few minutes, evaluate it on held-out speeches
    Quickstart(electra_train::cli::quickstart::Args),
    /// Tokenize JSON lines {"text": ...} to {"ids": [...]} (BERT uncased WordPiece, no special tokens)
    Tokenize(electra_train::cli::tokenize::Args),
    /// Tokenize, pack (ELECTRA's recipe) and shard a corpus into Parquet for pre-training; resumable
    Shard(electra_train::cli::shard::Args),
    /// Pre-train ELECTRA (generator + discriminator) on shards; checkpoints in HF layout, exact --resume
    Pretrain(electra_train::cli::pretrain::Args),
    /// Replaced-token detection accuracy, precision/recall and AUC of a pre-trained model on held-out shards
    Eval(electra_train::cli::eval::Args),
    /// Fine-tune a pre-trained encoder on a task (GLUE, tagging, your own file); best model kept, exact --resume
    Finetune(electra_train::cli::finetune::Args),
    /// A fine-tuned model's task metrics on a labelled file, a confusion matrix, and its predictions
    Evaluate(electra_train::cli::evaluate::Args),
    /// Export an HF ELECTRA checkpoint to an int8 model file.
    Export(electra_train::cli::export::Args),
    /// What takes the bytes of a model file, section by section
    Inspect(electra_train::cli::inspect::Args),
    /// Logits for JSON-lines input (`{"ids": [...]}` per line).
    Infer(electra_train::cli::infer::Args),
    /// Time float inference (and the encoder's GEMM shapes) on a checkpoint; JSON lines out.
    BenchInfer(electra_train::cli::bench_infer::Args),
}

/// Writing to a closed pipe (`electra inspect FILE | head -1`) ends the process quietly, as it does
/// for every Unix tool, instead of panicking inside `println!`: Rust's runtime ignores SIGPIPE unless
/// told otherwise.
#[cfg(unix)]
fn default_sigpipe() {
    // SAFETY: sets one signal's disposition back to the default before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

fn main() -> anyhow::Result<()> {
    #[cfg(unix)]
    default_sigpipe();
    electra_train::memory::keep_freed_memory();
    let cli = Cli::parse();
    match cli.command {
        Command::Infer(args) => electra_train::cli::infer::run(args),
        Command::BenchInfer(args) => electra_train::cli::bench_infer::run(args),
        Command::Tokenize(args) => electra_train::cli::tokenize::run(args),
        Command::Export(args) => electra_train::cli::export::run(args),
        Command::Inspect(args) => electra_train::cli::inspect::run(args),
        Command::Shard(args) => electra_train::cli::shard::run(args),
        Command::Pretrain(args) => electra_train::cli::pretrain::run(args),
        Command::Eval(args) => electra_train::cli::eval::run(args),
        Command::Finetune(args) => electra_train::cli::finetune::run(args),
        Command::Evaluate(args) => electra_train::cli::evaluate::run(args),
        Command::Quickstart(args) => electra_train::cli::quickstart::run(args),
    }
}
