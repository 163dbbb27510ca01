//! `electra quickstart` end to end on four short speeches, a few steps and forty reviews: every stage runs and leaves
//! its output.

use std::path::Path;
use std::process::Command;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn quickstart_writes_shards_checkpoint_evaluation_and_model_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus)?;
    let speeches = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/corpus/us-speeches/inaugural");
    for name in ["1789-Washington.txt", "1793-Washington.txt", "1797-Adams.txt", "1801-Jefferson.txt"] {
        std::fs::copy(speeches.join(name), corpus.join(name))?;
    }
    let reviews = dir.path().join("reviews.jsonl");
    let bundled = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/classification/movie-reviews.jsonl"),
    )?;
    // The first 20 negative and the first 20 positive reviews (the file lists the negatives first).
    let lines: Vec<&str> = bundled.lines().collect();
    let subset: Vec<&str> = lines[..20].iter().chain(&lines[lines.len() - 20..]).copied().collect();
    std::fs::write(&reviews, subset.join("\n") + "\n")?;
    let out = dir.path().join("out");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_electra"))
            .args([
                "quickstart",
                "--steps",
                "3",
                "--batch",
                "2",
                "--holdout-every",
                "2",
                "--quiet",
                "--finetune-epochs",
                "1",
            ])
            .arg("--train")
            .arg(&reviews)
            .arg("--corpus")
            .arg(&corpus)
            .arg("--out")
            .arg(&out)
            .args(extra)
            .output()
    };
    let output = run(&[])?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for expected in [
        "2 training and 2 held-out files",
        "RTD accuracy",
        "ROC AUC",
        "majority class",
        "fine-tuned from the pre-trained discriminator",
        "wonderful",
        "done in",
    ] {
        assert!(stdout.contains(expected), "`{expected}` missing from:\n{stdout}");
    }
    for path in [
        "shards/train/manifest.json",
        "shards/heldout/manifest.json",
        "pretrain/checkpoint-latest/discriminator/model.safetensors",
        "pretrain/checkpoint-latest/generator/model.safetensors",
        "pretrain/metrics.jsonl",
        "pretrain/loss.png",
        "reviews/train.jsonl",
        "reviews/dev.jsonl",
        "finetune/model/model.safetensors",
        "finetune/finetune.png",
        "finetune-random-init/model/model.safetensors",
        "sentiment.int8.elq",
    ] {
        assert!(out.join(path).is_file(), "{path} missing");
    }
    let eval: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("eval.json"))?)?;
    for model in ["untrained", "trained"] {
        let tokens = eval[model]["rtd"]["tokens"].as_u64().unwrap_or(0);
        assert!(tokens > 0, "{model}: {}", eval[model]);
    }
    // The classifier keeps readable label names, and the samples are printed with one of them.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("finetune/model/config.json"))?)?;
    assert_eq!(config["id2label"]["1"], "positive");
    assert!(stdout.contains("positive (") || stdout.contains("negative ("), "{stdout}");
    // A rerun replaces its own runs; a directory it did not make is refused.
    assert!(run(&[])?.status.success());
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign)?;
    std::fs::write(foreign.join("notes.txt"), "mine")?;
    let refused = Command::new(env!("CARGO_BIN_EXE_electra"))
        .args(["quickstart", "--steps", "1", "--corpus"])
        .arg(&corpus)
        .arg("--out")
        .arg(&foreign)
        .output()?;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("was not made by `electra quickstart`"));
    assert_eq!(std::fs::read_to_string(foreign.join("notes.txt"))?, "mine");
    Ok(())
}
