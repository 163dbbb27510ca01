//! `electra export --weights int4 [--group-size N] [--keep-int8 ...]` and `electra inspect` on the
//! result: the int4 matrices take half the int8 ones' bytes plus one f32 scale per group, the
//! tensors kept int8 are named, and group sizes that do not fit the model are refused by name.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/hf-electra-tiny").join(name)
}

fn electra(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_electra")).args(args).output().unwrap_or_else(|e| panic!("run electra: {e}"))
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "electra failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The bytes column of the table's row named `section`.
fn row(table: &str, section: &str) -> Option<usize> {
    let line = table.lines().find(|l| l.starts_with(section))?;
    line[section.len()..].split_whitespace().next()?.parse().ok()
}

#[test]
fn int4_export_halves_the_encoder_matrices_and_inspect_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let model = fixture("cls");
    let model = model.to_str().unwrap();
    let (int8, int4, mixed) = (path("int8.elq"), path("int4.elq"), path("mixed.elq"));
    stdout(&electra(&["export", "--model", model, "--out", &int8]));
    let said =
        stdout(&electra(&["export", "--model", model, "--out", &int4, "--weights", "int4", "--group-size", "32"]));
    // The fixture: 2 layers of hidden 64, intermediate 128.
    assert!(said.contains("12 encoder matrices int4 in groups of 32"), "{said}");
    let args = ["--weights", "int4", "--group-size", "16", "--keep-int8", "0", "1:output"];
    let said = stdout(&electra(&[&["export", "--model", model, "--out", &mixed][..], &args].concat()));
    assert!(said.contains("5 encoder matrices int4 in groups of 16"), "{said}");

    let t8 = stdout(&electra(&["inspect", &int8]));
    let t4 = stdout(&electra(&["inspect", &int4]));
    let tm = stdout(&electra(&["inspect", &mixed]));
    assert!(t4.contains("format version 4") && t8.contains("format version 2"), "{t4}\n{t8}");
    assert!(t4.contains("encoder weights int4 in groups of 32: 12 of 12 matrices"), "{t4}");
    let int8_matrices = row(&t8, "encoder int8 matrices").unwrap();
    // 2 × (4 · 64 · 64 + 2 · 64 · 128) weights; every tensor a multiple of 64 bytes here.
    assert_eq!(int8_matrices, 2 * (4 * 64 * 64 + 2 * 64 * 128));
    assert_eq!(row(&t4, "encoder int4 matrices"), Some(int8_matrices / 2), "{t4}");
    assert_eq!(row(&t4, "encoder int4 group scales (f32)"), Some(int8_matrices / 32 * 4), "{t4}");
    assert_eq!(row(&t4, "encoder int8 matrices"), None, "{t4}");
    assert_eq!(row(&t4, "total"), Some(std::fs::metadata(&int4).unwrap().len() as usize));
    assert!(row(&t4, "total") < row(&t8, "total"));
    // Layer 0 and layer 1's FFN output stay int8.
    assert!(tm.contains("attention.self.query stays int8 in layers 0\n"), "{tm}");
    assert!(tm.contains("output.dense stays int8 in layers 0, 1\n"), "{tm}");
    assert!(row(&tm, "encoder int8 matrices").is_some_and(|b| b > 0), "{tm}");
    assert!(row(&tm, "encoder int4 matrices").is_some_and(|b| b > 0), "{tm}");
}

#[test]
fn group_sizes_that_do_not_fit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.elq");
    let out = out.to_str().unwrap();
    let model = fixture("cls");
    let model = model.to_str().unwrap();
    for (group, why) in [("48", "int4 group size 48"), ("7", "int4 group size 7"), ("0", "int4 group size 0")] {
        let got = electra(&["export", "--model", model, "--out", out, "--weights", "int4", "--group-size", group]);
        assert!(!got.status.success());
        let err = String::from_utf8_lossy(&got.stderr);
        assert!(err.contains(why), "{group}: {err}");
    }
    let got = electra(&["export", "--model", model, "--out", out, "--group-size", "32"]);
    assert!(!got.status.success(), "--group-size without --weights int4");
    let got = electra(&["export", "--model", model, "--out", out, "--weights", "int4", "--keep-int8", "ffn"]);
    assert!(String::from_utf8_lossy(&got.stderr).contains("`ffn` is not one of"), "{got:?}");
    assert!(!Path::new(out).exists(), "nothing written");
}
