//! `electra infer` on an int8 model file, reduced to the core: one JSON line in, one JSON line out,
//! for targets where the whole CLI is not worth building (scripts/test.d/52-aarch64.sh runs it on
//! 64-bit Arm under qemu-aarch64 and compares its lines with the x86 host's `electra infer`).
//!
//! ```sh
//! cargo run --release -p electra-core --example int8_infer -- model.elq <in.jsonl >out.jsonl
//! ```
//!
//! Input lines: `{"ids": [...], "token_type_ids": [...]?}`. Output lines: `{"logits": ...}` laid
//! out as `electra infer` lays them out (one value per token for replaced-token detection, one per
//! class, or one list per token), the same text for the same bits: both print each f32 widened to
//! f64 with serde_json. Classifier label fields are not printed. On stderr: the int8 kernel twin
//! this CPU picked; with `ELECTRA_EXPECT_KERNEL=NAME` in the environment, any other twin is an
//! error (an emulated CPU that silently fell back to a slower twin would prove nothing).

use electra_core::quant::kernels;
use electra_core::{ArenaOptions, HeadKind, Model, RunOptions, SequenceInput};
use std::io::{BufRead, Write};
use std::process::ExitCode;

/// What stopped the run, naming the file or input line.
#[derive(Debug)]
#[non_exhaustive]
enum Error {
    Usage,
    Read { path: String, source: std::io::Error },
    Model { path: String, message: String },
    Kernel { expected: String, picked: &'static str },
    Line { line: usize, message: String },
    Output(std::io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Usage => write!(f, "usage: int8_infer MODEL_FILE <in.jsonl >out.jsonl"),
            Self::Read { path, source } => write!(f, "{path}: {source}"),
            Self::Model { path, message } => write!(f, "{path}: {message}"),
            Self::Kernel { expected, picked } => {
                write!(f, "ELECTRA_EXPECT_KERNEL={expected}, but this CPU picked the {picked} twin")
            }
            Self::Line { line, message } => write!(f, "input line {line}: {message}"),
            Self::Output(e) => write!(f, "writing the output: {e}"),
        }
    }
}

fn ids_field(value: &serde_json::Value, field: &str, line: usize) -> Result<Option<Vec<u32>>, Error> {
    let Some(list) = value.get(field) else { return Ok(None) };
    let bad = || Error::Line { line, message: format!("`{field}` must be a list of token ids (u32)") };
    let list = list.as_array().ok_or_else(bad)?;
    list.iter()
        .map(|v| v.as_u64().and_then(|v| u32::try_from(v).ok()).ok_or_else(bad))
        .collect::<Result<_, _>>()
        .map(Some)
}

fn run() -> Result<(), Error> {
    let path = std::env::args().nth(1).ok_or(Error::Usage)?;
    let bytes = std::fs::read(&path).map_err(|source| Error::Read { path: path.clone(), source })?;
    // The file borrowed in place needs 4-byte alignment: copy it into 16-byte words.
    let mut words = vec![0u128; bytes.len().div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
    let model = Model::from_bytes(&bytemuck::cast_slice::<u128, u8>(&words)[..bytes.len()])
        .map_err(|e| Error::Model { path: path.clone(), message: e.to_string() })?;

    let picked = kernels::best().name();
    eprintln!("int8 kernel: {picked}");
    if let Ok(expected) = std::env::var("ELECTRA_EXPECT_KERNEL") {
        if expected != picked {
            return Err(Error::Kernel { expected, picked });
        }
    }

    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (index, line) in std::io::stdin().lock().lines().enumerate() {
        let line_no = index + 1;
        let text = line.map_err(|e| Error::Line { line: line_no, message: e.to_string() })?;
        if text.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::Line { line: line_no, message: e.to_string() })?;
        let ids = ids_field(&value, "ids", line_no)?
            .ok_or_else(|| Error::Line { line: line_no, message: "no `ids` field".into() })?;
        let token_types = ids_field(&value, "token_type_ids", line_no)?;
        let input = SequenceInput { input_ids: &ids, token_type_ids: token_types.as_deref(), attention_mask: None };
        let mut arena = vec![0u128; model.arena_bytes(ids.len(), ArenaOptions::SMALLEST).div_ceil(16)];
        let logits = model
            .run(&input, bytemuck::cast_slice_mut(&mut arena), &RunOptions::default())
            .map_err(|e| Error::Line { line: line_no, message: e.to_string() })?;
        let row = |r: &[f32]| serde_json::Value::from(r.to_vec());
        let json = match model.head() {
            HeadKind::ReplacedTokenDetection | HeadKind::SequenceClassification { .. } => row(logits.values),
            _ => serde_json::Value::Array((0..logits.rows).map(|i| row(logits.row(i))).collect()),
        };
        writeln!(out, "{{\"logits\":{json}}}").map_err(Error::Output)?;
    }
    out.flush().map_err(Error::Output)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
