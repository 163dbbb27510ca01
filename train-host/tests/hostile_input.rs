//! Hostile input and contended outputs, fed to the real `electra` binary (issue 17).
//!
//! Each lie runs under an address-space limit ([`ADDRESS_SPACE_LIMIT_KIB`]), so a buffer sized from the lie rather
//! than from the data makes the allocator fail and the process abort (SIGABRT: no exit code), where the fix must
//! give a clean exit 1 with the typed error's message. Before the fix, the first three cases aborted exactly so
//! (exit 134 from the shell, "memory allocation of 36000000088580 bytes failed" for the export).
//!
//! Then the output locks: a second run on an output another process holds is refused naming its pid, a stale lock
//! is taken over with a notice, and a read-only output directory is a clear error naming the path.

mod common;

use common::cli::{run_with_stdin, s};
use common::fixture;
use electra_train::checkpoint::HfCheckpoint;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// `ulimit -v` for every hostile run, in KiB: 4 GiB. The tiny fixture's runs need well under 1 GiB of address
/// space (binary, mimalloc's segments, one 2 MiB stack per rayon thread, the 40 MB line and its 80 MB of ids),
/// while each lie claims terabytes, so any buffer sized from a lie fails here instead of being overcommitted.
const ADDRESS_SPACE_LIMIT_KIB: u64 = 4 << 20;

/// Ids in the over-long line: the issue's 20 million (a 40 MB JSON line), against the fixture's 64 positions.
const HOSTILE_SEQUENCE_LEN: usize = 20_000_000;

/// Runs `electra args` under the address-space limit with `stdin`.
fn electra_limited(args: &[&str], stdin: &[u8]) -> Output {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -v {ADDRESS_SPACE_LIMIT_KIB} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_electra"))
        .args(args);
    run_with_stdin(command, stdin)
}

/// The disc fixture exported (under the limit) to `dir/tiny.elq`: the int8 engine's model for the lies below.
fn exported_disc(dir: &Path) -> PathBuf {
    let elq = dir.join("tiny.elq");
    let export = electra_limited(&["export", "--model", s(&fixture("disc")), "--out", s(&elq)], b"");
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    elq
}

/// Asserts a clean refusal: exit status 1 (not a signal, not a panic) and `expected` on stderr.
fn assert_refused(output: &Output, expected: &str, case: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{case}: want exit 1, got {:?}; stderr: {stderr}", output.status);
    assert!(stderr.contains(expected), "{case}: stderr lacks {expected:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{case}: {stderr}");
}

/// A copy of the discriminator fixture with `config.json`'s `field` set to `value`.
fn lying_copy(root: &Path, field: &str, value: serde_json::Value) -> PathBuf {
    let dir = root.join(format!("lie-{field}"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(fixture("disc/model.safetensors"), dir.join("model.safetensors")).expect("copy weights");
    let text = std::fs::read_to_string(fixture("disc/config.json")).expect("config");
    let mut config: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    config[field] = value;
    std::fs::write(dir.join("config.json"), config.to_string()).expect("write config");
    dir
}

#[test]
fn config_dimensions_that_the_tensors_do_not_back_are_shape_errors_before_any_allocation() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let huge = 1_000_000_000_000u64;
    // (field, lie, what the error must say). Each dimension is carried by at least one tensor.
    let cases: [(&str, u64, String); 5] = [
        (
            "vocab_size",
            huge,
            format!("tensor `electra.embeddings.word_embeddings.weight` has shape [1000, 32], the config needs [{huge}, 32]"),
        ),
        (
            "max_position_embeddings",
            huge,
            format!("tensor `electra.embeddings.position_embeddings.weight` has shape [64, 32], the config needs [{huge}, 32]"),
        ),
        (
            "intermediate_size",
            huge,
            format!("tensor `electra.encoder.layer.0.intermediate.dense.weight` has shape [128, 64], the config needs [{huge}, 64]"),
        ),
        ("type_vocab_size", huge, format!("the config needs [{huge}, 32]")),
        // More layers than the file holds: the first missing one is named.
        ("num_hidden_layers", 1_000_000, "checkpoint has no tensor `electra.encoder.layer.2.attention.self.query.weight`".into()),
    ];
    for (field, value, expected) in &cases {
        let dir = lying_copy(tmp.path(), field, (*value).into());
        let out = tmp.path().join(format!("{field}.elq"));
        assert_refused(&electra_limited(&["export", "--model", s(&dir), "--out", s(&out)], b""), expected, field);
        assert!(!out.exists(), "{field}: nothing written");
        let infer = electra_limited(&["infer", "--model", s(&dir)], b"{\"ids\": [2, 5, 3]}\n");
        assert_refused(&infer, expected, field);
        // The library refuses at load, so every command that reads a checkpoint gets the same error.
        let err = HfCheckpoint::load(&dir).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains(expected.as_str()), "{field}: {err}");
    }
}

#[test]
fn a_classifier_config_without_its_head_cannot_size_one() {
    // `num_labels` is carried by the classifier's tensors alone: without them it is a claim, and is refused.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = lying_copy(tmp.path(), "architectures", serde_json::json!(["ElectraForSequenceClassification"]));
    let text = std::fs::read_to_string(dir.join("config.json")).expect("config");
    let mut config: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    config["num_labels"] = 1_000_000_000_000u64.into();
    std::fs::write(dir.join("config.json"), config.to_string()).expect("write config");
    let infer = electra_limited(&["infer", "--model", s(&dir)], b"{\"ids\": [2, 5, 3]}\n");
    assert_refused(&infer, "checkpoint has no tensor `classifier.dense.weight`", "num_labels");
}

#[test]
fn safetensors_headers_that_lie_about_their_data_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("bad-safetensors");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(fixture("disc/config.json"), dir.join("config.json")).expect("copy config");
    let header = br#"{"electra.embeddings.word_embeddings.weight":{"dtype":"F32","shape":[1000000000000,32],"data_offsets":[0,4]}}"#;
    // A header claiming 128 TB of floats over 4 bytes of data; then a header length field of 2^60.
    let mut lying_shape = (header.len() as u64).to_le_bytes().to_vec();
    lying_shape.extend_from_slice(header);
    lying_shape.extend_from_slice(&[0; 4]);
    let mut lying_header_len = (1u64 << 60).to_le_bytes().to_vec();
    lying_header_len.extend_from_slice(b"{}");
    for (case, bytes) in [("shape", lying_shape), ("header length", lying_header_len)] {
        std::fs::write(dir.join("model.safetensors"), bytes).expect("write");
        let out = electra_limited(&["infer", "--model", s(&dir)], b"{\"ids\": [2, 3]}\n");
        assert_refused(&out, "not a valid safetensors file", case);
    }
}

#[test]
fn twenty_million_ids_are_too_long_for_both_engines_before_any_arena() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let elq = exported_disc(tmp.path());
    let mut line = String::with_capacity(HOSTILE_SEQUENCE_LEN * 2 + 16);
    line.push_str("{\"ids\": [5");
    for _ in 1..HOSTILE_SEQUENCE_LEN {
        line.push_str(",5");
    }
    line.push_str("]}\n");
    let expected = format!("line 1: sequence of {HOSTILE_SEQUENCE_LEN} tokens is longer than the model's 64 positions");
    for (engine, model) in [("int8", elq), ("float", fixture("disc"))] {
        let out = electra_limited(&["infer", "--model", s(&model)], line.as_bytes());
        assert_refused(&out, &expected, engine);
    }
}

/// An input line with no end: 80 MiB without a newline, past the 64 MiB any record line may hold
/// (`electra_pipeline::corpus::MAX_RECORD_LINE_BYTES`). Both line filters stop at the limit with the line
/// number, where they used to read on until memory ran out.
#[test]
fn an_endless_input_line_is_refused_at_the_stated_limit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let elq = exported_disc(tmp.path());
    let endless = |first: &[u8]| {
        let mut input = first.to_vec();
        input.resize(input.len() + (80 << 20), b'a');
        input
    };
    let infer = electra_limited(&["infer", "--model", s(&elq)], &endless(b"{\"ids\": [1, 5, 2]}\n"));
    assert_refused(&infer, "line 2: longer than 64 MiB, the most one input line may hold", "infer");
    let vocab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/vocab.txt");
    let tokenize = electra_limited(&["tokenize", "--vocab", s(&vocab)], &endless(b"{\"text\": \"first\"}\n"));
    assert_refused(&tokenize, "stdin: line 2 is longer than 64 MiB, the most one input line may hold", "tokenize");
}

#[test]
fn a_second_run_on_a_locked_output_is_refused_naming_the_first_pid() {
    use electra_pipeline::lock::OutputLock;
    let tmp = tempfile::tempdir().expect("tempdir");
    let pid = format!("in use by pid {}", std::process::id());

    // This test process is "the first run": it holds each output's lock while the binary tries it.
    let elq = tmp.path().join("model.elq");
    let held = OutputLock::file(&elq).expect("lock the export's output");
    let out = electra_limited(&["export", "--model", s(&fixture("disc")), "--out", s(&elq)], b"");
    assert_refused(&out, &pid, "export");
    assert!(!elq.exists(), "the refused export wrote nothing");
    drop(held);

    let corpus = tmp.path().join("corpus.txt");
    std::fs::write(&corpus, "the first document.\n\nthe second one.\n").expect("corpus");
    let vocab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/vocab.txt");
    let shards = tmp.path().join("shards");
    let held = OutputLock::dir(&shards).expect("lock the shard output");
    let args = ["shard", "--corpus", s(&corpus), "--vocab", s(&vocab), "--out", s(&shards), "--quiet"];
    assert_refused(&electra_limited(&args, b""), &pid, "shard");
    assert!(!shards.join("manifest.json").exists(), "the refused shard run wrote nothing");
    drop(held);

    // Pre-training takes the lock before it opens its data, so no shards are needed to see the refusal.
    let pre = tmp.path().join("pretrain");
    let held = OutputLock::dir(&pre).expect("lock the pretrain output");
    let args = ["pretrain", "--data", s(&shards), "--out", s(&pre), "--steps", "1", "--batch", "2", "--quiet"];
    assert_refused(&electra_limited(&args, b""), &pid, "pretrain");
    // --resume repairs an interrupted save before it reads the run: that too waits for the lock.
    let args = ["pretrain", "--out", s(&pre), "--resume", "--quiet"];
    assert_refused(&electra_limited(&args, b""), &pid, "pretrain --resume");
    drop(held);

    let tuned = tmp.path().join("finetune");
    let held = OutputLock::dir(&tuned).expect("lock the finetune output");
    let args = ["finetune", "--out", s(&tuned), "--resume", "--quiet"];
    assert_refused(&electra_limited(&args, b""), &pid, "finetune");
    drop(held);
}

#[test]
fn a_stale_lock_is_taken_over_with_a_notice() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let elq = tmp.path().join("model.elq");
    // What a run killed with SIGKILL leaves: the file naming it, and no flock (the kernel dropped it).
    let lock = tmp.path().join(".model.elq.electra.lock");
    std::fs::write(&lock, "4194303\nelectra export --out model.elq\n").expect("stale lock");
    let out = electra_limited(&["export", "--model", s(&fixture("disc")), "--out", s(&elq)], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("was left by pid 4194303, which no longer holds it; taking it over"), "{stderr}");
    assert!(elq.exists());
    assert!(!lock.exists(), "released on exit");
}

/// Runs `electra args` as an unprivileged user when this test runs as root (root writes through a 0555
/// directory), via util-linux's `setpriv`; a missing `setpriv` fails the test rather than skipping it.
fn electra_unprivileged(args: &[&str]) -> Output {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let mut command = if root {
        let mut c = Command::new("setpriv");
        // nobody:nogroup (65534), the conventional unprivileged ids.
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(env!("CARGO_BIN_EXE_electra"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_electra"))
    };
    command.args(args).stdin(Stdio::null()).output().expect("electra (through setpriv when root) runs")
}

#[test]
fn a_read_only_output_directory_is_a_clear_error_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    // Readable and searchable by the unprivileged user, writable by nobody.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let model = tmp.path().join("disc");
    std::fs::create_dir_all(&model).expect("mkdir");
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture("disc").join(file), model.join(file)).expect("copy");
    }
    let ro = tmp.path().join("read-only");
    std::fs::create_dir_all(&ro).expect("mkdir");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let vocab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/vocab.txt");
    let corpus = tmp.path().join("corpus.txt");
    std::fs::write(&corpus, "a document.\n").expect("corpus");

    let elq = ro.join("model.elq");
    let out = electra_unprivileged(&["export", "--model", s(&model), "--out", s(&elq)]);
    assert_refused(&out, &format!("cannot write to {}", ro.join(".model.elq.electra.lock").display()), "export");
    let shards = ro.join("shards");
    let out = electra_unprivileged(&["shard", "--corpus", s(&corpus), "--vocab", s(&vocab), "--out", s(&shards)]);
    assert_refused(&out, &format!("cannot write to {}", shards.display()), "shard into a read-only parent");
    let out = electra_unprivileged(&["shard", "--corpus", s(&corpus), "--vocab", s(&vocab), "--out", s(&ro)]);
    assert_refused(&out, &format!("cannot write to {}", ro.join(".electra.lock").display()), "shard");
    let out = electra_unprivileged(&[
        "pretrain",
        "--data",
        s(&shards),
        "--out",
        s(&ro),
        "--steps",
        "1",
        "--batch",
        "2",
        "--quiet",
    ]);
    assert_refused(&out, &format!("cannot write to {}", ro.join(".electra.lock").display()), "pretrain");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).expect("chmod back for cleanup");
}

/// The two footers the shard_reader campaign found the Parquet decoder spinning on (fuzz/regressions/shard_reader/,
/// docs/RELIABILITY.md), given to the other two Parquet readers: a corpus for `electra shard` and a task file for
/// `electra evaluate`. Both walk the footer, bounded, before the crate parses it, and refuse it naming the file.
#[test]
fn parquet_footers_the_decoder_spins_on_are_refused_by_every_parquet_reader() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/shard_reader");
    let vocab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/vocab.txt");
    // The classifier fixture with a vocab of its 1,000 ids (the first lines of BERT's), so that `evaluate` gets as
    // far as the task file.
    let classifier = tmp.path().join("cls");
    std::fs::create_dir_all(&classifier).expect("mkdir");
    for name in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture("cls").join(name), classifier.join(name)).expect("copy the fixture");
    }
    let bert = std::fs::read_to_string(&vocab).expect("vocab");
    let lines: Vec<&str> = bert.lines().take(1000).collect();
    std::fs::write(classifier.join("vocab.txt"), lines.join("\n") + "\n").expect("write vocab");
    for input in
        ["timeout-7471e3479aa359d3b0c69993b6ebe2029c5528ad", "timeout-ab7141df7335b5cf13e6fb7c6748bda17a9035bd"]
    {
        let file = tmp.path().join(format!("{input}.parquet"));
        std::fs::copy(regressions.join(input), &file).expect("copy the input");
        let out = tmp.path().join(format!("shards-{input}"));
        let shard = electra_limited(&["shard", "--corpus", s(&file), "--vocab", s(&vocab), "--out", s(&out)], b"");
        assert_refused(
            &shard,
            &format!("Parquet input {}: the footer holds containers of bools", file.display()),
            input,
        );
        let evaluate =
            electra_limited(&["evaluate", "--model", s(&classifier), "--task", "sst2", "--dev", s(&file)], b"");
        assert_refused(&evaluate, &format!("{}: the footer holds containers of bools", file.display()), input);
    }
}
