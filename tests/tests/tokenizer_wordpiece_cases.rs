//! All 11,215 HF reference cases of `fixtures/wordpiece/cases.jsonl.zst` (every line of the US speeches corpus
//! and 3,000 strings from hard Unicode classes, ids from HF tokenizers 0.23.3's BERT-uncased pipeline): the core
//! tokenizer must give exactly the same ids for every one. Every mismatch is reported, not just the first.

use electra_core::tokenizer::{build_index, index_len, Tokenizer};

/// zstd-compressed JSON lines (`{"text": ..., "ids": [...]}`); made by `scripts/fixtures/make_wordpiece_cases.py`.
const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/wordpiece/cases.jsonl.zst");
const VOCAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/vocab.txt");
const EXPECTED_CASES: usize = 11_215;

#[test]
fn every_hf_case_matches() {
    let vocab = std::fs::read(VOCAB).unwrap();
    let mut index = vec![0u32; index_len(&vocab)];
    build_index(&vocab, &mut index).unwrap();
    let tok = Tokenizer::new(&vocab, &index).unwrap();
    tok.verify(&index).unwrap();

    let compressed = std::fs::read(CASES).unwrap_or_else(|e| panic!("{CASES}: {e}"));
    let text = String::from_utf8(zstd::decode_all(&compressed[..]).unwrap_or_else(|e| panic!("{CASES}: {e}")))
        .unwrap_or_else(|e| panic!("{CASES}: not UTF-8: {e}"));
    let mut ids = vec![0u32; 1 << 16];
    let mut cases = 0;
    let mut mismatches = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let input = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let n = tok.encode(input, &mut ids).unwrap();
        if ids[..n] != want[..] {
            let first_diff = ids[..n].iter().zip(&want).position(|(a, b)| a != b).unwrap_or(n.min(want.len()));
            mismatches.push(format!(
                "line {}: {:?}\n  first difference at token {first_diff}: got {:?}, want {:?}",
                line_no + 1,
                input.chars().take(80).collect::<String>(),
                &ids[first_diff..n.min(first_diff + 5)],
                &want[first_diff..want.len().min(first_diff + 5)],
            ));
        }
        cases += 1;
    }
    assert_eq!(cases, EXPECTED_CASES, "the fixture file lost or gained cases");
    assert!(mismatches.is_empty(), "{} of {cases} cases differ from HF:\n{}", mismatches.len(), mismatches.join("\n"));
}
