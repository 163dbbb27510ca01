//! `electra pretrain` killed with SIGKILL at arbitrary moments (checkpoints every step, so most kills land in the
//! middle of a save) and resumed with `--resume` ends exactly where an uninterrupted run ends: same losses, same
//! weights, same optimizer moments.

use electra_pipeline::shard::{run as shard_run, ShardOptions};
use electra_pipeline::tokenizer::HostTokenizer;
use electra_train::pretrain::metrics_log::read_records;
use electra_train::pretrain::BUNDLED_VOCAB;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const STEPS: u64 = 12;
/// Kill the run once `metrics.jsonl` has this many lines, then resume; a second kill, then resume to the end.
const KILL_AT: [usize; 2] = [3, 7];
/// Give up waiting for a run after this long (a hung child must not hang the test).
const PATIENCE: Duration = Duration::from_secs(300);

fn shards(dir: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/corpus/us-speeches/inaugural");
    let inputs = vec![corpus.join("1789-Washington.txt"), corpus.join("1797-Adams.txt")];
    let out = dir.join("shards");
    let opts = ShardOptions { seq_len: 64, num_shards: Some(1), ..ShardOptions::new(inputs, out.clone()) };
    shard_run(&opts, &HostTokenizer::from_bytes(BUNDLED_VOCAB.to_vec())?)?;
    Ok(out)
}

fn pretrain(data: &Path, out: &Path, resume: bool) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_electra"));
    cmd.args(["pretrain", "--model-size", "tiny", "--batch", "4", "--save-every", "1", "--quiet", "--seed", "3"])
        .args(["--steps", &STEPS.to_string(), "--data"])
        .arg(data)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if resume {
        cmd.arg("--resume");
    }
    cmd
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

fn checkpoint_bytes(out: &Path) -> Vec<Vec<u8>> {
    ["discriminator/model.safetensors", "generator/model.safetensors", "trainer_state.safetensors"]
        .iter()
        .map(|f| std::fs::read(out.join("checkpoint-latest").join(f)).unwrap_or_default())
        .collect()
}

#[test]
fn killed_and_resumed_run_ends_where_an_uninterrupted_one_does() -> TestResult {
    let dir = tempfile::tempdir()?;
    let data = shards(dir.path())?;
    let straight = dir.path().join("straight");
    let status = pretrain(&data, &straight, false).status()?;
    assert!(status.success(), "uninterrupted run failed");

    let killed = dir.path().join("killed");
    let metrics = killed.join("metrics.jsonl");
    let mut kills = 0;
    for (round, &at) in KILL_AT.iter().enumerate() {
        let mut child = pretrain(&data, &killed, round > 0).spawn()?;
        let started = Instant::now();
        while lines(&metrics) < at && child.try_wait()?.is_none() && started.elapsed() < PATIENCE {
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait()?.is_none() {
            child.kill()?; // SIGKILL: no destructor, no flush, mid-step or mid-save
            kills += 1;
        }
        child.wait()?;
    }
    let output = pretrain(&data, &killed, true).output()?;
    assert!(output.status.success(), "resume failed: {}", String::from_utf8_lossy(&output.stderr));
    assert!(kills > 0, "no run was still going when it was to be killed");

    let (a, b) = (read_records(&straight.join("metrics.jsonl"))?, read_records(&metrics)?);
    assert_eq!(a.len(), STEPS as usize);
    let trajectory = |r: &[electra_train::pretrain::StepRecord]| -> Vec<(u64, u32, u32, u32)> {
        r.iter().map(|r| (r.step, r.loss.to_bits(), r.gen_loss.to_bits(), r.disc_loss.to_bits())).collect()
    };
    assert_eq!(trajectory(&a), trajectory(&b));
    assert!(checkpoint_bytes(&straight) == checkpoint_bytes(&killed), "final checkpoints differ");
    // Nothing half-written is left beside the checkpoint.
    let leftovers: Vec<_> = std::fs::read_dir(&killed)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("checkpoint-latest."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    Ok(())
}
