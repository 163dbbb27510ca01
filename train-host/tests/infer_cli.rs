//! The `electra infer` binary end to end: exit status, stdout and stderr.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn disc() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/hf-electra-tiny/disc").display().to_string()
}

fn electra_infer(extra: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_electra"))
        .args(["infer", "--model", &disc()])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("electra runs");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("electra finishes")
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
