#!/usr/bin/env bash
# ELECTRA-Small pre-training step, electra-train beside PyTorch + HF transformers, same machine, same run.
# Usage: [CORES=0,1] scripts/bench-pretrain.sh [STEPS] [ROUNDS]   (defaults 6 and 1; rounds alternate the two)
# CORES pins both programs to those CPUs (taskset), e.g. CORES=0,1 measures a 2-core machine on a bigger idle one;
# each runs with as many threads as it is given cores, then with one thread.
# Needs PY_VENV (default target/pyenv) with torch and transformers; installs them there if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
steps="${1:-6}"
rounds="${2:-1}"
if ! py -c "import torch, transformers" 2>/dev/null; then
  pip_install_torch transformers
fi
cargo bench -p electra-train --bench pretrain_step --no-run -q
bench=$(cargo bench -p electra-train --bench pretrain_step --no-run --message-format=json -q 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*pretrain_step[^"]*\)".*/\1/p' | tail -1)
[ -x "$bench" ] || die "could not find the pretrain_step bench binary"
pin=()
threads=$(nproc)
if [ -n "${CORES:-}" ]; then
  pin=(taskset -c "$CORES")
  threads=$("${pin[@]}" nproc)
fi
first_core=$(echo "${CORES:-0}" | cut -d, -f1 | cut -d- -f1)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "pinned to: ${CORES:-all cores} ($threads threads)"
for _ in $(seq "$rounds"); do
  echo "-- $threads threads"
  RAYON_NUM_THREADS=$threads "${pin[@]}" "$bench" "$steps" 2>/dev/null
  OMP_NUM_THREADS=$threads "${pin[@]}" "$PY_VENV/bin/python" scripts/bench/pretrain_step_torch.py "$steps" 2>/dev/null
  # One thread each: the work a step costs, which a busy shared machine distorts least.
  echo "-- one thread"
  RAYON_NUM_THREADS=1 taskset -c "$first_core" "$bench" "$steps" 2>/dev/null
  OMP_NUM_THREADS=1 taskset -c "$first_core" "$PY_VENV/bin/python" scripts/bench/pretrain_step_torch.py "$steps" 2>/dev/null
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
