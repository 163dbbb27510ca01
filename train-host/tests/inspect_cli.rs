//! `electra inspect FILE` and `electra export --keep-tokens-from [--keep-tokens-min-count N]`: the
//! table of what takes the bytes adds up to the file, a pruned file keeps the rows of the texts'
//! tokens (those seen N times), counts the tokens that read a dropped row, and a damaged file is a
//! typed error naming it.

mod common;

use common::cli::{electra, row, stdout, w_vocab};
use common::fixture;

#[test]
fn inspect_tabulates_full_and_pruned_files() {
    let dir = tempfile::tempdir().unwrap();
    // The fixture's 1000-token vocab: BERT's special tokens, then `w5` … `w999`.
    let vocab_path = w_vocab(dir.path());
    let texts = dir.path().join("train.txt");
    std::fs::write(&texts, "w7 w9 w9\nW12!\n").unwrap(); // "!" is not in the vocab: [UNK]
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (full, pruned) = (path("full.elq"), path("pruned.elq"));
    let model = fixture("cls");
    let model = model.to_str().unwrap();
    let vocab = vocab_path.to_str().unwrap();
    stdout(&electra(&["export", "--model", model, "--out", &full, "--vocab", vocab, "--tokenizer-index"]));
    let said = stdout(&electra(&[
        "export",
        "--model",
        model,
        "--out",
        &pruned,
        "--vocab",
        vocab,
        "--tokenizer-index",
        "--keep-tokens-from",
        texts.to_str().unwrap(),
    ]));
    // [PAD] [UNK] [CLS] [SEP] [MASK] w7 w9 w12; five tokens read.
    assert!(said.contains("8 of 1000 word embedding rows kept (5 tokens read)"), "{said}");
    // --keep-tokens-min-count 2: of the texts' tokens only w9 occurs twice; the special tokens always stay.
    let frequent = path("frequent.elq");
    let said = stdout(&electra(&[
        "export",
        "--model",
        model,
        "--out",
        &frequent,
        "--vocab",
        vocab,
        "--tokenizer-index",
        "--keep-tokens-from",
        texts.to_str().unwrap(),
        "--keep-tokens-min-count",
        "2",
    ]));
    assert!(
        said.contains("6 of 1000 word embedding rows kept: tokens seen at least 2 times (5 tokens read)"),
        "{said}"
    );
    let refused =
        electra(&["export", "--model", model, "--out", &frequent, "--vocab", vocab, "--keep-tokens-min-count", "2"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && err.contains("--keep-tokens-from"), "{err}");

    let full_table = stdout(&electra(&["inspect", &full]));
    let pruned_table = stdout(&electra(&["inspect", &pruned]));
    for (file, table) in [(&full, &full_table), (&pruned, &pruned_table)] {
        let total = std::fs::metadata(file).unwrap().len() as usize;
        assert_eq!(row(table, "total"), Some(total), "{table}");
        let sections: usize = table
            .lines()
            .skip_while(|l| !l.starts_with("section"))
            .skip(1)
            .take_while(|l| !l.starts_with("total"))
            .map(|l| l.split_whitespace().rev().nth(1).unwrap().parse::<usize>().unwrap())
            .sum();
        assert_eq!(sections, total, "the sections add up to the file: {table}");
        for section in ["header and tensor directory", "encoder int8 matrices", "vocab", "tokenizer index", "labels"] {
            assert!(row(table, section).is_some_and(|b| b > 0), "{section}: {table}");
        }
    }
    // The fixture's 1000 × 32 word table, int8 rows and f32 scales; pruned to 8 rows and a 9-word map.
    let dim = row(&full_table, "word embeddings (int8 rows + scales)").unwrap() / 1000 - 4;
    assert_eq!(row(&pruned_table, "word embeddings (int8 rows + scales)"), Some(8 * dim + 8 * 4));
    assert_eq!(row(&pruned_table, "word embedding row map"), Some(9 * 4));
    assert_eq!(row(&full_table, "word embedding row map"), None);
    assert!(full_table.contains("format version 2") && pruned_table.contains("format version 3"));
    assert!(pruned_table.contains("word embeddings pruned: 8 of 1000 rows kept"), "{pruned_table}");

    // Dev texts: w7 and w9 were kept, w8 was not; the header line is skipped with --column.
    let dev = dir.path().join("dev.tsv");
    std::fs::write(&dev, "label\ttext\n1\tw7 w8\n0\tw9 w8 w8\n").unwrap();
    let dev = dev.to_str().unwrap();
    let counted = stdout(&electra(&["inspect", &pruned, "--texts", dev, "--column", "text"]));
    assert!(counted.contains("5 tokens, 3 read a dropped word embedding row (60.00%)"), "{counted}");
    let counted = stdout(&electra(&["inspect", &full, "--texts", dev, "--column", "text"]));
    assert!(counted.contains("5 tokens, 0 read a dropped word embedding row"), "{counted}");
    let out = electra(&["inspect", &pruned, "--texts", dev, "--column", "sentence"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no column `sentence`"));
}

#[test]
fn inspect_refuses_a_damaged_file_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.elq");
    let name = file.to_str().unwrap();
    stdout(&electra(&["export", "--model", fixture("tok").to_str().unwrap(), "--out", name]));
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();
    let out = electra(&["inspect", name]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains(name) && err.contains("CRC32"), "{err}");
    std::fs::write(&file, b"not a model").unwrap();
    let out = electra(&["inspect", name]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("preamble"));
}

#[test]
fn keep_tokens_needs_the_vocab() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.elq");
    let out = electra(&[
        "export",
        "--model",
        fixture("cls").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--keep-tokens-from",
        "/dev/null",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--vocab"), "{}", String::from_utf8_lossy(&out.stderr));
}
