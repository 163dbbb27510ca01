#!/usr/bin/env bash
# ELECTRA-Small pre-training step, electra-train beside PyTorch + HF transformers, same machine, same run.
# Usage: [CORES=0,1] scripts/bench-pretrain.sh [STEPS] [ROUNDS]   (defaults 6 and 1; rounds alternate the programs)
# CORES pins every program to those CPUs (taskset), e.g. CORES=0,1 measures a 2-core machine on a bigger idle one;
# each runs with as many threads as it is given cores, then with one thread.
#
# Rows: electra-train (benches/pretrain_step.rs); PyTorch with the generator's MLM head on the masked positions
# only, as ELECTRA's code gathers them (the strongest reference); PyTorch with HF's ElectraForMaskedLM head on all
# 128 positions. First the f32 FMA peak of the cores (examples/fma_peak.rs), then every row's products as a
# fraction of it: tokens/s × the step's MFLOP a token (objective::flops, the gathered step's count, printed by
# the bench) ÷ (peak a thread × threads). Ends with the medians over the rounds and the ratios against PyTorch.
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
cargo build --release -q -p electra-train --example fma_peak
peak_bin=target/release/examples/fma_peak
pin=()
threads=$(nproc)
if [ -n "${CORES:-}" ]; then
  pin=(taskset -c "$CORES")
  threads=$("${pin[@]}" nproc)
fi
first_core=$(echo "${CORES:-0}" | cut -d, -f1 | cut -d- -f1)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "pinned to: ${CORES:-all cores} ($threads threads)"
"${pin[@]}" "$peak_bin" "$threads"
# Peak a thread with every thread busy (the clock may drop when all cores run vector code), and on one thread.
peak_all=$("${pin[@]}" "$peak_bin" "$threads" | sed -n 's/.* at once (\([0-9.]*\) a thread.*/\1/p')
peak_one=$(taskset -c "$first_core" "$peak_bin" 1 | sed -n 's/^fma peak: \([0-9.]*\) GFLOP\/s on 1 thread.*/\1/p')
[ -n "$peak_one" ] || die "fma_peak printed no peak"
[ -n "$peak_all" ] || peak_all=$peak_one # one thread: no "at once" line

results=$(mktemp)
trap 'rm -f "$results"' EXIT
# row ROUND THREADS NAME TOKENS_PER_S: appends to the results
row() { printf '%s\t%s\t%s\t%s\n' "$@" >> "$results"; }
tokens_of() { sed -n 's/.*: \([0-9]*\) tokens\/s.*/\1/p'; }

run_all() { # round threads
  local round=$1 n=$2 run=("${pin[@]}") out
  [ "$n" = 1 ] && run=(taskset -c "$first_core")
  out=$(RAYON_NUM_THREADS=$n "${run[@]}" "$bench" "$steps" 2>/dev/null)
  echo "$out"
  mflop=$(echo "$out" | sed -n 's/.*(\([0-9.]*\) MFLOP a token).*/\1/p')
  row "$round" "$n" electra-train "$(echo "$out" | tokens_of)"
  for head in gathered full; do
    out=$(OMP_NUM_THREADS=$n "${run[@]}" "$PY_VENV/bin/python" scripts/bench/pretrain_step_torch.py "$steps" \
      --head "$head" 2>/dev/null)
    echo "$out"
    row "$round" "$n" "pytorch-$head" "$(echo "$out" | tokens_of)"
  done
}

for round in $(seq "$rounds"); do
  echo "-- round $round: $threads threads"
  run_all "$round" "$threads"
  # One thread each: the work a step costs, which a busy shared machine distorts least.
  echo "-- round $round: one thread"
  run_all "$round" 1
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

py - "$results" "$mflop" "$peak_all" "$peak_one" "$threads" <<'EOF'
import statistics, sys
from collections import defaultdict
path, mflop, peak_all, peak_one, threads = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
runs = defaultdict(list)
for line in open(path):
    _, n, name, tps = line.split("\t")
    runs[(int(n), name)].append(float(tps))
print(f"\nmedians over the rounds; products {mflop:.2f} MFLOP a token (the gathered step); FMA peak "
      f"{peak_one:.1f} GFLOP/s on 1 thread, {peak_all:.1f} a thread with {threads} busy")
for n in sorted({n for n, _ in runs}, reverse=True):
    peak = (peak_all if n > 1 else peak_one) * n
    ours = statistics.median(runs[(n, "electra-train")])
    for name in ("electra-train", "pytorch-gathered", "pytorch-full"):
        tps = statistics.median(runs[(n, name)])
        per_round = ", ".join(f"{t:.0f}" for t in runs[(n, name)])
        ratio = "" if name == "electra-train" else f"; electra-train {ours / tps:.2f}x"
        print(f"{n} thread(s) {name:<17} {tps:6.0f} tokens/s, {tps * mflop / 1e3 / peak * 100:4.1f}% of the FMA peak"
              f"{ratio} (rounds: {per_round})")
EOF
