//! `electra export` then `electra infer --model FILE`: the int8 path takes the same input lines and
//! gives the same output lines (shape for shape) as the float path, and names bad lines the same way.

mod common;

use common::cli::{flat, infer, w_vocab};
use common::fixture;
use electra_train::export::export;
use std::path::Path;

/// Largest int8-vs-float logit difference allowed, relative to the largest logit (at least 1): the tiny
/// fixtures' weights are harsh on int8 (init std 0.2; measured 0.05 at most), so this catches wrong wiring
/// (a swapped tensor moves logits by their whole size), not quantization noise, which int8_fixtures.rs
/// measures.
const MAX_RELATIVE_DIFFERENCE: f64 = 0.1;

/// `electra infer`'s lines for `input`, two lines a batch.
fn run(model: &Path, input: &str) -> Result<Vec<serde_json::Value>, String> {
    infer(model, input, 2)
}

#[test]
fn int8_file_gives_the_float_paths_lines() {
    let dir = tempfile::tempdir().unwrap();
    // A 1000-line vocab with BERT's special tokens, so the tokenizer index is embedded too.
    let vocab_path = w_vocab(dir.path());
    let input = "{\"ids\": [2, 7, 3]}\n{\"ids\": [2, 9, 9, 3], \"token_type_ids\": [0, 0, 1, 1]}\n\
                 {\"ids\": [2, 7, 3, 0], \"attention_mask\": [1, 1, 1, 0]}\n";
    for name in ["disc", "gen", "cls", "tok"] {
        let file = dir.path().join(format!("{name}.elq"));
        let summary = export(&fixture(name), &file, Some(&vocab_path), true).unwrap();
        assert!(summary.vocab_embedded && summary.tokenizer_index_embedded);
        let int8 = run(&file, input).unwrap();
        let float = run(&fixture(name), input).unwrap();
        assert_eq!(int8.len(), 3, "{name}");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (i, f) in int8.iter().zip(&float) {
            let (x, y) = (flat(&i["logits"]), flat(&f["logits"]));
            assert_eq!(x.len(), y.len(), "{name}: same shape");
            a.extend(x);
            b.extend(y);
        }
        let err: f64 = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        let scale = b.iter().map(|v| v.abs()).fold(0.0, f64::max);
        println!("{name}: int8 vs float over 3 lines, max |difference| {err:.4} (largest |logit| {scale:.3})");
        assert!(err < MAX_RELATIVE_DIFFERENCE * scale.max(1.0), "{name}: {err}");
    }
    // Bad lines are named as on the float path.
    let file = dir.path().join("disc.elq");
    let err = run(&file, "{\"ids\": [2, 3]}\n{\"ids\": [2, 1000]}\n").unwrap_err();
    assert_eq!(err, "line 2: token id 1000 at position 1 is outside the vocab of 1000");
    let err = run(&file, "{\"ids\": [2, 3], \"token_type_ids\": [0, 2]}\n").unwrap_err();
    assert!(err.starts_with("line 1: token type id 2 at position 1"), "{err}");
    // A damaged file is refused with the file named.
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    let bad = dir.path().join("bad.elq");
    std::fs::write(&bad, bytes).unwrap();
    let err = run(&bad, "{\"ids\": [2, 3]}\n").unwrap_err();
    assert!(err.contains("bad.elq") && err.contains("CRC32"), "{err}");
}

/// `Int8Model::load` packs the encoder weights once (where the CPU has the packed kernel); its
/// logits are the same bits as a model that packs on every run, for short and long batches.
#[test]
fn prepacked_int8_model_gives_the_same_bits() {
    use electra_train::infer::{InputSeq, LogitsModel};
    use electra_train::int8::Int8Model;
    let dir = tempfile::tempdir().unwrap();
    for name in ["disc", "gen", "cls", "tok"] {
        let file = dir.path().join(format!("{name}.elq"));
        export(&fixture(name), &file, None, true).unwrap();
        let packed = Int8Model::load(&file).unwrap();
        let unpacked = Int8Model::load_with(&file, false).unwrap();
        assert_eq!(unpacked.packed_bytes(), 0);
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512vnni") && std::is_x86_feature_detected!("avx512bw") {
            assert!(packed.packed_bytes() > 0, "{name}: AVX-512 VNNI machine but nothing packed");
        }
        // Enough tokens (≥ 20 rows) for the packed kernel, and a padded sequence.
        let long: Vec<u32> = (0..45).map(|i| 5 + (i * 37) % 900).collect();
        let mut padded = InputSeq::ids(long[..30].to_vec());
        padded.attention_mask = Some((0..30).map(|i| u8::from(i < 26)).collect());
        let seqs = [InputSeq::ids(long.clone()), padded, InputSeq::ids(vec![2, 7, 3])];
        let (a, b) = (packed.logits(&seqs).unwrap(), unpacked.logits(&seqs).unwrap());
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{name}");
    }
}
