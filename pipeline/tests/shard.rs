//! End to end: corpus → shards → reader, checked against HF tokenizers and against itself.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use electra_pipeline::reader::{Example, ShardReader};
use electra_pipeline::shard::{self, ShardOptions, ShardSummary};
use electra_pipeline::tokenizer::HostTokenizer;

fn opts(inputs: Vec<PathBuf>, out: &Path, shards: usize) -> ShardOptions {
    let mut o = ShardOptions::new(inputs, out.to_path_buf());
    o.num_shards = Some(shards);
    o.seq_len = 128;
    o.seed = 7;
    o
}

fn run(o: &ShardOptions, enc: &HostTokenizer) -> ShardSummary {
    shard::run(o, enc).unwrap()
}

fn all_rows(dir: &Path, enc: &HostTokenizer, seq_len: usize) -> Vec<Example> {
    let reader = ShardReader::open(dir, &enc.sha256_hex(), seq_len).unwrap();
    (0..reader.manifest().shards.len()).flat_map(|s| reader.read_shard(s).unwrap()).collect()
}

/// The task's checks on every example: at most T ids, `[CLS]` first, one or two `[SEP]` with the last
/// at the end; and the ids inside are the tokenizer's ids of the source text: segment A is a stretch of
/// the corpus's token stream at or after the previous example, and B continues it directly.
fn check_against_stream(rows: &[Example], stream: &[u32], t: usize, cls: u32, sep: u32) -> u64 {
    let mut cursor = 0usize;
    let mut kept = 0u64;
    for (i, ex) in rows.iter().enumerate() {
        let ids = &ex.input_ids;
        assert!(ids.len() <= t, "row {i}: {} ids", ids.len());
        assert_eq!(ids[0], cls, "row {i}");
        assert_eq!(*ids.last().unwrap(), sep, "row {i}");
        let seps: Vec<usize> = ids.iter().enumerate().filter(|(_, &x)| x == sep).map(|(k, _)| k).collect();
        let b = ex.segment_b_start;
        let a = if b == ids.len() {
            assert_eq!(seps, vec![ids.len() - 1], "row {i}: one [SEP], at the end");
            &ids[1..ids.len() - 1]
        } else {
            assert_eq!(seps, vec![b - 1, ids.len() - 1], "row {i}: two [SEP]s, B right after the first");
            &ids[1..b - 1]
        };
        assert!(!a.is_empty(), "row {i}: empty segment A");
        let pos = (cursor..=stream.len() - a.len())
            .find(|&p| stream[p..p + a.len()] == *a)
            .unwrap_or_else(|| panic!("row {i}: segment A not found in the token stream after {cursor}"));
        let mut end = pos + a.len();
        kept += a.len() as u64;
        if b < ids.len() {
            let bseg = &ids[b..ids.len() - 1];
            assert_eq!(&stream[end..end + bseg.len()], bseg, "row {i}: segment B does not follow A");
            end += bseg.len();
            kept += bseg.len() as u64;
        }
        cursor = end;
    }
    kept
}

#[test]
fn bundled_corpus_examples_match_hf_tokenizers() {
    let enc = project_tokenizer();
    let out = tempfile::tempdir().unwrap();
    let summary = run(&opts(vec![corpus_dir()], out.path(), 1), &enc);
    let manifest = summary.manifest.expect("manifest written");

    let (docs, bad_lines) = txt_documents(&txt_files(&corpus_dir()));
    let hf = HfReference::new();
    let stream: Vec<u32> = docs.iter().flat_map(|d| hf.ids(&d.join("\n"))).collect();
    let rows = all_rows(out.path(), &enc, 128);
    let (cls, sep, unk) = (hf.id("[CLS]"), hf.id("[SEP]"), hf.id("[UNK]"));
    let kept = check_against_stream(&rows, &stream, 128, cls, sep);

    let t = &manifest.totals;
    assert_eq!(t.examples, rows.len() as u64);
    assert_eq!(t.documents, docs.len() as u64);
    assert_eq!(t.text_tokens, stream.len() as u64);
    assert_eq!(t.unk_tokens, stream.iter().filter(|&&x| x == unk).count() as u64);
    assert_eq!(kept + t.dropped_tokens, t.text_tokens, "every token is kept or counted as dropped");
    assert_eq!(t.tokens, rows.iter().map(|r| r.input_ids.len() as u64).sum::<u64>());
    // The corpus has Latin-1 files: their lines are decoded lossily and counted, not fatal.
    assert!(bad_lines > 0);
    assert_eq!(t.bad_lines, bad_lines);
    // Length mix (informational: the speeches have many one-paragraph documents, which give short,
    // single-segment examples; the recipe's own shares are tested on synthetic input in `packing`).
    let single = rows.iter().filter(|r| r.segment_b_start == r.input_ids.len()).count() as f64 / rows.len() as f64;
    let full = rows.iter().filter(|r| r.input_ids.len() >= 120).count() as f64 / rows.len() as f64;
    eprintln!("{} examples, single-segment {single:.3}, >=120 ids {full:.3}, dropped {}", rows.len(), t.dropped_tokens);
}

#[test]
fn one_thread_and_many_threads_write_identical_bytes() {
    let enc = project_tokenizer();
    // The whole corpus (2.9 MB) in 2 shards: two 1 MiB chunks or more per shard, so the in-order reassembly is exercised.
    let input = vec![corpus_dir()];
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let mut o = opts(input.clone(), a.path(), 2);
    o.threads = 1;
    run(&o, &enc);
    let mut o = opts(input, b.path(), 2);
    o.threads = 4;
    run(&o, &enc);
    let (da, db) = (dir_bytes(a.path()), dir_bytes(b.path()));
    assert_eq!(da.keys().collect::<Vec<_>>(), db.keys().collect::<Vec<_>>());
    assert_eq!(da.len(), 3, "2 shards + manifest: {:?}", da.keys());
    for shard in ["shard-00000-of-00002.parquet", "shard-00001-of-00002.parquet"] {
        let file = std::fs::File::open(a.path().join(shard)).unwrap();
        let row_groups = parquet::file::reader::FileReader::metadata(
            &parquet::file::reader::SerializedFileReader::new(file).unwrap(),
        )
        .num_row_groups();
        assert!(row_groups >= 2, "{shard}: {row_groups} row group(s), one per chunk");
    }
    for (name, bytes) in &da {
        assert!(bytes == &db[name], "{name} differs between 1 and 4 threads");
    }
    assert_eq!(dir_bytes(&a.path().join(".progress")), dir_bytes(&b.path().join(".progress")));
}

#[test]
fn killed_run_resumes_to_the_same_manifest() {
    let enc = project_tokenizer();
    let input = vec![corpus_dir().join("inaugural")];
    let whole = tempfile::tempdir().unwrap();
    run(&opts(input.clone(), whole.path(), 4), &enc);
    let expected = dir_bytes(whole.path());

    let dir = tempfile::tempdir().unwrap();
    // 1. Stopped after two shards, with the third one half-written under its temporary name.
    let mut o = opts(input.clone(), dir.path(), 4);
    o.stop_after_shards = Some(2);
    o.threads = 2;
    let s = run(&o, &enc);
    assert!(s.stopped_early && s.manifest.is_none());
    assert_eq!(s.written, vec![0, 1]);
    assert!(!dir.path().join("manifest.json").exists());
    std::fs::write(dir.path().join(".shard-00002-of-00004.parquet.tmp-999999"), b"half a shard").unwrap();

    // 2. The re-run keeps the verified shards and writes the rest.
    let s = run(&opts(input.clone(), dir.path(), 4), &enc);
    assert_eq!((s.reused.clone(), s.written.clone()), (vec![0, 1], vec![2, 3]));
    assert_eq!(dir_bytes(dir.path()), expected, "resumed run differs from the uninterrupted one");

    // 3. A shard truncated and another deleted behind our back: only those two are rebuilt.
    let f1 = dir.path().join("shard-00001-of-00004.parquet");
    let len = std::fs::metadata(&f1).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&f1).unwrap().set_len(len / 2).unwrap();
    std::fs::remove_file(dir.path().join("shard-00003-of-00004.parquet")).unwrap();
    let s = run(&opts(input.clone(), dir.path(), 4), &enc);
    assert_eq!((s.reused.clone(), s.written.clone()), (vec![0, 2], vec![1, 3]));
    assert_eq!(dir_bytes(dir.path()), expected);

    // 4. Nothing to do: everything is verified and reused.
    let s = run(&opts(input, dir.path(), 4), &enc);
    assert_eq!((s.reused, s.written), (vec![0, 1, 2, 3], vec![]));
    assert_eq!(dir_bytes(dir.path()), expected);
}

#[test]
fn workers_split_the_corpus_and_together_match_one_worker() {
    let enc = project_tokenizer();
    let input = vec![corpus_dir().join("inaugural")];
    let single = tempfile::tempdir().unwrap();
    run(&opts(input.clone(), single.path(), 5), &enc);

    let shared = tempfile::tempdir().unwrap();
    let mut ranges = Vec::new();
    for w in [1, 0] {
        let mut o = opts(input.clone(), shared.path(), 5);
        o.worker_index = w;
        o.workers = 2;
        let s = run(&o, &enc);
        ranges.push(s.worker_shards.clone());
        assert_eq!(s.written, s.worker_shards.clone().collect::<Vec<_>>());
        // Only the last worker to finish sees every shard and writes the manifest.
        assert_eq!(s.manifest.is_some(), w == 0);
    }
    assert_eq!(ranges, vec![2..5, 0..2]);
    assert_eq!(dir_bytes(shared.path()), dir_bytes(single.path()));
}

/// The same documents in every input format give the same examples.
#[test]
fn all_input_formats_give_the_same_examples() {
    use std::io::Write;
    use std::sync::Arc;

    let enc = project_tokenizer();
    let src = corpus_dir().join("inaugural");
    let files = txt_files(&src);
    let (docs, _) = txt_documents(&files[..12]);
    let dir = tempfile::tempdir().unwrap();
    let formats = dir.path().join("in");
    std::fs::create_dir(&formats).unwrap();

    // .txt: documents separated by blank lines (lines already trimmed and UTF-8).
    let txt: String = docs.iter().map(|d| d.join("\n") + "\n\n").collect();
    std::fs::write(formats.join("a.txt"), &txt).unwrap();
    std::fs::write(formats.join("b.txt.zst"), zstd::encode_all(txt.as_bytes(), 3).unwrap()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(txt.as_bytes()).unwrap();
    std::fs::write(formats.join("c.txt.gz"), gz.finish().unwrap()).unwrap();
    // .jsonl with a custom field, plus records without it (skipped and counted).
    let mut jsonl = String::new();
    for (i, d) in docs.iter().enumerate() {
        jsonl += &serde_json::json!({"id": i, "body": d.join("\n")}).to_string();
        jsonl.push('\n');
        if i == 3 {
            jsonl += "{\"id\": 99}\nnot json at all\n\n";
        }
    }
    std::fs::write(formats.join("d.jsonl"), &jsonl).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(jsonl.as_bytes()).unwrap();
    std::fs::write(formats.join("e.jsonl.gz"), gz.finish().unwrap()).unwrap();
    // .parquet with the text in column "body", several row groups.
    let schema = Arc::new(arrow_schema::Schema::new(vec![
        arrow_schema::Field::new("id", arrow_schema::DataType::Int64, false),
        arrow_schema::Field::new("body", arrow_schema::DataType::Utf8, true),
    ]));
    let texts: Vec<String> = docs.iter().map(|d| d.join("\n")).collect();
    let batch = arrow_array::RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(arrow_array::Int64Array::from_iter_values(0..texts.len() as i64)),
            Arc::new(arrow_array::StringArray::from_iter_values(texts.iter())),
        ],
    )
    .unwrap();
    let props = parquet::file::properties::WriterProperties::builder().set_max_row_group_row_count(Some(7)).build();
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    std::fs::write(formats.join("f.parquet"), &buf).unwrap();
    std::fs::write(formats.join("g.parquet.zst"), zstd::encode_all(&buf[..], 3).unwrap()).unwrap();

    let mut results = Vec::new();
    for name in ["a.txt", "b.txt.zst", "c.txt.gz", "d.jsonl", "e.jsonl.gz", "f.parquet", "g.parquet.zst"] {
        let out = dir.path().join(format!("out-{name}"));
        let mut o = opts(vec![formats.join(name)], &out, 1);
        o.text_field = "body".into();
        let s = run(&o, &enc);
        let m = s.manifest.unwrap();
        assert_eq!(m.totals.documents, docs.len() as u64, "{name}");
        let skipped = if name.contains("jsonl") { 2 } else { 0 };
        assert_eq!(m.totals.skipped_records, skipped, "{name}");
        results.push((name, all_rows(&out, &enc, 128)));
    }
    assert!(!results[0].1.is_empty());
    for (name, rows) in &results[1..] {
        assert!(rows == &results[0].1, "{name} gives other examples than a.txt");
    }

    // A directory walk picks the files up in sorted order and passes over unknown extensions.
    std::fs::write(formats.join("notes.md"), "ignored").unwrap();
    let mut o = opts(vec![formats.clone()], &dir.path().join("out-all"), 2);
    o.text_field = "body".into();
    let s = run(&o, &enc);
    assert_eq!(s.corpus_files, 7);
    assert_eq!(s.ignored_files, 1);
    // A `.txt` document that straddles the boundary between the two shards is counted in both.
    let documents = s.manifest.unwrap().totals.documents;
    assert!((7 * docs.len() as u64..=7 * docs.len() as u64 + 1).contains(&documents), "{documents}");
}

#[test]
fn invalid_utf8_and_odd_input_never_crash() {
    let enc = project_tokenizer();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("odd.txt");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"Caf\xe9 au lait. Na\xefve \xff\xfe text.\r\n");
    bytes.extend_from_slice(b"\n   \t \n"); // blank lines with whitespace
    bytes.extend_from_slice("Ünïcödé – “quotes” and 中文字符. Second sentence!\n".as_bytes());
    bytes.extend_from_slice(&vec![b'x'; 300]); // a word far longer than WordPiece's 100 characters
    bytes.extend_from_slice(b"\n\x00\x01 control chars\n");
    bytes.extend_from_slice(b"no newline at the end");
    std::fs::write(&input, &bytes).unwrap();
    let s = run(&opts(vec![input], &dir.path().join("out"), 1), &enc);
    let m = s.manifest.unwrap();
    assert_eq!(m.totals.bad_lines, 1);
    assert_eq!(m.totals.documents, 2);
    assert!(m.totals.unk_tokens >= 1, "the 300-character word is [UNK]");
    let rows = all_rows(&dir.path().join("out"), &enc, 128);
    assert!(!rows.is_empty());

    // Options that cannot work are refused with a message, not a panic.
    let mut o = opts(vec![dir.path().join("missing.txt")], &dir.path().join("o2"), 1);
    let e = shard::run(&o, &enc).unwrap_err().to_string();
    assert!(e.contains("missing.txt") && e.contains("does not exist"), "{e}");
    o.inputs = vec![dir.path().join("odd.txt")];
    o.seq_len = 3;
    assert!(shard::run(&o, &enc).unwrap_err().to_string().contains("--seq-len 3"));
    let unknown = dir.path().join("data.csv");
    std::fs::write(&unknown, "a,b").unwrap();
    let o = opts(vec![unknown], &dir.path().join("o3"), 1);
    let e = shard::run(&o, &enc).unwrap_err().to_string();
    assert!(e.contains("data.csv") && e.contains("unknown format"), "{e}");
    let broken = dir.path().join("broken.txt.gz");
    std::fs::write(&broken, b"\x1f\x8b\x08\x00garbage").unwrap();
    let o = opts(vec![broken], &dir.path().join("o4"), 1);
    let e = shard::run(&o, &enc).unwrap_err().to_string();
    assert!(e.contains("broken.txt.gz"), "{e}");
}
