//! Running the `electra` binary and reading what it prints: the one copy of what the CLI tests share.

use electra_train::cli::infer::{infer_lines, load_model};
use electra_train::infer::GemmBackend;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// `electra args`, stdin closed, stdout and stderr captured.
pub fn electra(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_electra")).args(args).output().unwrap_or_else(|e| panic!("run electra: {e}"))
}

/// `electra args` with `stdin` on its standard input.
pub fn electra_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_electra"));
    command.args(args);
    run_with_stdin(command, stdin.as_bytes())
}

/// Runs `command` with `stdin` piped in, stdout and stderr captured. The input is written from another
/// thread: the child may stop reading (an error on the first line) before the end, and a large input
/// must not block on a full pipe while the child blocks on a full stdout.
pub fn run_with_stdin(mut command: Command, stdin: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let output = child.wait_with_output().expect("the command finishes");
    let _ = writer.join();
    output
}

/// The stdout of a run that must have succeeded.
pub fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "electra failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).expect("UTF-8 stdout")
}

/// A path as the `&str` a command line takes.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_else(|| panic!("non-UTF-8 path {}", p.display()))
}

/// The bytes column of `electra inspect`'s table row named `section`.
pub fn row(table: &str, section: &str) -> Option<usize> {
    let line = table.lines().find(|l| l.starts_with(section))?;
    line[section.len()..].split_whitespace().next()?.parse().ok()
}

/// A 1000-line vocab (the fixtures' size) with BERT's special tokens, then `w5` … `w999`, written to
/// `dir/vocab.txt`.
pub fn w_vocab(dir: &Path) -> PathBuf {
    let vocab: String = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .into_iter()
        .map(String::from)
        .chain((5..1000).map(|i| format!("w{i}")))
        .map(|w| w + "\n")
        .collect();
    let path = dir.join("vocab.txt");
    std::fs::write(&path, vocab).expect("write vocab.txt");
    path
}

/// `electra infer`'s line filter in process on `model` (a checkpoint directory or a model file): one JSON
/// value per output line, or the error's message.
pub fn infer(model: &Path, input: &str, batch: usize) -> Result<Vec<serde_json::Value>, String> {
    let model = load_model(model, GemmBackend::default()).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    infer_lines(&*model, None, input.as_bytes(), &mut out, batch).map_err(|e| e.to_string())?;
    Ok(String::from_utf8(out).expect("UTF-8 output").lines().map(|l| serde_json::from_str(l).expect("JSON")).collect())
}

/// Every number of a (nested) JSON array, in order.
pub fn flat(v: &serde_json::Value) -> Vec<f64> {
    match v {
        serde_json::Value::Array(a) => a.iter().flat_map(flat).collect(),
        other => vec![other.as_f64().expect("a number")],
    }
}
