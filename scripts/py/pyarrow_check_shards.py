"""Reads electra shards with pyarrow and checks them against the project's own reader.

usage: pyarrow_check_shards.py SHARD_DIR VOCAB_TXT SEQ_LEN ROWS_JSON
ROWS_JSON is the output of `cargo run --example dump_shards` on the same directory.
Exits non-zero with a message on the first mismatch.
"""
import collections
import hashlib
import json
import os
import sys

import pyarrow.parquet as pq


def fail(msg):
    print(f"pyarrow cross-check FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    shard_dir, vocab_path, seq_len, rows_json = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    vocab = open(vocab_path, "rb").read()
    vocab_sha = hashlib.sha256(vocab).hexdigest()
    tokens = vocab.decode("utf-8").split("\n")
    cls, sep = tokens.index("[CLS]"), tokens.index("[SEP]")
    manifest = json.load(open(os.path.join(shard_dir, "manifest.json")))
    ours = json.load(open(rows_json))

    if manifest["vocab_sha256"] != vocab_sha or manifest["seq_len"] != seq_len:
        fail("manifest vocab/seq_len do not match")
    if len(manifest["shards"]) != len(ours["stored"]):
        fail("shard count differs")
    all_rows = []
    total_tokens = 0
    for entry, our_rows in zip(manifest["shards"], ours["stored"]):
        path = os.path.join(shard_dir, entry["file"])
        data = open(path, "rb").read()
        if hashlib.sha256(data).hexdigest() != entry["sha256"] or len(data) != entry["bytes"]:
            fail(f"{path}: sha256/size differ from the manifest")
        pf = pq.ParquetFile(path)
        meta = {k.decode(): v.decode() for k, v in pf.metadata.metadata.items()}
        if meta["electra.vocab_sha256"] != vocab_sha or int(meta["electra.seq_len"]) != seq_len:
            fail(f"{path}: footer metadata {meta}")
        if meta["electra.format_version"] != str(manifest["format_version"]):
            fail(f"{path}: format version")
        table = pf.read()
        if str(table.schema.field("input_ids").type) != "list<item: uint32 not null>":
            fail(f"{path}: input_ids type {table.schema.field('input_ids').type}")
        ids = table.column("input_ids").to_pylist()
        b_start = table.column("segment_b_start").to_pylist()
        if len(ids) != entry["rows"]:
            fail(f"{path}: {len(ids)} rows, manifest says {entry['rows']}")
        theirs = [[r, b] for r, b in zip(ids, b_start)]
        if theirs != our_rows:
            bad = next(i for i, (a, b) in enumerate(zip(theirs, our_rows)) if a != b) if len(theirs) == len(our_rows) else "count"
            fail(f"{path}: pyarrow and the project's reader disagree (row {bad})")
        for r, b in theirs:
            if not (2 <= len(r) <= seq_len) or r[0] != cls or r[-1] != sep:
                fail(f"{path}: malformed row {r}")
            seps = [i for i, x in enumerate(r) if x == sep]
            if seps not in ([len(r) - 1], [b - 1, len(r) - 1]) or (b == len(r)) != (len(seps) == 1):
                fail(f"{path}: [SEP] layout {seps} with segment B at {b}")
            total_tokens += len(r)
        all_rows.extend(theirs)
    if total_tokens != manifest["totals"]["tokens"] or len(all_rows) != manifest["totals"]["examples"]:
        fail("manifest totals do not match the files")

    # The reader's epoch: padded batches whose rows, unpadded, are exactly the stored rows (shuffled).
    epoch = []
    for b in ours["batches"]:
        for ids, mask, tt in zip(b["input_ids"], b["attention_mask"], b["token_type_ids"]):
            n = sum(mask)
            if len(ids) != seq_len or mask != [1] * n + [0] * (seq_len - n) or any(ids[n:]):
                fail("batch padding/mask")
            bs = tt.index(1) if 1 in tt else n
            if tt != [0] * bs + [1] * (n - bs) + [0] * (seq_len - n):
                fail("token type ids")
            epoch.append((tuple(ids[:n]), bs))
    if collections.Counter(epoch) != collections.Counter((tuple(r), b) for r, b in all_rows):
        fail("the reader's epoch is not a permutation of the stored rows")
    print(f"pyarrow cross-check ok: {len(manifest['shards'])} shards, {len(all_rows)} rows, {total_tokens} tokens")


if __name__ == "__main__":
    main()
