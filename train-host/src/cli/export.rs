//! `electra export --model HF_DIR --out FILE [--vocab vocab.txt] [--keep-tokens-from TEXT...]`: an HF
//! ELECTRA checkpoint → an int8 model file for microcontrollers (and `electra infer --model FILE`); a
//! classifier's label names and problem type travel with it.

use crate::export::export_keeping;
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser, Debug)]
pub struct Args {
    /// HF checkpoint directory: `config.json` + `model.safetensors` (or sharded). Any ELECTRA
    /// head: discriminator, generator, sequence or token classifier.
    #[arg(long)]
    pub model: PathBuf,
    /// Model file to write (atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// `vocab.txt` to embed for on-device tokenization (one line per word embedding).
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// With `--vocab`: also embed the prebuilt tokenizer index (+0.6 MB for BERT's vocab), so the
    /// device does not build it.
    #[arg(long, requires = "vocab")]
    pub tokenizer_index: bool,
    /// With `--vocab`: keep only the word embedding rows of the tokens that occur in these text
    /// files (each line tokenized with the vocab's WordPiece, as the device does) plus the special
    /// tokens; every other token reads `[UNK]`'s row. Typically the task's training file.
    #[arg(long, requires = "vocab", num_args = 1..)]
    pub keep_tokens_from: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let summary =
        export_keeping(&args.model, &args.out, args.vocab.as_deref(), args.tokenizer_index, &args.keep_tokens_from)?;
    let extras = match (summary.vocab_embedded, summary.tokenizer_index_embedded) {
        (true, true) => "vocab and tokenizer index embedded",
        (true, false) => "vocab embedded",
        _ => "no vocab",
    };
    let labels = match &summary.labels {
        Some(labels) if labels.is_regression() => "; regression".to_string(),
        Some(labels) => format!("; labels {}", labels.names.join(", ")),
        None => String::new(),
    };
    let kept = match summary.kept_rows {
        Some(k) => format!("; {} of {} word embedding rows kept ({} tokens read)", k.kept, k.vocab_size, k.text_tokens),
        None => String::new(),
    };
    println!(
        "wrote {} ({} bytes, {:.2} MiB; head {}{labels}; {extras}{kept})",
        summary.out.display(),
        summary.bytes,
        summary.bytes as f64 / (1 << 20) as f64,
        summary.head.hf_architecture(),
    );
    Ok(())
}
