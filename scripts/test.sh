#!/usr/bin/env bash
# The one test command (README, .ci/run). Installs what is missing, then runs every step in
# scripts/test.d/ in name order. A step that needs a tool it cannot install fails loudly; none is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export ELECTRA_REPO="$PWD"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

# Fail in seconds, not after ten minutes of building, when the disk cannot hold the run: cargo's release target
# (about 4.2 GiB) plus, unless the venv already has it, torch with its CUDA wheels for step 60 (8.4 GiB at the peak
# of its install, measured with df); 14 GiB leaves about 1.4 GiB to spare.
if py -c "import torch" 2>/dev/null; then
  require_free_disk 5 "$ELECTRA_REPO/target" "the test run (cargo builds)"
else
  require_free_disk 14 "$ELECTRA_REPO/target" "the test run (cargo builds, then torch for the HF cross-check)"
fi

start=$SECONDS
passed=0
failed=0
# A step named NN-name.bg.sh starts in the background at its turn (its output into target/test-logs/) and is waited
# for after the last step: it runs beside the steps that leave a core idle (QEMU, pip). Its result counts the same.
background=()
for step in scripts/test.d/*.sh; do
  name=$(basename "$step" .sh)
  if [[ $name == *.bg ]]; then
    mkdir -p target/test-logs
    echo "=== $name: started in the background (target/test-logs/$name.log) ==="
    bash "$step" >"target/test-logs/$name.log" 2>&1 &
    background+=("$name:$!:$SECONDS")
    continue
  fi
  banner "$name"
  step_start=$SECONDS
  if bash "$step"; then
    passed=$((passed + 1))
    echo "--- step $name ok ($((SECONDS - step_start)) s)"
  else
    failed=$((failed + 1))
    echo "--- step $name FAILED ($((SECONDS - step_start)) s)" >&2
    # Later steps may depend on this one; stop here so the first failure is the one reported.
    break
  fi
done
for entry in "${background[@]}"; do
  IFS=: read -r name pid step_start <<<"$entry"
  if [ "$failed" -gt 0 ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    continue
  fi
  banner "$name (background)"
  if wait "$pid"; then
    cat "target/test-logs/$name.log"
    passed=$((passed + 1))
    echo "--- step $name ok ($((SECONDS - step_start)) s since it started)"
  else
    cat "target/test-logs/$name.log" >&2
    failed=$((failed + 1))
    echo "--- step $name FAILED ($((SECONDS - step_start)) s since it started)" >&2
  fi
done
echo
echo "test steps: $((SECONDS - start)) s in all"
echo "steps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
