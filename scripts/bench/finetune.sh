#!/usr/bin/env bash
# `electra finetune` beside PyTorch + HF transformers (scripts/bench/finetune_torch.py) on the same SST-2 lines, the
# same starting checkpoint and ELECTRA's recipe, batch 32, at 1 and 2 threads, rounds alternating
# (ours 1t, torch 1t, ours 2t, torch 2t; then again); then `electra evaluate` beside scripts/bench/evaluate_hf.py
# on SST-2 dev with the fine-tuned model, all cores, batch 64.
#
# Usage: scripts/bench/finetune.sh MODEL_DIR SST2_DIR [ROUNDS]
#   MODEL_DIR  an HF ELECTRA checkpoint (e.g. from `cargo run --release -p electra-train --example random_checkpoint
#              -- --preset small --seed 1 --vocab data/vocab.txt --out DIR`)
#   SST2_DIR   holds train.tsv and dev.tsv (header `text<TAB>label` or `sentence<TAB>label`)
# Environment: STEPS (default 200), THREADS (default "1 2"), ELECTRA (default target/release/electra),
#   PY (default target/pyenv/bin/python), WORK (default a new temporary directory; every run's output stays there).
#
# Examples/s: the median of the per-step values after the first 5 steps (ours: `examples_per_s` in
# metrics.jsonl; torch: the same span, forward + backward + clip + AdamW, timed in the script). Ours trains one
# epoch on the first STEPS·32 training lines (so 1 epoch = STEPS steps), torch --max-steps STEPS on the same file.
# CPU s/example: user + sys of the whole process (/usr/bin/time -v) over the examples trained, start-up included
# (for both), and, for torch, also the CPU of the timed steps alone (getrusage around each step).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MODEL=$(realpath "${1:?usage: finetune.sh MODEL_DIR SST2_DIR [ROUNDS]}")
DATA=$(realpath "${2:?usage: finetune.sh MODEL_DIR SST2_DIR [ROUNDS]}")
ROUNDS=${3:-2}
STEPS=${STEPS:-200}
THREADS=${THREADS:-1 2}
ELECTRA=$(realpath "${ELECTRA:-$ROOT/target/release/electra}")
PY=${PY:-$ROOT/target/pyenv/bin/python}
WORK=${WORK:-$(mktemp -d /tmp/finetune-bench.XXXXXX)}
BATCH=32
SKIP=5
mkdir -p "$WORK"
[ -x /usr/bin/time ] || { apt-get install -y time >/dev/null; }

TRAIN="$WORK/train-$STEPS.tsv"
head -n $((STEPS * BATCH + 1)) "$DATA/train.tsv" > "$TRAIN"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "electra: $ELECTRA ($(git -C "$ROOT" rev-parse --short HEAD)); torch: $("$PY" -c 'import torch, transformers; print(torch.__version__, "transformers", transformers.__version__)')"
echo "train: $TRAIN ($((STEPS * BATCH)) lines, $STEPS steps of $BATCH); work: $WORK"

# time_field FILE "User time" -> the value (the line's last field)
time_field() { grep -F "$2" "$1" | awk '{print $NF}'; }
cpu_s() { echo "$(time_field "$1" 'User time') + $(time_field "$1" 'System time')" | bc -l; }
rss_mib() { echo "$(time_field "$1" 'Maximum resident set size') / 1024" | bc -l; }

RESULTS="$WORK/results.tsv"
printf 'round\timpl\tthreads\tex_per_s_median\tex_per_s_mean\tcpu_s_per_ex_process\tcpu_s_per_ex_steps\tpeak_rss_mib\tload\n' > "$RESULTS"

run_ours() { # round threads
  local out="$WORK/ours-r$1-t$2"
  rm -rf "$out"
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  RAYON_NUM_THREADS=$2 /usr/bin/time -v -o "$out.time" "$ELECTRA" finetune --model "$MODEL" --task sst2 \
    --train "$TRAIN" --out "$out" --epochs 1 --batch $BATCH --seed 1 --quiet > "$out.log"
  "$PY" - "$out/metrics.jsonl" "$SKIP" > "$out.speed" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"examples_per_s"' in l]
skip = int(sys.argv[2])
timed = rows[skip:]
secs = sum(32 / r["examples_per_s"] for r in timed)
print(f'{statistics.median(r["examples_per_s"] for r in timed):.2f}\t{32 * len(timed) / secs:.2f}')
EOF
  local cpu rss; cpu=$(cpu_s "$out.time"); rss=$(rss_mib "$out.time")
  printf '%s\tours\t%s\t%s\t%.4f\t-\t%.0f\t%s\n' "$1" "$2" "$(cat "$out.speed")" \
    "$(echo "$cpu / ($STEPS * $BATCH)" | bc -l)" "$rss" "$load" | tee -a "$RESULTS"
}

run_torch() { # round threads
  local out="$WORK/torch-r$1-t$2"
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  OMP_NUM_THREADS=$2 MKL_NUM_THREADS=$2 /usr/bin/time -v -o "$out.time" "$PY" "$ROOT/scripts/bench/finetune_torch.py" \
    --train "$TRAIN" --model "$MODEL" --epochs 1 --max-steps "$STEPS" --batch $BATCH --threads "$2" --seed 1 \
    --skip $SKIP --out-json "$out.json" > "$out.log" 2>&1
  local cpu rss; cpu=$(cpu_s "$out.time"); rss=$(rss_mib "$out.time")
  "$PY" - "$out.json" "$cpu" "$rss" "$1" "$2" "$STEPS" "$BATCH" "$load" <<'EOF' | tee -a "$RESULTS"
import json, sys
r = json.load(open(sys.argv[1]))
cpu, rss, rnd, threads, steps, batch, load = sys.argv[2:]
print(f'{rnd}\ttorch\t{threads}\t{r["examples_per_s_median"]:.2f}\t{r["examples_per_s_mean"]:.2f}\t'
      f'{float(cpu) / (int(steps) * int(batch)):.4f}\t{r["cpu_s_per_example"]:.4f}\t{float(rss):.0f}\t{load}')
EOF
}

for round in $(seq 1 "$ROUNDS"); do
  for t in $THREADS; do
    run_ours "$round" "$t"
    run_torch "$round" "$t"
  done
done

echo
echo "medians over $ROUNDS rounds (examples/s: median of per-step values after step $SKIP, then median over rounds)"
"$PY" - "$RESULTS" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
def med(impl, t, key):
    v = [float(r[key]) for r in rows if r["impl"] == impl and r["threads"] == t and r[key] != "-"]
    return statistics.median(v) if v else float("nan")
print("| threads | ours ex/s (median step) | torch ex/s | ratio | ours ex/s (mean) | torch (mean) | ratio | "
      "ours CPU s/ex | torch CPU s/ex (process; steps) | ours peak RSS MiB | torch MiB |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for t in sorted({r["threads"] for r in rows}):
    o, p = med("ours", t, "ex_per_s_median"), med("torch", t, "ex_per_s_median")
    om, pm = med("ours", t, "ex_per_s_mean"), med("torch", t, "ex_per_s_mean")
    print(f"| {t} | {o:.1f} | {p:.1f} | {o / p:.2f}x | {om:.1f} | {pm:.1f} | {om / pm:.2f}x | "
          f"{med('ours', t, 'cpu_s_per_ex_process'):.4f} | {med('torch', t, 'cpu_s_per_ex_process'):.4f}; "
          f"{med('torch', t, 'cpu_s_per_ex_steps'):.4f} | {med('ours', t, 'peak_rss_mib'):.0f} | "
          f"{med('torch', t, 'peak_rss_mib'):.0f} |")
EOF

# Inference on SST-2 dev with the model ours fine-tuned in the last round, all cores, batch 64.
echo
FT_MODEL="$WORK/ours-r$ROUNDS-t$(echo $THREADS | awk '{print $NF}')/model"
# evaluate_round NAME ROUND COMMAND...: COMMAND under /usr/bin/time -v, its JSON to $WORK/eval-NAME-rROUND.json and its
# stderr to .log, then one line: the examples, the script's own seconds, examples/s and accuracy, the process's wall
# and CPU. NAME is `ours` (`electra evaluate --json`) or `hf` (evaluate_hf.py), whose JSON fields differ.
evaluate_round() {
  local name=$1 round=$2 base
  shift 2
  base="$WORK/eval-$name-r$round"
  /usr/bin/time -v -o "$base.time" "$@" > "$base.json" 2> "$base.log"
  "$PY" - "$name" "$base.json" "$(time_field "$base.time" 'Elapsed (wall clock) time')" "$(cpu_s "$base.time")" <<'EOF'
import json, sys
name, r = sys.argv[1], json.load(open(sys.argv[2]))
if name == "ours":
    label = "ours"
    what = (f'{r["seconds"]:.2f} s read+tokenize+forward ({r["examples"] / r["seconds"]:.0f} examples/s), '
            f'accuracy {r["metrics"]["accuracy"]:.4f}')
else:
    label = "HF"
    what = (f'{r["seconds"]:.2f} s tokenize+forward ({r["examples_per_s"]:.0f} examples/s; forward alone '
            f'{r["forward_seconds"]:.2f} s), accuracy {r["accuracy"]:.4f}')
print(f'evaluate {label:<6}round: {r["examples"]} examples, {what}; process wall {sys.argv[3]}, CPU {float(sys.argv[4]):.1f} s')
EOF
}
for round in $(seq 1 "$ROUNDS"); do
  evaluate_round ours "$round" "$ELECTRA" evaluate --model "$FT_MODEL" --dev "$DATA/dev.tsv" --batch 64 --json
  evaluate_round hf "$round" "$PY" "$ROOT/scripts/bench/evaluate_hf.py" --model "$FT_MODEL" --data "$DATA/dev.tsv" \
    --batch 64
done
echo "all outputs: $WORK"
