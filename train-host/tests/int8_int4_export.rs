//! `electra export --weights int4 [--group-size N] [--keep-int8 ...]` and `electra inspect` on the
//! result: the int4 matrices take half the int8 ones' bytes plus one f32 scale per group (or f16:
//! `--group-scales f16`, format version 6), the tensors kept int8 are named, and group sizes that
//! do not fit the model are refused by name.
//! `--embeddings int4 [--embedding-group-size N]`: the word table likewise (format version 5),
//! pruned or not, with `electra infer` on it close to the float checkpoint.

mod common;

use common::cli::{electra, flat, infer, row, stdout, w_vocab};
use common::{correlation, fixture};
use std::path::Path;

/// Logits of an int4-row file with f16 group scales against the same file with f32 ones: a scale
/// moves by at most 2⁻¹⁰ of itself and a few weights to the neighbouring nibble, far less than
/// int4's own error (measured: 0.9989 the worst, on the discriminator fixture whose int4 rows are
/// at 0.988 against float; a scrambled scale would be far below).
const MIN_F16_SCALES_CORRELATION: f64 = 0.995;

/// How far f16 biases and LayerNorms may move the logits of the classifier fixture, relative to the
/// largest: each value moves by at most 2⁻¹¹ of itself (round to nearest), but a moved activation
/// can flip the rounding of its int8 quantization (a step of 1/127 of its row's range) and the
/// flips add up through the layers: 0.0147 measured on this fixture (int4 g32, int4 word rows). A
/// bias read from the wrong place or in the wrong byte order moves them by tens of percent.
const MAX_F16_BIASES_MOVE: f64 = 0.05;

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
    assert_eq!(row(&t4, "encoder int4 group scales"), Some(int8_matrices / 32 * 4), "{t4}");
    assert_eq!(row(&t4, "encoder int8 matrices"), None, "{t4}");
    assert_eq!(row(&t4, "total"), Some(std::fs::metadata(&int4).unwrap().len() as usize));
    assert!(row(&t4, "total") < row(&t8, "total"));
    // Layer 0 and layer 1's FFN output stay int8.
    assert!(tm.contains("attention.self.query stays int8 in layers 0\n"), "{tm}");
    assert!(tm.contains("output.dense stays int8 in layers 0, 1\n"), "{tm}");
    assert!(row(&tm, "encoder int8 matrices").is_some_and(|b| b > 0), "{tm}");
    assert!(row(&tm, "encoder int4 matrices").is_some_and(|b| b > 0), "{tm}");

    // f16 group scales: half the scale bytes, version 6, the same matrices; only with int4.
    let f16 = path("f16.elq");
    let args = ["--weights", "int4", "--group-size", "32", "--embeddings", "int4", "--group-scales", "f16"];
    let said = stdout(&electra(&[&["export", "--model", model, "--out", &f16][..], &args].concat()));
    assert!(said.contains("f16 group scales"), "{said}");
    let t16 = stdout(&electra(&["inspect", &f16]));
    assert!(t16.contains("format version 6") && t16.contains("matrices (f16 scale per group)"), "{t16}");
    assert_eq!(row(&t16, "encoder int4 matrices"), row(&t4, "encoder int4 matrices"), "{t16}");
    assert_eq!(row(&t16, "encoder int4 group scales"), Some(int8_matrices / 32 * 2), "{t16}");
    assert_eq!(row(&t16, "total"), Some(std::fs::metadata(&f16).unwrap().len() as usize));
    let refused = electra(&["export", "--model", model, "--out", &f16, "--group-scales", "f16"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && err.contains("--group-scales f16 applies to"), "{err}");

    // f16 biases and LayerNorms on top: version 7, the encoder's biases and LayerNorms (all that row
    // holds when every matrix is int4) in half the bytes, and the logits those of the f32 file
    // within f16's rounding of the biases (core/tests/model_file.rs shows them bit for bit equal to
    // an f32 file of the rounded values).
    let (half, full) = (path("f16-biases.elq"), path("f16-scales.elq"));
    let args = [&args[..], &["--biases-and-norms", "f16"]].concat();
    let said = stdout(&electra(&[&["export", "--model", model, "--out", &half][..], &args].concat()));
    assert!(said.contains("f16 biases and LayerNorms"), "{said}");
    let th = stdout(&electra(&["inspect", &half]));
    assert!(th.contains("format version 7") && th.contains("biases and LayerNorm parameters f16"), "{th}");
    let biases = |t: &str| row(t, "encoder scales, biases, LayerNorms");
    assert_eq!(biases(&th).map(|b| 2 * b), biases(&t16), "{th}");
    assert_eq!(row(&th, "total"), Some(std::fs::metadata(&half).unwrap().len() as usize));
    std::fs::copy(&f16, &full).unwrap();
    let input = "{\"ids\": [2, 7, 9, 3]}\n{\"ids\": [2, 7, 9, 11, 12, 13, 14, 3]}\n";
    let (lh, lf) = (logits_of(Path::new(&half), input), logits_of(Path::new(&full), input));
    let moved = relative_difference(&lh, &lf);
    println!("f16 vs f32 biases and LayerNorms: max |difference| / max |logit| {moved:.6}");
    assert!(moved < MAX_F16_BIASES_MOVE, "{lh:?} {lf:?}");
    // And an int8 file: every bias and LayerNorm f16, nothing int4.
    let int8_half = path("int8-f16-biases.elq");
    stdout(&electra(&["export", "--model", model, "--out", &int8_half, "--biases-and-norms", "f16"]));
    let t = stdout(&electra(&["inspect", &int8_half]));
    assert!(t.contains("format version 7") && !t.contains("int4"), "{t}");
}

#[test]
fn max_positions_keeps_the_first_rows_and_refuses_longer_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let model = fixture("cls");
    let model = model.to_str().unwrap();
    let (full, cut) = (path("full.elq"), path("cut.elq"));
    stdout(&electra(&["export", "--model", model, "--out", &full]));
    let said = stdout(&electra(&["export", "--model", model, "--out", &cut, "--max-positions", "8"]));
    assert!(said.contains("; 8 positions"), "{said}");
    let (tf, tc) = (stdout(&electra(&["inspect", &full])), stdout(&electra(&["inspect", &cut])));
    // The fixture's table: 64 positions of 32 int8 values and an f32 scale each (and 2 token types).
    let saved =
        row(&tf, "position + token type embeddings").unwrap() - row(&tc, "position + token type embeddings").unwrap();
    assert_eq!(saved, (64 - 8) * (32 + 4), "{tf}\n{tc}");
    // The kept rows are the same rows: logits of sequences that fit are bit for bit the full file's.
    let input = "{\"ids\": [2, 7, 9, 3]}\n{\"ids\": [2, 7, 9, 11, 12, 13, 14, 3]}\n";
    assert_eq!(logits_of(Path::new(&cut), input), logits_of(Path::new(&full), input));
    let longer = infer(Path::new(&cut), "{\"ids\": [2, 7, 9, 11, 12, 13, 14, 15, 3]}\n", 1).unwrap_err();
    assert!(longer.contains("longer than the model's 8 positions"), "{longer}");
    for asked in ["0", "65"] {
        let out = electra(&["export", "--model", model, "--out", &cut, "--max-positions", asked]);
        assert!(!out.status.success(), "--max-positions {asked}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(asked == "0" || err.contains("the model has 64 positions"), "{err}");
    }
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

/// Largest difference between the logits of a file with int4 word rows and the float checkpoint's,
/// relative to the largest float logit (at least 1), over the three input lines of each head. The
/// HF tiny fixtures are harsh on quantization: their word rows are N(0, 0.2), so an int4 step
/// (max |w| / 7 over a group; about 0.07 for groups of 32) is a third of the rows' spread and the
/// LayerNorm after the sum sees about 10% noise, 18 times int8's. Measured (int8 rows / int4 g8 /
/// int4 g32): cls 0.020 / 0.090 / 0.053, disc 0.040 / 0.169 / 0.230, gen 0.029 / 0.082 / 0.134, tok
/// 0.040 / 0.140 / 0.191. The bound is 1.5 times the worst (disc g32), for other kernels' summation
/// orders; a wrong nibble order, sign, scale or row replaces a row by an unrelated vector instead.
const MAX_INT4_ROWS_RELATIVE_DIFFERENCE: f64 = 0.35;

/// Smallest correlation of those logits with the float checkpoint's. Measured (int8 rows / int4 g8
/// / int4 g32): cls 0.9998 / 0.9983 / 0.9979, disc 0.9987 / 0.9883 / 0.9953, gen 0.9998 / 0.9971 /
/// 0.9946, tok 0.9985 / 0.9876 / 0.9685 (5 tags a token: the least averaged logits).
const MIN_INT4_ROWS_CORRELATION: f64 = 0.95;

/// The logits of every line `electra infer` gives for `input`, flattened.
fn logits_of(model: &Path, input: &str) -> Vec<f64> {
    let lines = infer(model, input, 1).unwrap_or_else(|e| panic!("{}: {e}", model.display()));
    lines.iter().flat_map(|v| flat(&v["logits"])).collect()
}

/// max |a - b| relative to the largest |b| (at least 1).
fn relative_difference(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let err = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    err / b.iter().map(|v| v.abs()).fold(1.0, f64::max)
}

#[test]
fn int4_word_embeddings_export_inspect_and_infer_close_to_float() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    // A 1000-line vocab with BERT's special tokens (the fixtures' vocab size), and a text to keep.
    w_vocab(dir.path());
    std::fs::write(path("keep.txt"), "w7 w9 w500\nw999 w7\n").unwrap();
    let input = "{\"ids\": [2, 7, 3]}\n{\"ids\": [2, 9, 500, 999, 3], \"token_type_ids\": [0, 0, 0, 1, 1]}\n\
                 {\"ids\": [2, 7, 3, 0], \"attention_mask\": [1, 1, 1, 0]}\n";
    let (e, rows) = (32, 1000); // the fixtures' embedding size and vocab
    for name in ["cls", "disc", "gen", "tok"] {
        let model = fixture(name);
        let model = model.to_str().unwrap();
        let vocab = path("vocab.txt");
        let export = |out: &str, extra: &[&str]| {
            let args = [&["export", "--model", model, "--out", out, "--vocab", &vocab][..], extra].concat();
            stdout(&electra(&args))
        };
        let (int8, g8, g32) = (path("int8.elq"), path("g8.elq"), path("g32.elq"));
        export(&int8, &[]);
        let said = export(&g8, &["--embeddings", "int4", "--embedding-group-size", "8"]);
        assert!(said.contains("word embeddings int4 in groups of 8"), "{said}");
        // --group-size applies to the word rows when no --embedding-group-size is given.
        let said = export(&g32, &["--embeddings", "int4", "--group-size", "32"]);
        assert!(said.contains("word embeddings int4 in groups of 32") && !said.contains("encoder"), "{said}");

        let t8 = stdout(&electra(&["inspect", &int8]));
        let t4 = stdout(&electra(&["inspect", &g8]));
        assert!(t4.contains("format version 5"), "{t4}");
        assert!(t4.contains("word embeddings int4 in groups of 8 (f32 scale per group)"), "{t4}");
        assert_eq!(row(&t8, "word embeddings (int8 rows + scales)"), Some(rows * e + rows * 4), "{t8}");
        assert_eq!(row(&t4, "word embeddings (int8 rows + scales)"), None, "{t4}");
        assert_eq!(row(&t4, "word embeddings (int4 rows)"), Some(rows * e / 2), "{t4}");
        assert_eq!(row(&t4, "word embedding int4 group scales"), Some(rows * e / 8 * 4), "{t4}");
        assert_eq!(row(&t4, "total"), Some(std::fs::metadata(&g8).unwrap().len() as usize));
        let t32 = stdout(&electra(&["inspect", &g32]));
        assert_eq!(row(&t32, "word embedding int4 group scales"), Some(rows * 4), "{t32}");

        let float = logits_of(&fixture(name), input);
        let [l8, l4, l32] = [&int8, &g8, &g32].map(|f| logits_of(Path::new(f), input));
        let [c8, c4, c32] = [&l8, &l4, &l32].map(|l| correlation(l, &float));
        let [d8, d4, d32] = [&l8, &l4, &l32].map(|l| relative_difference(l, &float));
        println!(
            "{name}: vs float, int8 rows / int4 rows g8 / g32: correlation {c8:.4} / {c4:.4} / {c32:.4}, \
             max |difference| / max |logit| {d8:.3} / {d4:.3} / {d32:.3}"
        );
        for (d, c) in [(d4, c4), (d32, c32)] {
            assert!(d < MAX_INT4_ROWS_RELATIVE_DIFFERENCE && c > MIN_INT4_ROWS_CORRELATION, "{name}: {d} {c}");
        }
        assert_ne!(l8, l4, "{name}: the int4 rows are read");
        // The same rows with f16 group scales: each scale within 2⁻¹⁰ of the f32 one (rounded up),
        // so the logits stay within a small fraction of int4's own error of the f32-scale file's.
        let g8_f16 = path("g8-f16.elq");
        export(&g8_f16, &["--embeddings", "int4", "--embedding-group-size", "8", "--group-scales", "f16"]);
        let l16 = logits_of(Path::new(&g8_f16), input);
        let (c16, d16) = (correlation(&l16, &l4), relative_difference(&l16, &l4));
        println!("{name}: f16 vs f32 group scales: correlation {c16:.5}, max |difference| / max |logit| {d16:.4}");
        assert!(c16 > MIN_F16_SCALES_CORRELATION, "{name}: {c16}");

        if name == "gen" {
            continue; // the masked-LM head is tied to every row: it cannot be pruned
        }
        // Pruned and int4: the kept rows only, 4 bytes + 1 scale of 4 bytes per group each.
        let pruned = path("pruned.elq");
        let args = ["--embeddings", "int4", "--embedding-group-size", "8", "--keep-tokens-from", &path("keep.txt")];
        let said = export(&pruned, &args);
        assert!(said.contains("9 of 1000 word embedding rows kept"), "{said}");
        let tp = stdout(&electra(&["inspect", &pruned]));
        assert_eq!(row(&tp, "word embeddings (int4 rows)"), Some(9 * e / 2), "{tp}");
        assert_eq!(row(&tp, "word embedding int4 group scales"), Some(9 * e / 8 * 4), "{tp}");
        assert!(row(&tp, "word embedding row map").is_some(), "{tp}");
        // Every id of the input was kept (or is a special token): the same logits as the full table.
        assert_eq!(logits_of(Path::new(&pruned), input), logits_of(Path::new(&g8), input), "{name}");
    }
}

#[test]
fn int4_embedding_group_sizes_that_do_not_fit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.elq");
    let out = out.to_str().unwrap();
    let model = fixture("cls");
    let model = model.to_str().unwrap();
    // The fixture's rows are 32 wide.
    for group in ["7", "0", "64", "12"] {
        let got = electra(&[
            "export",
            "--model",
            model,
            "--out",
            out,
            "--embeddings",
            "int4",
            "--embedding-group-size",
            group,
        ]);
        assert!(!got.status.success());
        let err = String::from_utf8_lossy(&got.stderr);
        assert!(
            err.contains(&format!("int4 word embedding group size {group}")) && err.contains("32"),
            "{group}: {err}"
        );
    }
    let got = electra(&["export", "--model", model, "--out", out, "--embedding-group-size", "8"]);
    assert!(String::from_utf8_lossy(&got.stderr).contains("--embeddings int4"), "{got:?}");
    assert!(!Path::new(out).exists(), "nothing written");
}
