"""The Python alternative to `electra shard`, for the benchmark in docs/BENCHMARKS.md: HF tokenizers
(`encode_batch`, Rust, multi-threaded) + ELECTRA's packing (its ExampleBuilder, in Python, as in
build_pretraining_dataset.py) + pyarrow writing the same Parquet layout (list<uint32> ids, uint32
segment-B offset, zstd level 3, 4096-row row groups).

usage: shard_hf.py CORPUS_DIR VOCAB_TXT OUT_DIR SEQ_LEN
Prints one JSON line: input bytes, seconds per stage, text tokens and [UNK] count (which must equal
`electra shard`'s: sentence splits fall on whitespace, which does not change WordPiece ids).
Threads: RAYON_NUM_THREADS (HF tokenizers' pool).
"""
import json
import os
import random
import re
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
from tokenizers import BertWordPieceTokenizer

# The same sentence rule as electra_pipeline::packing::split_sentences (ASCII approximation of "uppercase").
SENTENCE_END = re.compile(r"(?<=[.!?])([\"')\]\u201d\u2019\u00bb]*)[ \t\n\r\f\v]+(?=[A-Z0-9\"'(\[\u201c\u2018\u00ab])")


def sentences(line):
    parts = SENTENCE_END.split(line)
    # split() interleaves the captured closers: glue each back onto the sentence before it.
    out = [parts[0]]
    for i in range(1, len(parts), 2):
        out[-1] += parts[i]
        out.append(parts[i + 1])
    return out


def documents(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        doc = []
        for line in f:
            line = line.strip()
            if line:
                doc.append(line)
            elif doc:
                yield doc
                doc = []
        if doc:
            yield doc


class ExampleBuilder:
    """ELECTRA's ExampleBuilder over ids (with the same two changes as the Rust recipe)."""

    def __init__(self, max_length, cls, sep):
        self.max_length, self.target_length, self.cls, self.sep = max_length, max_length, cls, sep
        self.sentences, self.length = [], 0
        self.ids, self.b_start = [], []

    def add(self, ids):
        if not ids:
            return
        if len(ids) > (self.max_length - 3) // 2:
            piece = max(1, (self.max_length - 3) // 4)
            for i in range(0, len(ids), piece):
                self._add(ids[i:i + piece])
        else:
            self._add(ids)

    def _add(self, ids):
        self.sentences.append(ids)
        self.length += len(ids)
        if self.length >= self.target_length:
            self.create()

    def end_document(self):
        if self.length:
            self.create()

    def create(self):
        target = 100000 if random.random() < 0.1 else (self.target_length - 3) // 2
        first, second = [], []
        for s in self.sentences:
            if not second and (not first or len(first) + len(s) < target or (len(first) < target and random.random() < 0.5)):
                first += s
            else:
                second += s
        first = first[:self.max_length - 2]
        second = second[:max(0, self.max_length - len(first) - 3)]
        ids = [self.cls] + first + [self.sep]
        b = len(ids)
        if second:
            ids += second + [self.sep]
        self.ids.append(ids)
        self.b_start.append(b)
        self.sentences, self.length = [], 0
        self.target_length = random.randint(5, self.max_length) if random.random() < 0.05 else self.max_length


def main():
    corpus, vocab, out_dir, seq_len = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    os.makedirs(out_dir, exist_ok=True)
    tok = BertWordPieceTokenizer(vocab, lowercase=True)
    cls, sep, unk = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]"), tok.token_to_id("[UNK]")
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(corpus) for f in fs if f.endswith(".txt"))
    random.seed(12345)
    t_read = t_encode = t_pack = t_write = 0.0
    in_bytes = text_tokens = unk_tokens = rows = 0
    builder = ExampleBuilder(seq_len, cls, sep)
    start = time.perf_counter()
    for path in files:
        t0 = time.perf_counter()
        in_bytes += os.path.getsize(path)
        docs = [[s for line in d for s in sentences(line)] for d in documents(path)]
        flat = [s for d in docs for s in d]
        t1 = time.perf_counter()
        encoded = [e.ids for e in tok.encode_batch(flat, add_special_tokens=False)]
        t2 = time.perf_counter()
        k = 0
        for d in docs:
            for _ in d:
                ids = encoded[k]
                k += 1
                text_tokens += len(ids)
                unk_tokens += ids.count(unk)
                builder.add(ids)
            builder.end_document()
        t3 = time.perf_counter()
        t_read += t1 - t0
        t_encode += t2 - t1
        t_pack += t3 - t2
    t0 = time.perf_counter()
    table = pa.table({
        "input_ids": pa.array(builder.ids, type=pa.list_(pa.field("item", pa.uint32(), nullable=False))),
        "segment_b_start": pa.array(builder.b_start, type=pa.uint32()),
    })
    rows = table.num_rows
    pq.write_table(table, os.path.join(out_dir, "shard-00000-of-00001.parquet"), compression="zstd",
                   compression_level=3, row_group_size=4096)
    t_write = time.perf_counter() - t0
    total = time.perf_counter() - start
    print(json.dumps({
        "input_bytes": in_bytes, "seconds": total, "read_split": t_read, "encode_batch": t_encode,
        "pack": t_pack, "write": t_write, "rows": rows, "text_tokens": text_tokens, "unk_tokens": unk_tokens,
    }))


if __name__ == "__main__":
    main()
