#!/usr/bin/env bash
# int8 ELECTRA-Small on the host: electra-edge's int8 engine beside ONNX Runtime's quantize_dynamic of the same
# model, on this machine, in this run, interleaved round by round so both see the same machine load.
#
#   PY_VENV=/path/to/venv scripts/bench/int8_vs_ort.sh [ITERS] [ROUNDS]
#
# The venv needs torch, transformers, onnx, onnxruntime (`pip install torch transformers onnx onnxruntime`).
# Prints one line per measurement: engine, tokens, threads, median ms, min ms, CPU ms per inference (all threads;
# on a shared machine the wall clock also counts waiting for a core). Then ORT's dynamic int8 accuracy on the HF
# tiny fixtures (ours: `cargo test --release -p electra-train --test int8_fixtures -- --nocapture`).
set -euo pipefail
cd "$(dirname "$0")/../.."
export ELECTRA_REPO="$PWD"
source scripts/lib.sh
ITERS="${1:-200}"
ROUNDS="${2:-3}"
work="$ELECTRA_REPO/target/bench-int8"
mkdir -p "$work"

cargo build -q --release -p electra-train --bin electra --example int8_bench
[ -f "$work/small/model.safetensors" ] || py scripts/bench/int8_vs_ort.py make-small "$work/small"
target/release/electra export --model "$work/small" --out "$work/small.elq" --vocab data/vocab.txt
[ -f "$work/onnx/model.int8.onnx" ] || py scripts/bench/int8_vs_ort.py onnx "$work/small" "$work/onnx" 2>/dev/null
ls -l "$work/small.elq" "$work/onnx/model.int8.onnx"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "engine tokens threads median_ms min_ms cpu_ms"
for round in $(seq "$ROUNDS"); do
  for threads in 1 2; do
    for seq in 128 32; do
      echo "electra-edge $(target/release/examples/int8_bench "$work/small.elq" "$seq" "$ITERS" "$threads")"
      echo "onnxruntime $(py scripts/bench/int8_vs_ort.py time "$work/onnx/model.int8.onnx" "$seq" "$ITERS" "$threads")"
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "ONNX Runtime dynamic int8 on the HF tiny fixtures (correlation with HF's float64 logits):"
py scripts/bench/int8_vs_ort.py fixtures "$ELECTRA_REPO/fixtures/hf-electra-tiny" "$work/fixtures" 2>/dev/null | tail -1
