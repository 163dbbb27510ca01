#!/usr/bin/env bash
# Shards written by `electra shard` read the same in pyarrow as in the project's reader: ids, segment
# offsets, footer metadata, manifest checksums and totals; the reader's epoch is a permutation of them.
set -euo pipefail
source scripts/lib.sh
pip_install pyarrow
py -c "import pyarrow" || die "pyarrow is not importable after pip install"
build_host
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
target/release/electra shard --corpus data/corpus/us-speeches/inaugural --vocab data/vocab.txt \
  --out "$tmp/shards" --seq-len 128 --shards 2 --quiet
target/release/examples/dump_shards "$tmp/shards" data/vocab.txt 128 > "$tmp/rows.json"
py scripts/py/pyarrow_check_shards.py "$tmp/shards" data/vocab.txt 128 "$tmp/rows.json"
