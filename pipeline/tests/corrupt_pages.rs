//! Corrupt page headers and footers are refused before the Parquet decoder reads them (issue 17, second and
//! third fuzz findings).
//!
//! Cause: parquet 60.1 reads a page header with a Thrift reader that is not bounded by the column chunk, skips
//! bytes past the end of the file as if they were there, and runs a container's element count read from the file.
//! The fuzz input below has, at the first column chunk's start, a page header whose unknown field 12 nests lists
//! down to a map of 265,297,984 (bool, uuid) entries that begins 2.7 KB before the end of the file: the crate
//! skipped 265 million 16-byte uuids at end of file, one `read` system call each (205 s in a release build,
//! more than 15 minutes in the fuzz build). The reader now walks every page header itself, bounded, first.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use electra_pipeline::reader::{ReaderError, ShardReader};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A shard directory holding `shard` under the fuzz harness's manifest (fuzz/shard_manifest.json, its byte
/// count set to the shard's, as `harness::shard_reader` does); the vocab sha256 and sequence length it lists.
fn shard_dir(name: &str, shard: &[u8]) -> (PathBuf, String, usize) {
    let text = std::fs::read_to_string(repo().join("fuzz/shard_manifest.json")).unwrap();
    let mut manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    manifest["shards"][0]["bytes"] = serde_json::Value::from(shard.len());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("corrupt-pages-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = manifest["shards"][0]["file"].as_str().unwrap().to_string();
    std::fs::write(dir.join(&file), shard).unwrap();
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    let sha = manifest["vocab_sha256"].as_str().unwrap().to_string();
    let seq_len = manifest["seq_len"].as_u64().unwrap() as usize;
    (dir.join(file), sha, seq_len)
}

/// The decoder's time on a shard of this size is microseconds; a second is the hang's sign, with slack for a
/// loaded machine.
const BOUNDED: Duration = Duration::from_secs(1);

#[test]
fn a_page_header_with_a_map_of_265_million_entries_is_refused_in_bounded_time() {
    let input = repo().join("fuzz/regressions/shard_reader/timeout-b6e46536ee33d00a7bbb1cbd08f2cd4b7a769473");
    let (shard, sha, seq_len) = shard_dir("map", &std::fs::read(input).unwrap());
    let dir = shard.parent().unwrap();
    let started = Instant::now();
    let reader = ShardReader::open(dir, &sha, seq_len).unwrap();
    let err = reader.read_shard(0).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, ReaderError::CorruptPages { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&shard.display().to_string()), "{text}");
    assert!(text.contains("column input_ids.list.item") && text.contains("page 0"), "{text}");
    assert!(took < BOUNDED, "took {took:?}");
    // The same error on every read: training's path (epoch_batches) reads row groups the same way.
    let batch = reader.epoch_batches(0, 2, 0, 1, 7).next().unwrap();
    assert!(matches!(batch, Err(ReaderError::CorruptPages { .. })));
}

#[test]
fn a_footer_with_a_list_of_a_billion_bools_is_refused_in_bounded_time() {
    // Cause: parquet's footer parser skips an unknown field's bool list elements as zero bytes and runs the
    // count read from the footer; this 29-byte footer nests lists down to one of 1.2 billion bools (more than
    // 10 s in the fuzz build, inside ShardReader::open).
    // The second input's footer claims the whole file, its opening "PAR1" included, which the crate accepts.
    for (name, input) in [
        ("footer", "timeout-ab7141df7335b5cf13e6fb7c6748bda17a9035bd"),
        ("whole-file-footer", "timeout-7471e3479aa359d3b0c69993b6ebe2029c5528ad"),
    ] {
        let input = repo().join("fuzz/regressions/shard_reader").join(input);
        let (shard, sha, seq_len) = shard_dir(name, &std::fs::read(input).unwrap());
        let started = Instant::now();
        let err = ShardReader::open(shard.parent().unwrap(), &sha, seq_len).err().unwrap();
        let took = started.elapsed();
        assert!(matches!(err, ReaderError::CorruptFooter { .. }), "{name}: {err}");
        assert!(err.to_string().contains(&shard.display().to_string()), "{err}");
        assert!(took < BOUNDED, "{name} took {took:?}");
    }
}

#[test]
fn the_seed_shard_still_reads() {
    let seed = std::fs::read(repo().join("fuzz/corpus/shard_reader/one-shard")).unwrap();
    let (shard, sha, seq_len) = shard_dir("seed", &seed);
    let reader = ShardReader::open(shard.parent().unwrap(), &sha, seq_len).unwrap();
    reader.verify_checksums().unwrap();
    let rows = reader.read_shard(0).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows.iter().map(|r| r.input_ids.len()).sum::<usize>(), 31);
}

#[test]
fn a_column_chunk_outside_the_file_is_refused_before_anything_is_read() {
    // The seed shard cut short of its last column chunk's end, with its footer kept: the footer lists a chunk
    // the file no longer holds.
    let seed = std::fs::read(repo().join("fuzz/corpus/shard_reader/one-shard")).unwrap();
    let footer_len = u32::from_le_bytes(seed[seed.len() - 8..seed.len() - 4].try_into().unwrap()) as usize;
    let footer = &seed[seed.len() - 8 - footer_len..];
    let mut cut = seed[..40].to_vec();
    cut.extend_from_slice(footer);
    let (shard, sha, seq_len) = shard_dir("cut", &cut);
    let reader = ShardReader::open(shard.parent().unwrap(), &sha, seq_len).unwrap();
    let err = reader.read_shard(0).unwrap_err();
    assert!(matches!(err, ReaderError::CorruptPages { .. }) && err.to_string().contains("outside the file"), "{err}");
}
