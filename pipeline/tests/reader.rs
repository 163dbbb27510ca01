//! The shard reader: batches per epoch and rank, and clear errors for shards that do not fit.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::*;
use electra_pipeline::reader::{Batch, ReaderError, ShardReader};
use electra_pipeline::shard::{self, ShardOptions};

const T: usize = 128;

/// Shards of the inaugural addresses, built once per test run.
fn fixture() -> &'static (PathBuf, String) {
    static DIR: OnceLock<(PathBuf, String)> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        // Fixtures of earlier runs are stale; this binary is their only user.
        for e in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with("reader-fixture-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let dir = tmp.join(format!("reader-fixture-{}", std::process::id()));
        let enc = project_tokenizer();
        let mut o = ShardOptions::new(vec![corpus_dir().join("inaugural")], dir.clone());
        o.num_shards = Some(3);
        o.seq_len = T;
        shard::run(&o, &enc).unwrap();
        (dir, enc.sha256_hex())
    })
}

fn open() -> ShardReader {
    let (dir, sha) = fixture();
    ShardReader::open(dir, sha, T).unwrap()
}

/// Unpadded rows of a batch, checking the padding, mask and token types against each other.
fn unpad(b: &Batch) -> Vec<(Vec<u32>, usize)> {
    assert_eq!(b.input_ids.len(), b.batch_size * b.seq_len);
    (0..b.batch_size)
        .map(|i| {
            let row = i * b.seq_len..(i + 1) * b.seq_len;
            let mask = &b.attention_mask[row.clone()];
            let len = mask.iter().take_while(|&&m| m == 1).count();
            assert!(mask[len..].iter().all(|&m| m == 0), "mask is not a prefix");
            let ids = &b.input_ids[row.clone()];
            assert!(ids[len..].iter().all(|&x| x == 0), "padding is not id 0");
            let tt = &b.token_type_ids[row];
            let b_start = tt.iter().position(|&x| x == 1).unwrap_or(len);
            assert!(tt[b_start..len].iter().all(|&x| x == 1) && tt[len..].iter().all(|&x| x == 0));
            (ids[..len].to_vec(), b_start)
        })
        .collect()
}

fn epoch_rows(
    r: &ShardReader,
    epoch: u64,
    batch: usize,
    rank: usize,
    world: usize,
    seed: u64,
) -> Vec<(Vec<u32>, usize)> {
    let mut rows = Vec::new();
    let batches: Vec<Batch> = r.epoch_batches(epoch, batch, rank, world, seed).map(|b| b.unwrap()).collect();
    assert_eq!(batches.len() as u64, r.batches_per_epoch(batch, world));
    for (i, b) in batches.iter().enumerate() {
        assert_eq!(b.seq_len, T);
        if i + 1 < batches.len() {
            assert_eq!(b.batch_size, batch);
        }
        rows.extend(unpad(b));
    }
    rows
}

fn multiset(rows: &[(Vec<u32>, usize)]) -> BTreeMap<(Vec<u32>, usize), usize> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(r.clone()).or_insert(0) += 1;
    }
    m
}

fn stored_rows(r: &ShardReader) -> Vec<(Vec<u32>, usize)> {
    (0..r.manifest().shards.len())
        .flat_map(|s| r.read_shard(s).unwrap())
        .map(|e| (e.input_ids, e.segment_b_start))
        .collect()
}

#[test]
fn one_rank_sees_every_example_once_per_epoch() {
    let r = open().with_shuffle_rows(1000);
    let all = stored_rows(&r);
    assert_eq!(all.len() as u64, r.num_rows());
    let rows = epoch_rows(&r, 0, 32, 0, 1, 5);
    assert_eq!(multiset(&rows), multiset(&all));
    assert_ne!(rows, all, "epoch order is shuffled");
}

#[test]
fn ranks_get_disjoint_equal_slices() {
    let r = open();
    let all = multiset(&stored_rows(&r));
    let world = 3;
    let mut union: BTreeMap<(Vec<u32>, usize), usize> = BTreeMap::new();
    for rank in 0..world {
        let rows = epoch_rows(&r, 2, 16, rank, world, 5);
        assert_eq!(rows.len() as u64, r.num_rows() / world as u64);
        for (k, v) in multiset(&rows) {
            *union.entry(k).or_insert(0) += v;
        }
    }
    // Disjoint: no row is handed out more often than it is stored.
    for (row, n) in &union {
        assert!(*n <= all[row], "a row is given to more than one rank");
    }
    assert_eq!(union.values().sum::<usize>() as u64, world as u64 * (r.num_rows() / world as u64));
}

#[test]
fn order_depends_on_epoch_and_seed_only() {
    let r = open();
    let a = epoch_rows(&r, 0, 64, 1, 2, 9);
    assert_eq!(a, epoch_rows(&r, 0, 64, 1, 2, 9));
    assert_ne!(a, epoch_rows(&r, 1, 64, 1, 2, 9));
    assert_ne!(a, epoch_rows(&r, 0, 64, 1, 2, 10));
    // The shuffle buffer size changes the order, not the set.
    let small = open().with_shuffle_rows(1);
    let b = epoch_rows(&small, 0, 64, 1, 2, 9);
    assert_eq!(multiset(&a), multiset(&b));
}

#[test]
fn impossible_requests_are_errors() {
    let r = open();
    for (batch, rank, world) in [(0, 0, 1), (8, 2, 2), (8, 0, 0), (8, 0, 1_000_000)] {
        let mut it = r.epoch_batches(0, batch, rank, world, 0);
        assert!(matches!(it.next(), Some(Err(ReaderError::InvalidRequest { .. }))), "{batch} {rank} {world}");
        assert!(it.next().is_none());
    }
}

/// A copy of the fixture to break.
fn copy_fixture() -> tempfile::TempDir {
    let (dir, _) = fixture();
    let copy = tempfile::tempdir().unwrap();
    for (name, bytes) in dir_bytes(dir) {
        std::fs::write(copy.path().join(name), bytes).unwrap();
    }
    copy
}

fn open_err(dir: &Path, seq_len: usize) -> ReaderError {
    match ShardReader::open(dir, &fixture().1, seq_len) {
        Ok(_) => panic!("opened a broken shard directory"),
        Err(e) => e,
    }
}

#[test]
fn mismatched_vocab_or_sequence_length_is_refused() {
    let (dir, sha) = fixture();
    let e = ShardReader::open(dir, &"0".repeat(64), T).err().unwrap();
    assert!(matches!(&e, ReaderError::VocabMismatch { found, .. } if found == sha), "{e}");
    assert!(e.to_string().contains("manifest.json"), "{e}");
    let e = open_err(dir, 512);
    assert!(matches!(e, ReaderError::SeqLenMismatch { expected: 512, found: 128, .. }), "{e}");
    assert!(e.to_string().contains("--seq-len 512"), "{e}");

    // A shard from another run (T = 64) slipped in under a listed name: caught from its own footer.
    let other = tempfile::tempdir().unwrap();
    let mut o = ShardOptions::new(vec![corpus_dir().join("inaugural/1789-Washington.txt")], other.path().to_path_buf());
    o.num_shards = Some(1);
    o.seq_len = 64;
    shard::run(&o, &project_tokenizer()).unwrap();
    let broken = copy_fixture();
    std::fs::copy(
        other.path().join("shard-00000-of-00001.parquet"),
        broken.path().join("shard-00001-of-00003.parquet"),
    )
    .unwrap();
    let e = open_err(broken.path(), T);
    assert!(matches!(e, ReaderError::SeqLenMismatch { expected: 128, found: 64, .. }), "{e}");
    assert!(e.to_string().contains("shard-00001-of-00003.parquet"), "{e}");
}

#[test]
fn truncated_or_foreign_parquet_gets_a_clear_error() {
    let name = "shard-00002-of-00003.parquet";
    // Truncated: the footer is gone.
    let d = copy_fixture();
    let f = d.path().join(name);
    let len = std::fs::metadata(&f).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&f).unwrap().set_len(len - 100).unwrap();
    let e = open_err(d.path(), T);
    assert!(matches!(e, ReaderError::Parquet { .. }), "{e}");
    assert!(e.to_string().contains(name) && e.to_string().contains("truncated"), "{e}");

    // Not Parquet at all.
    let d = copy_fixture();
    std::fs::write(d.path().join(name), b"id,text\n1,hello\n").unwrap();
    let e = open_err(d.path(), T);
    assert!(matches!(e, ReaderError::Parquet { .. }) && e.to_string().contains(name), "{e}");

    // Valid Parquet, but not an electra shard.
    let d = copy_fixture();
    let schema = std::sync::Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
        "text",
        arrow_schema::DataType::Utf8,
        false,
    )]));
    let batch = arrow_array::RecordBatch::try_new(
        schema.clone(),
        vec![std::sync::Arc::new(arrow_array::StringArray::from(vec!["hello"]))],
    )
    .unwrap();
    let file = std::fs::File::create(d.path().join(name)).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let e = open_err(d.path(), T);
    assert!(matches!(e, ReaderError::ForeignShard { .. }) && e.to_string().contains(name), "{e}");

    // Missing shard file.
    let d = copy_fixture();
    std::fs::remove_file(d.path().join(name)).unwrap();
    let e = open_err(d.path(), T);
    assert!(matches!(e, ReaderError::Io { .. }) && e.to_string().contains(name), "{e}");

    // A byte changed in the middle: the footer still reads, the checksum does not match.
    let d = copy_fixture();
    assert!(ShardReader::open(d.path(), &fixture().1, T).unwrap().verify_checksums().is_ok());
    let f = d.path().join(name);
    let mut bytes = std::fs::read(&f).unwrap();
    let mid = bytes.len() / 3;
    bytes[mid] ^= 0x40;
    std::fs::write(&f, bytes).unwrap();
    let e = ShardReader::open(d.path(), &fixture().1, T).unwrap().verify_checksums().unwrap_err();
    assert!(matches!(e, ReaderError::ChecksumMismatch { .. }) && e.to_string().contains(name), "{e}");

    // Manifest that lies about the row count, and one that is not JSON.
    let d = copy_fixture();
    let mpath = d.path().join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    m["shards"][0]["rows"] = serde_json::json!(1);
    std::fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
    let e = open_err(d.path(), T);
    assert!(matches!(e, ReaderError::RowCountMismatch { manifest: 1, .. }), "{e}");
    std::fs::write(&mpath, b"{\"format_version\": 1,").unwrap();
    let e = open_err(d.path(), T);
    assert!(matches!(e, ReaderError::Manifest { .. }) && e.to_string().contains("manifest.json"), "{e}");
}
