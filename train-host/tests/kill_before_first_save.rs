//! A run killed before its first checkpoint (found by scripts/reliability/kill_resume.sh): `electra pretrain` and
//! `electra finetune` had opened `metrics.jsonl` but saved nothing, so `--resume` found no checkpoint and a fresh
//! start was refused as "already holds a run": the output directory could only be deleted by hand. Now only a
//! checkpoint (or the `.old` half of a checkpoint swap a kill interrupted) makes a run: the first command runs
//! again and ends exactly where an uninterrupted run ends, and a directory with a checkpoint is still refused.

use electra_core::{ElectraConfig, HeadKind};
use electra_pipeline::shard::{run as shard_run, ShardOptions};
use electra_pipeline::tokenizer::HostTokenizer;
use electra_train::checkpoint::save_hf_checkpoint;
use electra_train::model::TaskModel;
use electra_train::pretrain::BUNDLED_VOCAB;
use std::path::{Path, PathBuf};
use std::process::Command;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// What a kill during step 1 leaves: the log opened, one line written but for its end, no checkpoint.
const CUT_LOG_LINE: &str = "{\"step\":1,\"loss\":3";

fn electra(args: &[&str], out: &Path) -> Result<(bool, String), Box<dyn std::error::Error>> {
    let output = Command::new(env!("CARGO_BIN_EXE_electra")).args(args).arg("--out").arg(out).output()?;
    Ok((output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned()))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// Leaves `out` as a kill before the first save does.
fn killed_before_first_save(out: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("metrics.jsonl"), CUT_LOG_LINE)
}

/// `out` after a kill between the two renames of a checkpoint swap: only `checkpoint-latest.old`.
fn killed_mid_swap(out: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(out.join("checkpoint-latest.old"))?;
    std::fs::write(out.join("metrics.jsonl"), "")
}

fn same_files(a: &Path, b: &Path, files: &[&str]) -> TestResult {
    for f in files {
        assert_eq!(std::fs::read(a.join(f))?, std::fs::read(b.join(f))?, "{f} differs");
    }
    Ok(())
}

fn shards(dir: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/corpus/us-speeches/inaugural");
    let out = dir.join("shards");
    let opts = ShardOptions {
        seq_len: 64,
        num_shards: Some(1),
        ..ShardOptions::new(vec![corpus.join("1789-Washington.txt")], out.clone())
    };
    shard_run(&opts, &HostTokenizer::from_bytes(BUNDLED_VOCAB.to_vec())?)?;
    Ok(out)
}

#[test]
fn pretrain_killed_before_its_first_save_starts_again() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let data = shards(tmp.path())?;
    let args = ["pretrain", "--data", s(&data), "--model-size", "tiny", "--steps", "2", "--batch", "2", "--quiet"];
    let straight = tmp.path().join("straight");
    assert!(electra(&args, &straight)?.0);

    let killed = tmp.path().join("killed");
    killed_before_first_save(&killed)?;
    let (resumed, err) = electra(&["pretrain", "--resume", "--quiet"], &killed)?;
    assert!(!resumed && err.contains("no readable checkpoint"), "{err}");
    let (ok, err) = electra(&args, &killed)?;
    assert!(ok, "a fresh start where no checkpoint was saved: {err}");
    same_files(
        &straight,
        &killed,
        &["checkpoint-latest/discriminator/model.safetensors", "checkpoint-latest/trainer_state.safetensors"],
    )?;
    assert_eq!(std::fs::read_to_string(killed.join("metrics.jsonl"))?.lines().count(), 2, "the cut line is gone");

    // A directory with a checkpoint, or the `.old` half of one, is still a run.
    for out in [&straight, &tmp.path().join("mid-swap")] {
        if out != &straight {
            killed_mid_swap(out)?;
        }
        let (ok, err) = electra(&args, out)?;
        assert!(!ok && err.contains("already holds a training run"), "{err}");
    }
    Ok(())
}

#[test]
fn finetune_killed_before_its_first_save_starts_again() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let model = tmp.path().join("tiny");
    let init = TaskModel::init(ElectraConfig::tiny(), HeadKind::ReplacedTokenDetection, 1)?;
    save_hf_checkpoint(&model, &init.config, init.kind, &init.tensors(), BUNDLED_VOCAB)?;
    let train = tmp.path().join("train.jsonl");
    let lines: String = (0..16)
        .map(|i| format!("{}\n", serde_json::json!({"text": format!("the film {i} was good"), "label": i % 2})))
        .collect();
    std::fs::write(&train, lines)?;
    let args = ["finetune", "--model", s(&model), "--task", "custom", "--train", s(&train), "--batch", "8"];
    let args = [&args[..], &["--epochs", "1", "--max-len", "16", "--quiet"]].concat();
    let straight = tmp.path().join("straight");
    assert!(electra(&args, &straight)?.0);

    let killed = tmp.path().join("killed");
    killed_before_first_save(&killed)?;
    let (ok, err) = electra(&args, &killed)?;
    assert!(ok, "a fresh start where no checkpoint was saved: {err}");
    same_files(&straight, &killed, &["model/model.safetensors", "checkpoint-latest/trainer_state.safetensors"])?;

    for out in [&straight, &tmp.path().join("mid-swap")] {
        if out != &straight {
            killed_mid_swap(out)?;
        }
        let (ok, err) = electra(&args, out)?;
        assert!(!ok && err.contains("already holds a fine-tuning run"), "{err}");
    }
    Ok(())
}
