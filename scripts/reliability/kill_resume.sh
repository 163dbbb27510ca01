#!/usr/bin/env bash
# kill -9 at random moments of every long job (issue 17, "hard stops"):
#   scripts/reliability/kill_resume.sh [TRIALS] [JOB...]      TRIALS defaults to 20; JOBs: shard pretrain finetune export
# For each job, on tiny bundled data (the inaugural speeches, the tiny model size, 200 movie reviews):
#  1. one uninterrupted run: the reference, and its wall time T;
#  2. TRIALS times: the same run on a fresh output, SIGKILLed after a random delay in [0, 1.2 T] (seeded by
#     KILL_SEED, printed, so a failing trial can be replayed); right after the kill, nothing under a final name may be
#     half-written (check_outputs.py visible); then the run is continued as a user would: `--resume` where the job has
#     it and a checkpoint exists, else the first command again (shard and export are re-run, they skip or redo
#     their work); the continued run must end with exactly the reference's files, byte for byte (metrics logs but
#     for their timing fields; check_outputs.py same).
# Prints one line per trial and "JOB: x/TRIALS identical" per job; exits non-zero if any trial was not identical.
# The delay is drawn over the whole run, so some trials kill during start-up and a few (those over T) find the job
# finished: they still check the re-run leaves the output as it was.
set -euo pipefail
cd "$(dirname "$0")/../.."
export ELECTRA_REPO="$PWD"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

TRIALS=${1:-20}
shift || true
JOBS=("$@")
[ ${#JOBS[@]} -gt 0 ] || JOBS=(shard pretrain finetune export)
KILL_SEED=${KILL_SEED:-$(date +%s)}
echo "kill_resume: $TRIALS trials per job (${JOBS[*]}), KILL_SEED=$KILL_SEED"
RANDOM=$KILL_SEED
# The kill window: 1.2 × the reference's time, so the last moments of the run (the final save, the plot) are hit too.
WINDOW_PERCENT=120
# shellcheck source=scripts/reliability/jobs.sh
source scripts/reliability/jobs.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/kill-resume.XXXXXX")
trap 'rm -rf "$work"' EXIT
make_inputs "$work/inputs"
now_ms() { date +%s%3N; }

failures=0
summary=()
for job in "${JOBS[@]}"; do
  dir="$work/$job"
  mkdir -p "$dir"
  ref="$dir/reference"
  [ "$job" = export ] && ref="$dir/reference.elq"
  start=$(now_ms)
  (job_fresh "$job" "$ref") >"$dir/reference.log" 2>&1 || { cat "$dir/reference.log"; die "$job: the uninterrupted run failed"; }
  took=$(($(now_ms) - start))
  window=$((took * WINDOW_PERCENT / 100 + 1))
  echo "$job: uninterrupted run ${took} ms; kills within ${window} ms"
  identical=0
  for trial in $(seq 1 "$TRIALS"); do
    out="$dir/trial-$trial"
    [ "$job" = export ] && out="$dir/trial-$trial.elq"
    # RANDOM is 15 bits: two draws make the delay uniform enough over windows of up to ~10^9 ms.
    delay=$(((RANDOM * 32768 + RANDOM) % window))
    job_fresh "$job" "$out" >"$dir/trial-$trial.log" 2>&1 &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    state=killed
    kill -9 "$pid" 2>/dev/null || state=finished
    wait "$pid" 2>/dev/null || true
    verdict=identical
    if ! python3 "$check" visible "$job" "$out" "$ref"; then
      verdict="half-written file visible after the kill"
    elif ! job_continue "$job" "$out" >>"$dir/trial-$trial.log" 2>&1; then
      verdict="the continued run failed: $(grep -m1 -i error "$dir/trial-$trial.log" || tail -n1 "$dir/trial-$trial.log")"
    elif ! python3 "$check" same "$job" "$ref" "$out"; then
      verdict="ends unlike the uninterrupted run"
    fi
    echo "  $job trial $trial: kill at ${delay} ms ($state): $verdict"
    if [ "$verdict" = identical ]; then
      identical=$((identical + 1))
      rm -rf "$out" "$dir/trial-$trial.log"
    else
      failures=$((failures + 1))
      cp -r "$out" "$dir/trial-$trial.log" "${KILL_KEEP:-/tmp}/" 2>/dev/null || true
    fi
  done
  summary+=("$job: $identical/$TRIALS identical")
done
echo
printf '%s\n' "${summary[@]}"
[ "$failures" -eq 0 ] || die "$failures trial(s) did not end identical to the uninterrupted run (KILL_SEED=$KILL_SEED; outputs and logs copied to ${KILL_KEEP:-/tmp})"
