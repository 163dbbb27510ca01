//! `electra inspect FILE [--texts TEXT [--column NAME]]`: what takes the bytes of a model file, one
//! row per section with totals and percentages; with `--texts`, how many tokens of those texts read
//! a dropped word embedding row (a file exported with `--keep-tokens-from`).

use crate::int8::ModelFile;
use anyhow::{bail, Context};
use clap::Parser;
use electra_core::model_file::format::DType;
use electra_core::model_file::layout::{EntrySpec, LAYER_LINEAR_NAMES, WORD_ROW_MAP_NAME};
use electra_core::model_file::{FloatType, Model};
use std::path::PathBuf;

#[derive(Parser, Debug)]
pub struct Args {
    /// Model file (`electra export`).
    pub file: PathBuf,
    /// Count the tokens of this text file (one text a line, tokenized by the file's own vocab) that
    /// read a dropped word embedding row; needs a file with an embedded vocab.
    #[arg(long)]
    pub texts: Option<PathBuf>,
    /// With `--texts`: the file is a TSV whose first line names the columns; tokenize only this
    /// column (SST-2's `text`).
    #[arg(long, requires = "texts")]
    pub column: Option<String>,
}

/// The sections of the table, in the order printed.
const SECTIONS: [&str; 16] = [
    "header and tensor directory",
    "word embeddings (int8 rows + scales)",
    "word embeddings (int4 rows)",
    "word embedding int4 group scales",
    "word embedding row map",
    "position + token type embeddings",
    "embedding LayerNorm + projection",
    "encoder int8 matrices",
    "encoder int4 matrices",
    "encoder int4 group scales",
    "encoder scales, biases, LayerNorms",
    "head",
    "vocab",
    "tokenizer index",
    "labels",
    "alignment padding",
];

/// Which section a directory entry belongs to.
fn section_of(e: &EntrySpec) -> usize {
    let (name, dtype) = (e.name.as_str(), e.dtype);
    // An int4 table's scales are `[rows, groups]`; an int8 one's `[1, rows]`.
    let group_scales = name.ends_with(".weight_scale") && e.shape[0] > 1;
    if name == WORD_ROW_MAP_NAME {
        4
    } else if name.starts_with("electra.embeddings.word_embeddings.") {
        match dtype {
            DType::I4 => 2,
            _ if group_scales => 3,
            _ => 1,
        }
    } else if name.starts_with("electra.embeddings.position_embeddings.")
        || name.starts_with("electra.embeddings.token_type_embeddings.")
    {
        5
    } else if name.starts_with("electra.embeddings") {
        6
    } else if name.starts_with("electra.encoder.") {
        match dtype {
            DType::I8 => 7,
            DType::I4 => 8,
            _ if group_scales => 9,
            _ => 10,
        }
    } else if name == electra_core::model_file::layout::VOCAB_NAME {
        12
    } else if name == electra_core::model_file::layout::TOKENIZER_INDEX_NAME {
        13
    } else if name == electra_core::model_file::layout::LABELS_NAME {
        14
    } else {
        11
    }
}

/// Bytes per section of `model` (indexed like `SECTIONS`); they sum to the file's length.
pub fn section_bytes(model: &Model) -> [usize; SECTIONS.len()] {
    let layout = model.layout();
    let mut bytes = [0usize; SECTIONS.len()];
    let mut data_offset = None;
    let _ = layout.try_for_each_entry(|e: &EntrySpec| -> Result<(), ()> {
        data_offset.get_or_insert(e.span.offset);
        bytes[section_of(e)] += e.span.len;
        Ok(())
    });
    bytes[0] = data_offset.unwrap_or(layout.file_len);
    let counted: usize = bytes.iter().sum();
    bytes[SECTIONS.len() - 1] = layout.file_len.saturating_sub(counted);
    bytes
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let file = ModelFile::read(&args.file)?;
    let model = file.model()?;
    let config = model.config();
    let total = model.bytes().len();
    println!(
        "{}: format version {}, {} bytes ({:.2} MiB); {} layers, hidden {}, embedding {}, vocab {}, head {}",
        args.file.display(),
        model.format_version(),
        total,
        total as f64 / (1 << 20) as f64,
        config.num_hidden_layers,
        config.hidden_size,
        config.embedding_size,
        config.vocab_size,
        model.head().hf_architecture(),
    );
    if let Some(map) = model.word_row_map() {
        println!("word embeddings pruned: {} of {} rows kept", map.len() - 1, config.vocab_size);
    }
    let scale = match model.int4_scales() {
        FloatType::F16 => "f16",
        _ => "f32",
    };
    if let Some(g) = model.word_embeddings_int4_group() {
        println!(
            "word embeddings int4 in groups of {g} ({scale} scale per group); position and token type embeddings int8"
        );
    }
    if model.biases_and_norms_type() == FloatType::F16 {
        println!("biases and LayerNorm parameters f16");
    }
    if let Some(t) = model.int4_tensors() {
        let layers = config.num_hidden_layers;
        let int4: u32 = t.layers.iter().map(|m| m.count_ones()).sum();
        println!(
            "encoder weights int4 in groups of {}: {int4} of {} matrices ({scale} scale per group)",
            t.group_size,
            layers * LAYER_LINEAR_NAMES.len()
        );
        for (name, mask) in LAYER_LINEAR_NAMES.iter().zip(t.layers) {
            let int8: Vec<String> = (0..layers).filter(|&l| mask >> l & 1 == 0).map(|l| l.to_string()).collect();
            if !int8.is_empty() {
                println!("  {name} stays int8 in layers {}", int8.join(", "));
            }
        }
    }
    println!("{:<42} {:>12} {:>8}", "section", "bytes", "%");
    for (name, bytes) in SECTIONS.iter().zip(section_bytes(&model)) {
        if bytes > 0 {
            println!("{name:<42} {bytes:>12} {:>7.2}%", 100.0 * bytes as f64 / total as f64);
        }
    }
    println!("{:<42} {total:>12} {:>7.2}%", "total", 100.0);
    if let Some(path) = &args.texts {
        let (tokens, dropped) = dropped_hits(&model, path, args.column.as_deref())?;
        println!(
            "{}: {tokens} tokens, {dropped} read a dropped word embedding row ({:.2}%)",
            path.display(),
            if tokens == 0 { 0.0 } else { 100.0 * dropped as f64 / tokens as f64 }
        );
    }
    Ok(())
}

/// Tokens of the texts in `path` (each line, or its `column` in a TSV with a header) and how many
/// of them read a dropped row of `model`'s word embeddings (none in an unpruned file).
pub fn dropped_hits(model: &Model, path: &std::path::Path, column: Option<&str>) -> anyhow::Result<(usize, usize)> {
    let vocab = model.vocab().context("the model file has no vocab to tokenize the texts with")?;
    let mut index = vec![0u32; electra_core::tokenizer::index_len(vocab)];
    electra_core::tokenizer::build_index(vocab, &mut index)?;
    let tokenizer = electra_core::tokenizer::Tokenizer::new(vocab, &index)?;
    let map = model.word_row_map();
    let kept = |id: u32| map.is_none_or(|m| m[1..].binary_search(&id).is_ok());
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut lines = text.lines();
    let column = match column {
        None => None,
        Some(name) => {
            let header = lines.next().unwrap_or("");
            match header.split('\t').position(|c| c == name) {
                Some(i) => Some(i),
                None => bail!("{}: no column `{name}` in the header `{header}`", path.display()),
            }
        }
    };
    let (mut tokens, mut dropped) = (0, 0);
    for (n, line) in lines.enumerate() {
        let text = match column {
            None => line,
            Some(i) => match line.split('\t').nth(i) {
                Some(t) => t,
                None => bail!("{}:{}: no column {}", path.display(), n + 2, i + 1),
            },
        };
        tokenizer.for_each_id(text, |id| {
            tokens += 1;
            dropped += usize::from(!kept(id));
        });
    }
    Ok((tokens, dropped))
}
