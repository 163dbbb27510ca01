#!/usr/bin/env bash
# Data-parallel scaling of ELECTRA-Small pre-training over MPI on one machine: tokens/s and the gradient
# allreduce's time per step (train-host/examples/data_parallel.rs prints both: the wait the step sees, and the
# time the reduction was in flight, hidden behind the backward pass or not), one rank per core. Every multi-rank
# row runs twice in the same session: overlapped (the default) and with one blocking allreduce after the backward
# pass (ELECTRA_GRAD_OVERLAP=0, the previous design).
#
#   scripts/bench/mpi_scaling.sh [STEPS] [RANKS...]      (defaults: 6 steps; 1 2, then every power of 2 ≤ cores)
#
# First a 2-core machine (taskset 0,1): 1 rank × 1 thread, 2 ranks × 1 thread, and 1 rank × 2 threads for
# comparison, global batch 8 × 128; then strong scaling over all cores at global batch 16 × 128.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
apt_install libopenmpi-dev openmpi-bin libclang-dev
steps="${1:-6}"
shift || true
# The host's one feature set (scripts/lib.sh) includes MPI: nothing to rebuild after the test command's step 30.
build_host
bin=$HOST_RELEASE/examples/data_parallel
[ -x "$bin" ] || die "$bin was not built by build_host"
mpi=(mpirun --allow-run-as-root --oversubscribe -x ELECTRA_GRAD_OVERLAP)
run() { "$@" --model small --seq-len 128 --steps "$steps" 2>&1 | grep '^summary' || die "run failed: $*"; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== 2 cores (taskset -c 0,1), global batch 8 × 128"
echo "[1 rank × 1 thread] $(RAYON_NUM_THREADS=1 run taskset -c 0,1 "${mpi[@]}" --bind-to none -np 1 "$bin" train --global-batch 8)"
for overlap in 1 0; do
  echo "[2 ranks × 1 thread, overlap $overlap] $(ELECTRA_GRAD_OVERLAP=$overlap RAYON_NUM_THREADS=1 run taskset -c 0,1 "${mpi[@]}" --bind-to none -np 2 "$bin" train --global-batch 8)"
done
echo "[1 rank × 2 threads] $(RAYON_NUM_THREADS=2 run taskset -c 0,1 "${mpi[@]}" --bind-to none -np 1 "$bin" train --global-batch 8)"
ranks=("$@")
if [ ${#ranks[@]} -eq 0 ]; then
  n=1
  while [ "$n" -le "$(nproc)" ]; do ranks+=("$n"); n=$((n * 2)); done
fi
echo "== one rank per core, global batch 16 × 128"
for np in "${ranks[@]}"; do
  for overlap in 1 0; do
    [ "$np" -eq 1 ] && [ "$overlap" -eq 0 ] && continue
    echo "[$np rank(s), overlap $overlap] $(ELECTRA_GRAD_OVERLAP=$overlap RAYON_NUM_THREADS=1 run "${mpi[@]}" --bind-to core -np "$np" "$bin" train --global-batch 16)"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
