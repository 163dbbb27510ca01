//! The `electra infer` binary end to end: exit status, stdout and stderr.

mod common;

use common::cli::{electra_with_stdin as electra, w_vocab};
use common::fixture;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `electra infer --model <the disc fixture> extra` on `stdin`.
fn electra_infer(extra: &[&str], stdin: &str) -> Output {
    let disc = fixture("disc");
    electra(&[&["infer", "--model", common::cli::s(&disc)][..], extra].concat(), stdin)
}

#[test]
fn scores_stdin_to_stdout() {
    let out = electra_infer(&[], "{\"ids\": [2, 7, 3]}\n{\"ids\": [2, 9, 3, 0], \"attention_mask\": [1, 1, 1, 0]}\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["logits"].as_array().map(Vec::len), Some(4));
}

#[test]
fn a_bad_line_exits_non_zero_naming_the_line_without_panicking() {
    let out = electra_infer(&["--batch", "1"], "{\"ids\": [2, 7, 3]}\n{\"ids\": [2, 7000]}\n");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2: token id 7000 at position 1 is outside the vocab of 1000"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_missing_model_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_electra"))
        .args(["infer", "--model", "/nonexistent/model"])
        .stdin(Stdio::null())
        .output()
        .expect("electra runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/model/config.json"), "{stderr}");
}

/// A copy of a fixture classifier with `id2label` (and `problem_type`) set as `electra finetune` writes them.
fn labelled_copy(name: &str, dir: &Path, id2label: &[&str], problem_type: &str) -> std::path::PathBuf {
    let out = dir.join(name);
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::copy(fixture(name).join("model.safetensors"), out.join("model.safetensors")).expect("copy");
    let text = std::fs::read_to_string(fixture(name).join("config.json")).expect("config");
    let mut config: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let id2label: serde_json::Map<String, serde_json::Value> =
        id2label.iter().enumerate().map(|(i, l)| (i.to_string(), (*l).into())).collect();
    config["id2label"] = id2label.into();
    config["problem_type"] = problem_type.into();
    std::fs::write(out.join("config.json"), config.to_string()).expect("write config");
    out
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout.clone()).expect("utf-8");
    text.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect()
}

/// `electra infer` on a classifier, float directory and its int8 export alike: each line names the predicted
/// label beside its logits, with the softmax probabilities keyed by label name in id order; `--text` prints
/// the label and its probability first.
#[test]
fn classifiers_print_their_labels_float_and_int8() {
    let dir = tempfile::tempdir().expect("tempdir");
    let names = ["negative", "neutral", "positive"];
    let model = labelled_copy("cls", dir.path(), &names, "single_label_classification");
    let vocab = w_vocab(dir.path());
    let elq = dir.path().join("cls.elq");
    let (model_arg, vocab_arg, elq_arg) =
        (model.display().to_string(), vocab.display().to_string(), elq.display().to_string());
    let out = electra(&["export", "--model", &model_arg, "--out", &elq_arg, "--vocab", &vocab_arg], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("labels negative, neutral, positive"), "{said}");

    let input = "{\"ids\": [2, 7, 3]}\n{\"ids\": [2, 9, 11, 12, 3]}\n{\"text\": \"w7 w12 w40\"}\n";
    for path in [&model_arg, &elq_arg] {
        let lines = json_lines(&electra(&["infer", "--model", path, "--vocab", &vocab_arg], input));
        assert_eq!(lines.len(), 3);
        for line in &lines {
            let logits: Vec<f64> =
                line["logits"].as_array().expect("logits").iter().filter_map(|v| v.as_f64()).collect();
            assert_eq!(logits.len(), 3, "{path}: {line}");
            let best = (0..3).fold(0, |b, i| if logits[i] > logits[b] { i } else { b });
            assert_eq!(line["label"], names[best], "{path}: {line}");
            let probabilities = line["probabilities"].as_object().expect("probabilities");
            let total: f64 = names.iter().filter_map(|n| probabilities[*n].as_f64()).sum();
            assert!((total - 1.0).abs() < 1e-12, "{path}: {line}");
            let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let denominator: f64 = logits.iter().map(|l| (l - max).exp()).sum();
            for (name, logit) in names.iter().zip(&logits) {
                let expected = (logit - max).exp() / denominator;
                let p = probabilities[*name].as_f64().unwrap_or(f64::NAN);
                assert!((p - expected).abs() < 1e-12, "{path}: {name} {p} vs {expected}");
            }
        }
        let out = electra(&["infer", "--model", path, "--vocab", &vocab_arg, "--text", "w7 w12 w40"], "");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let first = text.lines().next().unwrap_or("");
        let label = lines[2]["label"].as_str().unwrap_or("?");
        let p = lines[2]["probabilities"][label].as_f64().unwrap_or(f64::NAN);
        assert_eq!(first, format!("{label} ({p:.2})"), "{path}: {text}");
    }
}

/// Regression gives a score; a token classifier one tag per token; an int8 file says the same as its source.
#[test]
fn regression_scores_and_token_tags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = "{\"ids\": [2, 7, 9, 3]}\n";
    // The reg fixture says problem_type regression with HF's default id2label.
    let reg = fixture("reg").display().to_string();
    let reg_elq = dir.path().join("reg.elq").display().to_string();
    assert!(electra(&["export", "--model", &reg, "--out", &reg_elq], "").status.success());
    for path in [&reg, &reg_elq] {
        let lines = json_lines(&electra(&["infer", "--model", path], input));
        let logit = lines[0]["logits"][0].as_f64().expect("one logit");
        assert_eq!(lines[0]["score"].as_f64(), Some(logit), "{path}");
        assert!(lines[0].get("label").is_none() && lines[0].get("probabilities").is_none(), "{path}");
    }
    let tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"];
    let tok = labelled_copy("tok", dir.path(), &tags, "single_label_classification").display().to_string();
    let tok_elq = dir.path().join("tok.elq").display().to_string();
    assert!(electra(&["export", "--model", &tok, "--out", &tok_elq], "").status.success());
    for path in [&tok, &tok_elq] {
        let lines = json_lines(&electra(&["infer", "--model", path], input));
        let rows = lines[0]["logits"].as_array().expect("rows");
        let labels = lines[0]["labels"].as_array().expect("labels");
        assert_eq!(rows.len(), labels.len());
        for (row, label) in rows.iter().zip(labels) {
            let row: Vec<f64> = row.as_array().expect("row").iter().filter_map(|v| v.as_f64()).collect();
            let best = (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b });
            assert_eq!(label, tags[best], "{path}");
        }
    }
}

#[test]
fn a_bad_id2label_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = labelled_copy("cls", dir.path(), &["negative", "neutral", "positive"], "single_label_classification");
    // Three names (so the head's shape still fits) under ids 0, 1 and 3.
    let config_path = model.join("config.json");
    let text = std::fs::read_to_string(&config_path).expect("config").replace("\"2\":", "\"3\":");
    std::fs::write(&config_path, text).expect("write config");
    let model = model.display().to_string();
    for args in [vec!["infer", "--model", &model], vec!["export", "--model", &model, "--out", "/dev/null"]] {
        let out = electra(&args, "{\"ids\": [2, 3]}\n");
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("config.json") && stderr.contains("id2label key `3` is not a class id 0..3"),
            "{stderr}"
        );
    }
}
