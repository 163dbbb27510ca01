//! `electra export --model HF_DIR --out FILE [--vocab vocab.txt] [--keep-tokens-from TEXT...]
//! [--keep-tokens-min-count N] [--weights int8|int4] [--embeddings int8|int4] [--group-size N]
//! [--embedding-group-size N] [--group-scales f32|f16] [--max-positions N] [--keep-int8 SPEC...]`: an HF ELECTRA checkpoint → an int8 (or int4-encoder, int4 word
//! embeddings) model file for microcontrollers (and `electra infer --model FILE`); a classifier's
//! label names and problem type travel with it.

use crate::export::{export_with, KeepTokens, Storage};
use anyhow::bail;
use clap::{Parser, ValueEnum};
use electra_core::model_file::layout::LAYER_LINEAR_NAMES;
use electra_core::model_file::{FloatType, Int4Tensors};
use std::path::PathBuf;

/// How the encoder's matrices are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Weights {
    /// int8, one scale per output channel.
    Int8,
    /// int4, one scale per group of `--group-size` input channels (format version 4); the
    /// embeddings, their projection and the head stay int8.
    Int4,
}

/// How the word embedding table is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Embeddings {
    /// int8, one scale per row.
    Int8,
    /// int4, one scale per group of `--embedding-group-size` columns of a row (format version 5);
    /// the position and token-type tables (a few hundred rows) stay int8.
    Int4,
}

/// How a class of float vectors (int4 group scales; biases and LayerNorms) is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FloatStorage {
    /// f32, 4 bytes a value; read by every build.
    F32,
    /// f16, 2 bytes a value, within 2⁻¹¹ of f32's (format version 6 for group scales, 7 for
    /// biases and LayerNorms: needs a build of that version or later).
    F16,
}

impl From<FloatStorage> for FloatType {
    fn from(storage: FloatStorage) -> Self {
        match storage {
            FloatStorage::F32 => FloatType::F32,
            FloatStorage::F16 => FloatType::F16,
        }
    }
}

/// Input channels per int4 scale when `--group-size` is not given: measured on SST-2
/// (docs/BENCHMARKS.md, "Model size").
pub const DEFAULT_GROUP_SIZE: u32 = 32;

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
    /// With `--keep-tokens-from`: keep only the tokens that occur at least this many times in those
    /// files (rare tokens then read `[UNK]`'s row too; smaller file, measured in docs/BENCHMARKS.md).
    #[arg(long, requires = "keep_tokens_from", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_tokens_min_count: u32,
    /// How the encoder layers' matrices are stored: int8, or int4 with one scale per group of
    /// input channels (about 0.53 of the bytes; activations stay int8).
    #[arg(long, value_enum, default_value = "int8")]
    pub weights: Weights,
    /// How the word embedding table is stored: int8 rows, or int4 with one scale per group of
    /// columns (about 0.5 of the bytes with groups of 32 on 128-wide rows); the position and
    /// token-type tables stay int8.
    #[arg(long, value_enum, default_value = "int8")]
    pub embeddings: Embeddings,
    /// With `--weights int4` or `--embeddings int4`: input channels per scale (even, dividing the
    /// hidden and intermediate sizes; for the embeddings, the embedding size) [default: 32].
    #[arg(long)]
    pub group_size: Option<u32>,
    /// With `--embeddings int4`: columns per scale of the word embedding rows (even, dividing the
    /// embedding size) [default: --group-size].
    #[arg(long)]
    pub embedding_group_size: Option<u32>,
    /// With `--weights int4` or `--embeddings int4`: how the group scales are stored (f16 halves
    /// their bytes; format version 6).
    #[arg(long, value_enum, default_value = "f32")]
    pub group_scales: FloatStorage,
    /// How every bias and LayerNorm parameter is stored (f16 halves their bytes, 80 KB for
    /// ELECTRA-Small; format version 7).
    #[arg(long, value_enum, default_value = "f32")]
    pub biases_and_norms: FloatStorage,
    /// Keep only the first N rows of the position embedding table: the file then runs sequences of
    /// at most N tokens (longer input is refused, or truncated by `evaluate`), and saves
    /// (max_position_embeddings − N) int8 rows (49 KB for ELECTRA-Small at N = 128).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_positions: Option<u32>,
    /// With `--weights int4`: encoder tensors to keep int8 (the sensitive ones): a layer index
    /// (`0`: all of layer 0), a linear of every layer (`query`, `key`, `value`, `attention.output`,
    /// `intermediate`, `output`), or both (`11:output`).
    #[arg(long, requires = "weights", num_args = 1..)]
    pub keep_int8: Vec<String>,
}

/// The short names `--keep-int8` takes, in the order of [`LAYER_LINEAR_NAMES`].
const SHORT_NAMES: [&str; 6] = ["query", "key", "value", "attention.output", "intermediate", "output"];

/// The linear `name` names (short or full HF path), as an index of [`LAYER_LINEAR_NAMES`].
fn linear_index(name: &str) -> Option<usize> {
    SHORT_NAMES.iter().position(|&s| s == name).or_else(|| LAYER_LINEAR_NAMES.iter().position(|&s| s == name))
}

/// The int4 tensors of `--weights int4 --group-size G --keep-int8 ...` (every layer below 64;
/// `export` drops the layers the model does not have).
pub fn int4_tensors(group_size: u32, keep_int8: &[String]) -> anyhow::Result<Int4Tensors> {
    let mut t = Int4Tensors::all(group_size);
    for spec in keep_int8 {
        let (layer, linear) = match spec.split_once(':') {
            Some((l, n)) => (Some(l), Some(n)),
            None if spec.parse::<usize>().is_ok() => (Some(spec.as_str()), None),
            None => (None, Some(spec.as_str())),
        };
        let layer_bits = match layer {
            None => u64::MAX,
            Some(l) => match l.parse::<u32>() {
                Ok(l) if l < 64 => 1u64 << l,
                _ => bail!("--keep-int8 {spec}: `{l}` is not a layer index below 64"),
            },
        };
        let linears = match linear {
            None => (0..t.layers.len()).collect::<Vec<_>>(),
            Some(n) => match linear_index(n) {
                Some(i) => vec![i],
                None => bail!("--keep-int8 {spec}: `{n}` is not one of {}", SHORT_NAMES.join(", ")),
            },
        };
        for i in linears {
            t.layers[i] &= !layer_bits;
        }
    }
    Ok(t)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let group_size = args.group_size.unwrap_or(DEFAULT_GROUP_SIZE);
    let int4 = match args.weights {
        Weights::Int4 => Some(int4_tensors(group_size, &args.keep_int8)?),
        Weights::Int8 if !args.keep_int8.is_empty() => bail!("--keep-int8 applies to --weights int4"),
        Weights::Int8 if args.group_size.is_some() && args.embeddings == Embeddings::Int8 => {
            bail!("--group-size applies to --weights int4 or --embeddings int4")
        }
        Weights::Int8 => None,
    };
    let word_int4_group = match args.embeddings {
        Embeddings::Int4 => Some(args.embedding_group_size.unwrap_or(group_size)),
        Embeddings::Int8 if args.embedding_group_size.is_some() => {
            bail!("--embedding-group-size applies to --embeddings int4")
        }
        Embeddings::Int8 => None,
    };
    if args.group_scales == FloatStorage::F16 && int4.is_none() && word_int4_group.is_none() {
        bail!("--group-scales f16 applies to --weights int4 or --embeddings int4")
    }
    let (int4_scales, biases_and_norms) = (args.group_scales.into(), args.biases_and_norms.into());
    let summary = export_with(
        &args.model,
        &args.out,
        args.vocab.as_deref(),
        args.tokenizer_index,
        &KeepTokens { from: args.keep_tokens_from.clone(), min_count: args.keep_tokens_min_count },
        Storage {
            int4,
            word_int4_group,
            int4_scales,
            biases_and_norms,
            max_positions: args.max_positions.map(|n| n as usize),
        },
    )?;
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
        Some(k) if args.keep_tokens_min_count > 1 => format!(
            "; {} of {} word embedding rows kept: tokens seen at least {} times ({} tokens read)",
            k.kept, k.vocab_size, args.keep_tokens_min_count, k.text_tokens
        ),
        Some(k) => format!("; {} of {} word embedding rows kept ({} tokens read)", k.kept, k.vocab_size, k.text_tokens),
        None => String::new(),
    };
    let weights = match summary.int4 {
        Some(t) => {
            let int4: u32 = t.layers.iter().map(|m| m.count_ones()).sum();
            format!("; {int4} encoder matrices int4 in groups of {}", t.group_size)
        }
        None => String::new(),
    };
    let weights = match summary.word_int4_group {
        Some(g) => format!("{weights}; word embeddings int4 in groups of {g}"),
        None => weights,
    };
    let weights = match summary.int4_scales {
        FloatType::F16 => format!("{weights}; f16 group scales"),
        _ => weights,
    };
    let weights = match summary.biases_and_norms {
        FloatType::F16 => format!("{weights}; f16 biases and LayerNorms"),
        _ => weights,
    };
    let weights = match args.max_positions {
        Some(n) => format!("{weights}; {n} positions"),
        None => weights,
    };
    println!(
        "wrote {} ({} bytes, {:.2} MiB; head {}{labels}; {extras}{kept}{weights})",
        summary.out.display(),
        summary.bytes,
        summary.bytes as f64 / (1 << 20) as f64,
        summary.head.hf_architecture(),
    );
    Ok(())
}
