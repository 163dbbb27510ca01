#!/usr/bin/env bash
# Float inference speed: ELECTRA-Small (random weights, HF init) at batch 1×128 and 8×128, electra-edge
# beside PyTorch (HF transformers) and ONNX Runtime fp32, same machine, same run, all cores.
# Usage: scripts/bench/float_infer.sh [ITERS] [ROUNDS]   (PY_VENV=... to reuse a Python env with torch etc.)
# The three implementations take turns for ROUNDS rounds of ITERS timed runs each, so a burst of load on
# a shared machine hits all of them; the table reports the median of the per-round medians and the minimum.
# Prints a markdown table for docs/BENCHMARKS.md; raw JSON lines go to target/bench/float_infer/results.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
export ELECTRA_REPO="$PWD"
source scripts/lib.sh
ITERS="${1:-20}"
ROUNDS="${2:-3}"
OUT=target/bench/float_infer
mkdir -p "$OUT"

if ! py -c "import torch, transformers, onnxruntime, onnx, onnxscript" 2>/dev/null; then
  pip_install_torch transformers onnxruntime onnx onnxscript safetensors
fi
cargo build --release -p electra-train --bin electra
ELECTRA=target/release/electra

[ -f "$OUT/model/hf/model.safetensors" ] && [ -f "$OUT/model/model.onnx" ] || py scripts/bench/float_infer.py make "$OUT/model"

{
  echo "# $(date -u +%FT%TZ) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
  # Correctness first: the benchmarked Rust model must give PyTorch's logits.
  "$ELECTRA" infer --model "$OUT/model/hf" --input "$OUT/model/check.jsonl" --out "$OUT/check-ours.jsonl"
  py scripts/bench/float_infer.py check "$OUT/model" "$OUT/check-ours.jsonl"
  # All cores: each implementation's own threading (rayon + gemm for electra-edge).
  for round in $(seq "$ROUNDS"); do
    py scripts/bench/float_infer.py time "$OUT/model" 1 8 --seq-len 128 --iters "$ITERS"
    "$ELECTRA" bench-infer --model "$OUT/model/hf" --batch 1 --batch 8 --seq-len 128 --iters "$ITERS"
  done
  # One thread each: process CPU time per batch is then a load-independent cost measure.
  for round in $(seq "$ROUNDS"); do
    py scripts/bench/float_infer.py time "$OUT/model" 1 8 --seq-len 128 --iters "$ITERS" --threads 1
    RAYON_NUM_THREADS=1 MATMUL_NUM_THREADS=1 "$ELECTRA" bench-infer --model "$OUT/model/hf" --batch 1 --batch 8 \
      --seq-len 128 --iters "$ITERS"
  done
  RAYON_NUM_THREADS=1 MATMUL_NUM_THREADS=1 "$ELECTRA" bench-infer --model "$OUT/model/hf" --seq-len 128 \
    --iters "$ITERS" --gemm-shapes
} | tee "$OUT/results.jsonl"
echo
py scripts/bench/float_infer.py table "$OUT/results.jsonl"
