#!/usr/bin/env bash
# ELECTRA-Small pre-training step, electra-train beside PyTorch + HF transformers, same machine, same run.
# Usage: scripts/bench-pretrain.sh [STEPS] [ROUNDS]   (defaults 5 and 1; rounds alternate the two)
# Needs PY_VENV (default target/pyenv) with torch and transformers; installs them there if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
steps="${1:-5}"
rounds="${2:-1}"
if ! py -c "import torch, transformers" 2>/dev/null; then
  pip_install torch transformers
fi
cargo bench -p electra-train --bench pretrain_step --no-run -q
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "$rounds"); do
  echo "-- all cores"
  cargo bench -q -p electra-train --bench pretrain_step -- "$steps" 2>/dev/null
  py scripts/bench/pretrain_step_torch.py "$steps" 2>/dev/null
  # One thread each: the work a step costs, which a busy shared machine distorts least.
  echo "-- one thread"
  RAYON_NUM_THREADS=1 cargo bench -q -p electra-train --bench pretrain_step -- "$steps" 2>/dev/null
  OMP_NUM_THREADS=1 py scripts/bench/pretrain_step_torch.py "$steps" 2>/dev/null
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
