//! Replays every committed fuzz input on stable, as part of the test command (issue 17): the seed corpora
//! (`fuzz/corpus/TARGET/`) and every input a campaign found a bug with (`fuzz/regressions/TARGET/`), through the very
//! functions the libFuzzer targets call (`fuzz/harness.rs`, included here). An input that panics fails the test,
//! naming the file; scripts/reliability/fuzz.sh runs the real fuzzing.

#[path = "../../fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn inputs(kind: &str, target: &str) -> Result<Vec<PathBuf>, std::io::Error> {
    let dir = fuzz_dir().join(kind).join(target);
    if kind == "regressions" && !dir.exists() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    files.retain(|p| p.is_file());
    files.sort();
    Ok(files)
}

/// Runs `run` on every committed input of `target`; fails naming each input that panicked.
fn replay(target: &str, run: fn(&[u8])) -> TestResult {
    let corpus = inputs("corpus", target)?;
    assert!(!corpus.is_empty(), "fuzz/corpus/{target}/ holds no seed input");
    let mut panicked = Vec::new();
    for path in corpus.iter().chain(&inputs("regressions", target)?) {
        let data = std::fs::read(path)?;
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            panicked.push(path.display().to_string());
        }
    }
    assert!(panicked.is_empty(), "{target}: these inputs panicked: {panicked:?}");
    Ok(())
}

#[test]
fn model_file_corpus() -> TestResult {
    replay("model_file", harness::model_file)
}

#[test]
fn wordpiece_corpus() -> TestResult {
    replay("wordpiece", harness::wordpiece)
}

#[test]
fn hf_checkpoint_corpus() -> TestResult {
    replay("hf_checkpoint", harness::hf_checkpoint)
}

#[test]
fn shard_reader_corpus() -> TestResult {
    replay("shard_reader", harness::shard_reader)
}

#[test]
fn infer_line_corpus() -> TestResult {
    replay("infer_line", harness::infer_line)
}

#[test]
fn task_reader_corpus() -> TestResult {
    replay("task_reader", harness::task_reader)
}

/// The seeds reach past the parsers' first checks: a test that only fed garbage would replay quickly and prove
/// little. Each seed model file parses, and the seed checkpoint loads.
#[test]
fn seeds_are_valid_inputs() -> TestResult {
    for path in inputs("corpus", "model_file")? {
        let data = std::fs::read(&path)?;
        let n = data[0] as usize;
        let file = &data[1 + 2 * n..];
        let mut aligned = vec![0u128; file.len().div_ceil(16)];
        let bytes = &mut bytemuck::cast_slice_mut::<u128, u8>(&mut aligned)[..file.len()];
        bytes.copy_from_slice(file);
        let parsed = electra_core::model_file::Model::from_bytes(bytes);
        assert!(parsed.is_ok(), "{}: {:?}", path.display(), parsed.err());
    }
    let tmp = tempfile::tempdir()?;
    let data = std::fs::read(fuzz_dir().join("corpus/hf_checkpoint/rtd"))?;
    let n = u16::from_le_bytes([data[0], data[1]]) as usize;
    std::fs::write(tmp.path().join("config.json"), &data[2..2 + n])?;
    std::fs::write(tmp.path().join("model.safetensors"), &data[2 + n..])?;
    electra_train::checkpoint::HfCheckpoint::load(tmp.path())?;
    Ok(())
}
