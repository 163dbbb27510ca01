#!/usr/bin/env bash
# Runs in the background (the `.bg` in its name: scripts/test.sh starts it after step 40 and waits for it after the
# last step), beside the steps that leave a core idle (QEMU, pip); its toolchain is installed in step 10.
# Undefined behaviour (issue 17): the core's parser, scalar kernel twins on small shapes and layout/labels parsing
# under Miri, `scripts/reliability/miri.sh --subset` (nightly with miri and rust-src, installed if missing; fails
# if it cannot). The full run is `scripts/reliability/miri.sh`; docs/RELIABILITY.md ("Miri") lists what the subset
# leaves out and why. Measured 2026-12-04 on a loaded 2-core box: 1 min 40 s with target/miri cold (50 s build,
# 39 s of tests) plus 41 s for `cargo miri setup` when ~/.cache/miri is cold; 54 s warm.
set -euo pipefail
source scripts/lib.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
bash scripts/reliability/miri.sh --subset 2>&1 | tee "$log" \
  || die "Miri subset failed: scripts/reliability/miri.sh --subset"
result=$(grep '^test result:' "$log" | tail -n 1)
[ -n "$result" ] || die "Miri subset printed no test result"
echo "miri: ${result#test result: }"
