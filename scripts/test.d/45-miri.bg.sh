#!/usr/bin/env bash
# Runs in the background (the `.bg` in its name: scripts/test.sh starts it after step 40 and waits for it after the
# last step), beside the steps that leave a core idle (QEMU, pip); its toolchain is installed in step 10.
# Undefined behaviour (issue 17): the core's parser, scalar kernel twins on small shapes and layout/labels parsing,
# then 11 of the model-file integration tests, under Miri: `scripts/reliability/miri.sh --subset` (nightly with miri
# and rust-src, installed if missing; fails if it cannot). The full run is `scripts/reliability/miri.sh`;
# docs/RELIABILITY.md ("Miri") lists what the subset leaves out and why. Measured 2026-12-05 on a 2-core box with a
# load average of 6: 4 min 5 s with target/miri cold (49 s build, 39 s of unit tests, 2 min 30 s for the model-file
# tests), plus 41 s for `cargo miri setup` when ~/.cache/miri is cold (measured 2026-12-04); 5 min 45 s warm at a
# load average of 8.6 (the model-file tests' 157 s of Miri's clock took 4 min 36 s).
set -euo pipefail
source scripts/lib.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
bash scripts/reliability/miri.sh --subset 2>&1 | tee "$log" \
  || die "Miri subset failed: scripts/reliability/miri.sh --subset"
# Two runs, two results: the unit tests, then the model-file integration tests.
mapfile -t results < <(grep '^test result:' "$log" | sed 's/^test result: //')
[ "${#results[@]}" -eq 2 ] || die "Miri subset printed ${#results[@]} test results, expected 2 (unit tests, model_file)"
echo "miri: unit tests: ${results[0]}"
echo "miri: model_file: ${results[1]}"
