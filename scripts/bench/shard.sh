#!/usr/bin/env bash
# Sharding throughput end to end (read, tokenize, pack, write Parquet): `electra shard` on 1 thread and
# on all threads, beside HF tokenizers (encode_batch) + ELECTRA's packing in Python + pyarrow on the same
# corpus in the same run. Results: docs/BENCHMARKS.md, "## Sharding".
#
# usage: scripts/bench/shard.sh [COPIES]    corpus = COPIES copies of data/corpus/us-speeches (default 4)
#        PY_VENV=/path/to/venv scripts/bench/shard.sh   to use an env that already has tokenizers + pyarrow
set -euo pipefail
cd "$(dirname "$0")/../.."
export ELECTRA_REPO="$PWD"
source scripts/lib.sh
pip_install tokenizers pyarrow
command -v taskset >/dev/null || die "taskset (util-linux) is needed to pin the 1-thread runs"
cargo build --release -p electra-train --bin electra
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in $(seq 1 "${1:-4}"); do
  mkdir -p "$tmp/corpus/copy$i"
  cp -r data/corpus/us-speeches/. "$tmp/corpus/copy$i/"
done
py scripts/bench/shard_bench.py "$PWD/target/release/electra" "$PY_VENV/bin/python" "$tmp/corpus" data/vocab.txt "$tmp"
