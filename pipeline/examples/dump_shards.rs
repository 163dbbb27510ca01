//! Prints a shard directory as the project's reader sees it, as JSON, for cross-checks from other tools
//! (`scripts/test.d/40-pyarrow-crosscheck.sh` compares it with pyarrow):
//!
//! ```text
//! cargo run --release -p electra-pipeline --example dump_shards -- SHARD_DIR VOCAB_TXT SEQ_LEN > rows.json
//! ```
//!
//! Output: `{"stored": [[[ids...], segment_b_start], ...] per shard, in stored order,
//!           "batches": [{"input_ids": [[...]], "attention_mask": ..., "token_type_ids": ...}, ...]}`
//! where `batches` is epoch 0 of a single rank, batch size 64, seed 0.

use std::io::Write;

use electra_pipeline::reader::ShardReader;
use sha2::{Digest, Sha256};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        return Err("usage: dump_shards SHARD_DIR VOCAB_TXT SEQ_LEN".into());
    }
    let vocab = std::fs::read(&args[2]).map_err(|e| format!("{}: {e}", args[2]))?;
    let sha: String = Sha256::digest(&vocab).iter().map(|b| format!("{b:02x}")).collect();
    let seq_len: usize = args[3].parse()?;
    let reader = ShardReader::open(std::path::Path::new(&args[1]), &sha, seq_len)?;

    let mut stored = Vec::new();
    for s in 0..reader.manifest().shards.len() {
        let rows: Vec<serde_json::Value> =
            reader.read_shard(s)?.into_iter().map(|e| serde_json::json!([e.input_ids, e.segment_b_start])).collect();
        stored.push(rows);
    }
    let mut batches = Vec::new();
    for batch in reader.epoch_batches(0, 64, 0, 1, 0) {
        let b = batch?;
        let rows = |v: Vec<serde_json::Value>| serde_json::Value::Array(v);
        let t = b.seq_len;
        batches.push(serde_json::json!({
            "input_ids": rows(b.input_ids.chunks(t).map(|r| serde_json::json!(r)).collect()),
            "attention_mask": rows(b.attention_mask.chunks(t).map(|r| serde_json::json!(r)).collect()),
            "token_type_ids": rows(b.token_type_ids.chunks(t).map(|r| serde_json::json!(r)).collect()),
        }));
    }
    let out = serde_json::json!({"stored": stored, "batches": batches});
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, &out)?;
    stdout.write_all(b"\n")?;
    Ok(())
}
