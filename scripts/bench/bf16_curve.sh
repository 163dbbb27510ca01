#!/usr/bin/env bash
# Loss curves of data-parallel pre-training with float32 and with bf16 gradients on the wire (--grad-precision), the
# same run otherwise: the 4-layer mini ELECTRA on the bundled speeches, one thread a rank.
# Usage: [STEPS=300] [NP=2] [BATCH=16] scripts/bench/bf16_curve.sh OUT_DIR    (needs `electra` built with --features mpi)
#   NP     ranks; more ranks than cores runs oversubscribed (unbound): for the curve, not for timings
#   BATCH  sequences a step on each rank (the step's whole batch is NP × BATCH)
# Writes OUT_DIR/{f32,bf16}/metrics.jsonl; docs/DISTRIBUTED.md ("bf16 gradients on the wire") compares them.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
w=${1:?usage: scripts/bench/bf16_curve.sh OUT_DIR}
np=${NP:-2}
mkdir -p "$w"
electra=target/release/electra
[ -x "$electra" ] || die "build first: cargo build --release -p electra-train --features mpi"
# One rank a core where the cores suffice; beyond that OpenMPI must be told to oversubscribe.
if [ "$np" -le "$(nproc)" ]; then placement=(--bind-to core); else placement=(--oversubscribe --bind-to none); fi
"$electra" shard --corpus data/corpus/us-speeches --vocab data/vocab.txt --out "$w/shards" --shards 2 --quiet >/dev/null
for precision in f32 bf16; do
  # --allow-run-as-root: OpenMPI refuses root (containers) without it.
  RAYON_NUM_THREADS=1 mpirun --allow-run-as-root "${placement[@]}" -np "$np" -x RAYON_NUM_THREADS "$electra" pretrain \
    --data "$w/shards" --model-size scripts/bench/mini-electra.json --batch "${BATCH:-16}" --steps "${STEPS:-300}" \
    --lr 1e-3 --warmup 30 --bias-correction --save-every 0 --seed 1 --grad-precision "$precision" --quiet \
    --out "$w/$precision" >"$w/$precision.log" 2>&1
  echo "$precision: $w/$precision/metrics.jsonl"
done
