#!/usr/bin/env bash
# "Learning like HF" (issue 13): `electra finetune` and PyTorch + HF transformers (scripts/bench/finetune_torch.py,
# ELECTRA's recipe with ELECTRA's optimizer, --no-bias-correction) from the same starting checkpoints, on the same
# task files, for several seeds; then a markdown table of the final (best-epoch) dev metrics.
#
# usage: learning_grid.sh START_DIR_PRETRAINED START_DIR_RANDOM GLUE_DIR CONLL_DIR OUT [SEEDS]
#   START_DIR_*  HF ELECTRA checkpoint directories, or a pre-training run's --out (resolved as `electra finetune`
#                does: checkpoint-latest/discriminator, discriminator, model, the directory itself); the random
#                start is e.g. `target/release/examples/random_checkpoint --preset CONFIG --seed 1 ...`
#   GLUE_DIR     holds SST-2/{train,dev}.tsv and MRPC/{train,dev}.tsv as distributed
#   CONLL_DIR    holds CoNLL-2000's train.txt and test.txt (test serves as dev: CoNLL-2000 has no dev set)
#   OUT          results: OUT/results/IMPL-TASK-START-sSEED.json (one per run; a run whose file exists is skipped,
#                so an interrupted grid resumes; an interrupted `electra finetune` continues with --resume),
#                OUT/results.jsonl (all of them, rebuilt at the end), OUT/table.md, OUT/runs/ (run directories and
#                logs)
#   SEEDS        default "1 2 3"
# environment:
#   SST2_TRAIN   SST-2 training file [default: GLUE_DIR/SST-2/train.tsv] (e.g. a random sample of it)
#   TASKS        subset of "sst2 mrpc conll2000" [default: all three]
#   IMPLS        subset of "ours torch" [default: both]
#   STARTS       subset of "pretrained random" [default: both] (e.g. "random" where no pre-trained checkpoint of
#                this size exists; START_DIR_PRETRAINED is then still checked but not run)
#   EPOCHS       epochs for both programs [default: the recipe's, 3]
#   TRAIN_LIMIT  only the first N training examples (rows; sentences for CoNLL) of each task, for a quick check
#   ELECTRA, PY  the binary [target/release/electra] and the Python with torch + transformers + seqeval
#                [target/pyenv/bin/python]
# Each program runs on one thread (RAYON_NUM_THREADS=1; --threads 1). The settings are saved in OUT/grid.env and a
# rerun with different settings into the same OUT is refused, so that results of different grids never mix.
set -uo pipefail

if [ $# -lt 5 ] || [ $# -gt 6 ]; then
  sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PRE_IN=$1 RAND_IN=$2 GLUE=$3 CONLL=$4 OUT=$5
SEEDS=${6:-"1 2 3"}
ELECTRA=${ELECTRA:-$ROOT/target/release/electra}
PY=${PY:-$ROOT/target/pyenv/bin/python}
SST2_TRAIN=${SST2_TRAIN:-$GLUE/SST-2/train.tsv}
TASKS=${TASKS:-"sst2 mrpc conll2000"}
IMPLS=${IMPLS:-"ours torch"}
STARTS=${STARTS:-"pretrained random"}
EPOCHS=${EPOCHS:-}
TRAIN_LIMIT=${TRAIN_LIMIT:-}

die() { echo "learning_grid.sh: $*" >&2; exit 1; }

# The checkpoint directory `electra finetune --model DIR` would use (train-host/src/finetune/task_model.rs
# resolve_start), so that torch starts from the same weights.
resolve_start() {
  local c
  for c in "$1/checkpoint-latest/discriminator" "$1/discriminator" "$1/model" "$1"; do
    if [ -f "$c/config.json" ]; then (cd "$c" && pwd); return 0; fi
  done
  return 1
}

PRE=$(resolve_start "$PRE_IN") || die "$PRE_IN: no config.json there nor in checkpoint-latest/discriminator/"
RAND=$(resolve_start "$RAND_IN") || die "$RAND_IN: no config.json there nor in checkpoint-latest/discriminator/"
[ -x "$ELECTRA" ] || die "$ELECTRA: not found (cargo build --release -p electra-train --bin electra)"
[ -x "$PY" ] || die "$PY: not found"
for t in $TASKS; do
  case $t in
    sst2) need=("$SST2_TRAIN" "$GLUE/SST-2/dev.tsv") ;;
    mrpc) need=("$GLUE/MRPC/train.tsv" "$GLUE/MRPC/dev.tsv") ;;
    conll2000) need=("$CONLL/train.txt" "$CONLL/test.txt") ;;
    *) die "unknown task $t (sst2, mrpc, conll2000)" ;;
  esac
  for f in "${need[@]}"; do [ -f "$f" ] || die "$f: not found"; done
done
for i in $IMPLS; do case $i in ours|torch) ;; *) die "unknown IMPLS entry $i (ours, torch)" ;; esac; done
for s in $STARTS; do case $s in pretrained|random) ;; *) die "unknown STARTS entry $s (pretrained, random)" ;; esac; done
if [[ " $TASKS " == *" conll2000 "* && " $IMPLS " == *" torch "* ]]; then
  "$PY" -c "import seqeval" 2>/dev/null || die "$PY has no seqeval (pip install seqeval)"
fi

mkdir -p "$OUT/results" "$OUT/runs" "$OUT/data" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
settings="PRE=$PRE
RAND=$RAND
SST2_TRAIN=$(cd "$(dirname "$SST2_TRAIN")" && pwd)/$(basename "$SST2_TRAIN")
GLUE=$(cd "$GLUE" && pwd)
CONLL=$(cd "$CONLL" && pwd)
EPOCHS=$EPOCHS
TRAIN_LIMIT=$TRAIN_LIMIT"
if [ -f "$OUT/grid.env" ]; then
  [ "$(cat "$OUT/grid.env")" = "$settings" ] || die "$OUT holds a grid with other settings (see $OUT/grid.env; \
this run: $(echo "$settings" | tr '\n' ' ')): use another OUT"
else
  echo "$settings" > "$OUT/grid.env"
fi

# The first $TRAIN_LIMIT examples of a task file: TSV rows after the header, CoNLL sentences.
limited() { # task file
  local out
  if [ -z "$TRAIN_LIMIT" ]; then echo "$2"; return 0; fi
  case $1 in
    conll2000)
      out="$OUT/data/$1-train-first$TRAIN_LIMIT.txt"
      [ -f "$out" ] || { awk -v n="$TRAIN_LIMIT" '/^[ \t\r]*$/ { if (seen) { k++; seen = 0; if (k >= n) exit }
        print; next } { seen = 1; print }' "$2" > "$out.tmp" && mv "$out.tmp" "$out"; } ;;
    *)
      out="$OUT/data/$1-train-first$TRAIN_LIMIT.tsv"
      [ -f "$out" ] || { head -n $((TRAIN_LIMIT + 1)) "$2" > "$out.tmp" && mv "$out.tmp" "$out"; } ;;
  esac
  echo "$out"
}

task_files() { # task -> TRAIN DEV OURS_TASK, tab-separated
  case $1 in
    sst2) printf '%s\t%s\t%s\n' "$(limited sst2 "$SST2_TRAIN")" "$GLUE/SST-2/dev.tsv" sst2 ;;
    mrpc) printf '%s\t%s\t%s\n' "$(limited mrpc "$GLUE/MRPC/train.tsv")" "$GLUE/MRPC/dev.tsv" mrpc ;;
    conll2000) printf '%s\t%s\t%s\n' "$(limited conll2000 "$CONLL/train.txt")" "$CONLL/test.txt" tagging ;;
  esac
}

# One run of ours: `electra finetune` (resumed if an earlier attempt left a checkpoint), then its
# checkpoint-latest/trainer_state.json (every dev evaluation, and the step of the kept model) as a result file.
run_ours() { # task start_name start_dir seed result
  local task=$1 sname=$2 start=$3 seed=$4 result=$5
  local train dev otask dir log t0
  IFS=$'\t' read -r train dev otask <<< "$(task_files "$task")"
  dir="$OUT/runs/ours-$task-$sname-s$seed"
  log="$dir.log"
  t0=$(date +%s.%N)
  if [ -e "$dir/checkpoint-latest" ] || [ -e "$dir/checkpoint-latest.old" ]; then
    echo "  resuming $dir" >&2
    RAYON_NUM_THREADS=1 "$ELECTRA" finetune --resume --out "$dir" >> "$log" 2>&1 || return 1
  else
    RAYON_NUM_THREADS=1 "$ELECTRA" finetune --model "$start" --task "$otask" --train "$train" --dev "$dev" \
      --out "$dir" --seed "$seed" ${EPOCHS:+--epochs "$EPOCHS"} > "$log" 2>&1 || return 1
  fi
  "$PY" - "$dir/checkpoint-latest/trainer_state.json" "$result" "$task" "$sname" "$seed" "$t0" "$train" <<'EOF'
import json, os, sys, time
state_path, result, task, start, seed, t0, train = sys.argv[1:]
state = json.load(open(state_path))
evals = [{"step": e["step"], "epoch": e["epoch"], **dict(e["metrics"])} for e in state["evals"]]
best = next((e for e in evals if e["step"] == state["best_step"]), None)
headline = state["evals"][0]["headline"] if state["evals"] else None
r = {"impl": "ours", "task": task, "start": start, "seed": int(seed), "train": train, "headline": headline,
     "best": best, "evals": evals, "steps": state["step"], "train_s": state["seconds"],
     "wall_s": time.time() - float(t0), "lr": state["spec"]["hyper"]["lr"], "labels": state["meta"]["labels"]}
if best is None:
    sys.exit(f"{state_path}: no kept model (no dev evaluation?)")
tmp = result + ".tmp"
open(tmp, "w").write(json.dumps(r) + "\n")
os.replace(tmp, result)
EOF
}

run_torch() { # task start_name start_dir seed result
  local task=$1 sname=$2 start=$3 seed=$4 result=$5
  local train dev otask dir t0
  IFS=$'\t' read -r train dev otask <<< "$(task_files "$task")"
  dir="$OUT/runs/torch-$task-$sname-s$seed"
  t0=$(date +%s.%N)
  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "$PY" "$ROOT/scripts/bench/finetune_torch.py" --task "$task" \
    --train "$train" --dev "$dev" --model "$start" --vocab "$start/vocab.txt" --threads 1 --seed "$seed" \
    --no-bias-correction ${EPOCHS:+--epochs "$EPOCHS"} --out-json "$dir.json" > "$dir.log" 2>&1 || return 1
  "$PY" - "$dir.json" "$result" "$sname" "$t0" "$train" <<'EOF'
import json, os, sys, time
raw, result, start, t0, train = sys.argv[1:]
r = json.load(open(raw))
r.update(impl="torch", impl_version=r["impl"], start=start, train=train, wall_s=time.time() - float(t0))
if r.get("best") is None:
    sys.exit(f"{raw}: no best epoch (no dev evaluation?)")
tmp = result + ".tmp"
open(tmp, "w").write(json.dumps(r) + "\n")
os.replace(tmp, result)
EOF
}

failures=0
for task in $TASKS; do
  for sname in $STARTS; do
    if [ "$sname" = pretrained ]; then start=$PRE; else start=$RAND; fi
    for seed in $SEEDS; do
      for impl in $IMPLS; do
        result="$OUT/results/$impl-$task-$sname-s$seed.json"
        if [ -f "$result" ]; then
          echo "skip $impl $task $sname seed $seed (done: $result)" >&2
          continue
        fi
        echo "$(date -u +%H:%M:%S) $impl $task $sname seed $seed" >&2
        if ! "run_$impl" "$task" "$sname" "$start" "$seed" "$result"; then
          echo "FAILED: $impl $task $sname seed $seed (log: $OUT/runs/$impl-$task-$sname-s$seed.log)" >&2
          failures=$((failures + 1))
        fi
      done
    done
  done
done

# results.jsonl and the table, from every result file there is.
"$PY" - "$OUT" <<'EOF' | tee "$OUT/table.md"
import glob, json, math, os, statistics, sys
out = sys.argv[1]
rows = [json.loads(open(f).read()) for f in sorted(glob.glob(os.path.join(out, "results", "*.json")))]
with open(os.path.join(out, "results.jsonl.tmp"), "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
os.replace(os.path.join(out, "results.jsonl.tmp"), os.path.join(out, "results.jsonl"))
TASKS = ["sst2", "mrpc", "conll2000"]
STARTS = ["pretrained", "random"]
NAMES = {"sst2": "SST-2 (accuracy)", "mrpc": "MRPC (F1; accuracy)", "conll2000": "CoNLL-2000 (span F1)"}
by = {(r["task"], r["start"], r["seed"], r["impl"]): r for r in rows}

def value(r):
    return 100 * r["best"][r["headline"]]

def cell(r):
    if r is None:
        return "—"
    s = f"{value(r):.2f}"
    if r["task"] == "mrpc":
        s += f"; {100 * r['best']['accuracy']:.2f}"
    return f"{s} (ep {round(r['best']['epoch'])})"

def mean_std(rs):
    v = [value(r) for r in rs]
    if not v:
        return "—"
    if len(v) == 1:
        return f"{v[0]:.2f} (n=1)"
    return f"{statistics.mean(v):.2f} ± {statistics.stdev(v):.2f} (n={len(v)})"

print("Best-epoch dev metric (×100; the best epoch in brackets); mean ± sample std over seeds per group.\n")
print("| task | start | seed | electra finetune | PyTorch + HF |")
print("|---|---|---|---|---|")
for t in TASKS:
    for s in STARTS:
        seeds = sorted({k[2] for k in by if k[0] == t and k[1] == s})
        if not seeds:
            continue
        for seed in seeds:
            print(f"| {NAMES[t]} | {s} | {seed} | {cell(by.get((t, s, seed, 'ours')))} | "
                  f"{cell(by.get((t, s, seed, 'torch')))} |")
        ours = [by[k] for k in by if k[:2] == (t, s) and k[3] == "ours"]
        torch = [by[k] for k in by if k[:2] == (t, s) and k[3] == "torch"]
        print(f"| {NAMES[t]} | {s} | **mean ± std** | **{mean_std(ours)}** | **{mean_std(torch)}** |")
EOF
if [ "$failures" -gt 0 ]; then
  echo "learning_grid.sh: $failures run(s) failed; rerun the same command to retry them" >&2
  exit 1
fi
