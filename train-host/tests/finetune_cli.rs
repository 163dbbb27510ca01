//! `electra finetune` and `electra evaluate` end to end on small generated tasks with a tiny model (full BERT
//! vocab, HF-initialized): it learns an easy task, keeps the best model in HF layout with its label names, a run
//! stopped and resumed ends bit for bit where a straight run ends, regression and tagging run, and bad input or
//! a reused `--out` is refused with an error that names the cause.

use electra_core::{ElectraConfig, HeadKind};
use electra_train::checkpoint::save_hf_checkpoint;
use electra_train::model::TaskModel;
use electra_train::pretrain::BUNDLED_VOCAB;
use electra_train::rng::TrainRng;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::cli::{electra, s};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// An easy task is learned to at least this dev accuracy: the label is one of two cue words, so anything that
/// trains reaches ~100%, while a broken trainer stays at chance (~50%).
const EASY_TASK_MIN_ACCURACY: f64 = 0.9;

/// int8 may lose at most this much accuracy against float32 here: 100 dev examples, so 0.03 is three of them
/// (the bar on real tasks is 0.5 point, measured in docs/BENCHMARKS.md on far larger dev sets).
const INT8_MAX_LOSS: f64 = 0.03;

const FILLER: [&str; 14] =
    ["the", "a", "movie", "film", "story", "plot", "actor", "scene", "music", "was", "is", "very", "and", "but"];

/// A tiny ELECTRA discriminator (ElectraConfig::tiny, BERT uncased vocab) with HF's initialization, saved in HF
/// layout: the starting point of the runs.
fn tiny_checkpoint(dir: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let path = dir.join("tiny");
    let model = TaskModel::init(ElectraConfig::tiny(), HeadKind::ReplacedTokenDetection, 1)?;
    save_hf_checkpoint(&path, &model.config, model.kind, &model.tensors(), BUNDLED_VOCAB)?;
    Ok(path)
}

/// `n` sentences of filler with one cue word that decides the label.
fn sentiment_lines(n: usize, seed: u64) -> String {
    let mut rng = TrainRng::new(seed);
    let mut text = String::new();
    for _ in 0..n {
        let positive = rng.below(2) == 1;
        let mut words: Vec<&str> = (0..4 + rng.below(8)).map(|_| FILLER[rng.below(FILLER.len())]).collect();
        words.insert(rng.below(words.len() + 1), if positive { "great" } else { "awful" });
        let label = if positive { "positive" } else { "negative" };
        let _ = writeln!(text, "{}", serde_json::json!({ "text": words.join(" "), "label": label }));
    }
    text
}

fn ok(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "electra failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(out: Output) -> String {
    assert!(!out.status.success(), "electra should have failed; stdout: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Sentiment {
    _tmp: tempfile::TempDir,
    model: PathBuf,
    train: PathBuf,
    dev: PathBuf,
    root: PathBuf,
}

fn sentiment() -> Result<Sentiment, Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().to_path_buf();
    let model = tiny_checkpoint(&root)?;
    let (train, dev) = (root.join("train.jsonl"), root.join("dev.jsonl"));
    std::fs::write(&train, sentiment_lines(320, 1))?;
    std::fs::write(&dev, sentiment_lines(100, 2))?;
    Ok(Sentiment { _tmp: tmp, model, train, dev, root })
}

/// `electra finetune --task TASK` on `model` with these files, quiet; `extra` options before `--quiet`.
fn task_args<'a>(
    model: &'a Path,
    task: &'a str,
    train: &'a Path,
    dev: Option<&'a Path>,
    out: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["finetune", "--model", s(model), "--task", task, "--train", s(train)];
    if let Some(dev) = dev {
        args.extend(["--dev", s(dev)]);
    }
    args.extend(["--out", s(out)]);
    args.extend(extra);
    args.push("--quiet");
    args
}

fn finetune_args<'a>(t: &'a Sentiment, out: &'a Path) -> Vec<&'a str> {
    let extra = ["--epochs", "3", "--batch", "16", "--lr", "1e-3", "--seed", "7"];
    task_args(&t.model, "custom", &t.train, Some(&t.dev), out, &extra)
}

fn eval_lines(metrics: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(metrics).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("eval").is_some())
        .collect()
}

#[test]
fn learns_an_easy_task_and_keeps_the_best_model_with_its_labels() -> TestResult {
    let t = sentiment()?;
    let out = t.root.join("run");
    let summary = ok(electra(&finetune_args(&t, &out)));
    assert!(summary.contains("<- best"), "{summary}");
    let evals = eval_lines(&out.join("metrics.jsonl"));
    assert_eq!(evals.len(), 3, "one dev evaluation per epoch");
    let best = evals.iter().filter_map(|e| e["eval"]["accuracy"].as_f64()).fold(0.0, f64::max);
    assert!(best >= EASY_TASK_MIN_ACCURACY, "best dev accuracy {best}");
    assert!(out.join("finetune.png").is_file());

    // HF layout, label names in id order (sorted: negative, positive), the task recorded.
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("model/config.json"))?)?;
    assert_eq!(config["architectures"][0], "ElectraForSequenceClassification");
    assert_eq!(config["id2label"]["0"], "negative");
    assert_eq!(config["id2label"]["1"], "positive");
    assert_eq!(config["label2id"]["positive"], 1);
    assert_eq!(config["problem_type"], "single_label_classification");
    assert_eq!(config["finetuning_task"], "custom");
    assert!(out.join("model/vocab.txt").is_file() && out.join("model/model.safetensors").is_file());

    // `electra evaluate` reproduces the best evaluation and writes one prediction per line.
    let predictions = t.root.join("predictions.jsonl");
    let json = ok(electra(&["evaluate", "--model", s(&out), "--dev", s(&t.dev), "--out", s(&predictions), "--json"]));
    let report: serde_json::Value = serde_json::from_str(json.trim())?;
    assert_eq!(report["metrics"]["accuracy"].as_f64(), Some(best), "{report}");
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&predictions)?.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 100);
    assert_eq!(lines[0]["line"], 1);
    let p = &lines[0]["probabilities"];
    let sum = p["negative"].as_f64().unwrap_or(0.0) + p["positive"].as_f64().unwrap_or(0.0);
    assert!((sum - 1.0).abs() < 1e-5, "probabilities sum to {sum}");
    // The int8 model file exported from it keeps the labels and scores within a point or two of float32 on
    // this easy task (the int8 engine is the firmware's).
    let elq = t.root.join("model.elq");
    ok(electra(&[
        "export",
        "--model",
        s(&out.join("model")),
        "--out",
        s(&elq),
        "--vocab",
        s(&out.join("model/vocab.txt")),
    ]));
    let json = ok(electra(&["evaluate", "--model", s(&elq), "--dev", s(&t.dev), "--json"]));
    let int8: serde_json::Value = serde_json::from_str(json.trim())?;
    assert_eq!(int8["engine"], "int8");
    let int8_accuracy = int8["metrics"]["accuracy"].as_f64().unwrap_or(0.0);
    assert!(int8_accuracy >= best - INT8_MAX_LOSS, "int8 {int8_accuracy} vs float32 {best}");
    // The table form names the metric and prints a confusion matrix.
    let table = ok(electra(&["evaluate", "--model", s(&out), "--dev", s(&t.dev)]));
    assert!(table.contains("accuracy") && table.contains("confusion matrix"), "{table}");
    Ok(())
}

/// The CLI's one vocab rule: a checkpoint without `vocab.txt` (and no `--vocab`) is tokenized with the bundled
/// BERT uncased vocab, which the task model then carries.
#[test]
fn a_checkpoint_without_its_vocab_uses_the_bundled_one() -> TestResult {
    let t = sentiment()?;
    std::fs::remove_file(t.model.join("vocab.txt"))?;
    let out = t.root.join("no-vocab");
    let mut args = finetune_args(&t, &out);
    let epochs = args.iter().position(|&a| a == "--epochs").ok_or("no --epochs")?;
    args[epochs + 1] = "1";
    ok(electra(&args));
    assert_eq!(std::fs::read(out.join("model/vocab.txt"))?, BUNDLED_VOCAB);
    Ok(())
}

#[test]
fn a_stopped_and_resumed_run_ends_where_a_straight_run_ends() -> TestResult {
    let t = sentiment()?;
    let straight = t.root.join("straight");
    let resumed = t.root.join("resumed");
    let mut args = finetune_args(&t, &straight);
    args.extend(["--eval-every", "7"]);
    ok(electra(&args));
    let mut args = finetune_args(&t, &resumed);
    args.extend(["--eval-every", "7", "--stop-after", "10"]);
    let stopped = ok(electra(&args));
    assert!(stopped.contains("--resume"), "{stopped}");
    // A second run on the same --out is refused, naming --resume.
    let mut again = finetune_args(&t, &resumed);
    again.extend(["--eval-every", "7"]);
    assert!(failed(electra(&again)).contains("--resume"));
    ok(electra(&["finetune", "--out", s(&resumed), "--resume", "--quiet", "--stop-after", "31"]));
    ok(electra(&["finetune", "--out", s(&resumed), "--resume", "--quiet"]));
    for file in [
        "model/model.safetensors",
        "checkpoint-latest/model/model.safetensors",
        "checkpoint-latest/trainer_state.safetensors",
    ] {
        assert_eq!(std::fs::read(straight.join(file))?, std::fs::read(resumed.join(file))?, "{file} differs");
    }
    // The same steps and evaluations were logged, but for the timings.
    let strip = |p: &Path| -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
        let mut lines = Vec::new();
        for line in std::fs::read_to_string(p)?.lines() {
            let mut v: serde_json::Value = serde_json::from_str(line)?;
            if let Some(o) = v.as_object_mut() {
                o.remove("examples_per_s");
            }
            lines.push(v);
        }
        Ok(lines)
    };
    assert_eq!(strip(&straight.join("metrics.jsonl"))?, strip(&resumed.join("metrics.jsonl"))?);

    // Resuming on a changed training file is refused.
    std::fs::write(&t.train, sentiment_lines(320, 3))?;
    let err = failed(electra(&["finetune", "--out", s(&resumed), "--resume", "--quiet"]));
    assert!(err.contains("sha256"), "{err}");
    Ok(())
}

#[test]
fn regression_and_tagging_train_and_report_their_metrics() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path();
    let model = tiny_checkpoint(root)?;

    // Regression (STS-B style CSV with a header): the score is the count of "good" words.
    let mut rng = TrainRng::new(5);
    let mut csv = String::from("sentence1,sentence2,score\n");
    for _ in 0..200 {
        let k = rng.below(4);
        let mut words: Vec<&str> = (0..5).map(|_| FILLER[rng.below(FILLER.len())]).collect();
        words.extend(std::iter::repeat_n("good", k));
        let _ = writeln!(csv, "\"{}\",the film,{}.5", words.join(" "), k);
    }
    let train = root.join("sts.csv");
    std::fs::write(&train, &csv)?;
    let out = root.join("reg");
    let extra = ["--epochs", "2", "--batch", "16", "--lr", "1e-3"];
    let summary = ok(electra(&task_args(&model, "stsb", &train, Some(&train), &out, &extra)));
    assert!(summary.contains("regression") && summary.contains("pearson"), "{summary}");
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("model/config.json"))?)?;
    assert_eq!(config["problem_type"], "regression");

    // Tagging (CoNLL: word POS tag): "great" and "awful" are one-word chunks, the rest outside.
    let mut conll = String::from("-DOCSTART- -X- O\n\n");
    for _ in 0..120 {
        for _ in 0..6 {
            let w = if rng.below(3) == 0 { ["great", "awful"][rng.below(2)] } else { FILLER[rng.below(FILLER.len())] };
            let tag = match w {
                "great" => "B-POS",
                "awful" => "B-NEG",
                _ => "O",
            };
            let _ = writeln!(conll, "{w} NN {tag}");
        }
        conll.push('\n');
    }
    let tagged = root.join("chunks.txt");
    std::fs::write(&tagged, &conll)?;
    // The dev file uses a tag the training file never does (as CoNLL-2000's test file has I-LST): the tag set takes
    // it, with a notice, instead of refusing the file.
    let dev_tagged = root.join("chunks-dev.txt");
    std::fs::write(&dev_tagged, format!("{conll}great NN B-POS\n1 CD B-LST\n\n"))?;
    let out = root.join("tag");
    let extra = ["--epochs", "3", "--batch", "16", "--lr", "2e-3"];
    let run = electra(&task_args(&model, "tagging", &tagged, Some(&dev_tagged), &out, &extra));
    let notice = String::from_utf8_lossy(&run.stderr).into_owned();
    let summary = ok(run);
    assert!(summary.contains("overall_f1"), "{summary}");
    assert!(notice.contains("tags not in the training file: B-LST"), "{notice}");
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("model/config.json"))?)?;
    assert_eq!(config["architectures"][0], "ElectraForTokenClassification");
    assert_eq!(config["id2label"]["0"], "O", "tags in a stable order, O first");
    let tags: Vec<&str> =
        config["id2label"].as_object().map_or(Vec::new(), |m| m.values().filter_map(|v| v.as_str()).collect());
    assert!(tags.contains(&"B-LST"), "the dev-only tag is in the tag set: {tags:?}");
    let json = ok(electra(&["evaluate", "--model", s(&out), "--dev", s(&tagged), "--json"]));
    let report: serde_json::Value = serde_json::from_str(json.trim())?;
    let f1 = report["metrics"]["overall_f1"].as_f64().unwrap_or(0.0);
    assert!(f1 >= EASY_TASK_MIN_ACCURACY, "tagging span F1 {f1} on an easy task");
    Ok(())
}

#[test]
fn bad_task_files_are_refused_naming_file_and_line() -> TestResult {
    let t = sentiment()?;
    // A dev label the training file never had.
    let bad_dev = t.root.join("bad_dev.jsonl");
    std::fs::write(
        &bad_dev,
        "{\"text\": \"fine\", \"label\": \"positive\"}\n{\"text\": \"meh\", \"label\": \"neutral\"}\n",
    )?;
    let out = t.root.join("bad1");
    let err = failed(electra(&task_args(&t.model, "custom", &t.train, Some(&bad_dev), &out, &[])));
    assert!(err.contains("bad_dev.jsonl") && err.contains("line 2") && err.contains("neutral"), "{err}");
    assert!(!out.join("metrics.jsonl").exists(), "nothing written for a refused run");
    // Broken JSON in the training file.
    let bad_train = t.root.join("bad_train.jsonl");
    std::fs::write(&bad_train, "{\"text\": \"ok\", \"label\": \"positive\"}\n{\"text\": \n")?;
    let err = failed(electra(&task_args(&t.model, "custom", &bad_train, None, &t.root.join("bad2"), &[])));
    assert!(err.contains("bad_train.jsonl") && err.contains("line 2"), "{err}");
    // A model directory that is not one.
    let err = failed(electra(&task_args(&t.root, "custom", &t.train, None, &t.root.join("bad3"), &[])));
    assert!(err.contains("config.json"), "{err}");
    // Evaluating a pre-trained (not fine-tuned) model is refused.
    let err = failed(electra(&["evaluate", "--model", s(&t.model), "--dev", s(&t.dev)]));
    assert!(err.contains("not a task model"), "{err}");
    Ok(())
}
