#!/usr/bin/env bash
# Line and region coverage of the project's own code under each fuzz target's corpus (issue 17):
#   scripts/reliability/coverage.sh TARGET...
# Replays the committed seeds, the regression inputs and the working corpus a campaign grew
# (fuzz/target/corpus/TARGET, see fuzz.sh) through a build instrumented for source-based coverage
# (`cargo fuzz coverage`), then reports with llvm-cov over core/, pipeline/ and train-host/ sources only
# (dependencies, the standard library and the harness left out). Writes fuzz/coverage/TARGET/report.txt
# (per file) and prints each target's TOTAL line. Needs nightly with llvm-tools (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { echo "usage: $0 TARGET..." >&2; exit 2; }
rustup component list --toolchain nightly --installed | grep -q '^llvm-tools' \
  || rustup component add llvm-tools-preview --toolchain nightly \
  || { echo "coverage.sh: cannot install llvm-tools on nightly" >&2; exit 1; }
host=$(rustc -vV | sed -n 's/^host: //p')
llvm_cov="$(rustc +nightly --print sysroot)/lib/rustlib/$host/bin/llvm-cov"
[ -x "$llvm_cov" ] || { echo "coverage.sh: no llvm-cov at $llvm_cov" >&2; exit 1; }
for target in "$@"; do
  [ -f "fuzz/fuzz_targets/$target.rs" ] || { echo "no fuzz target $target (fuzz/fuzz_targets/)" >&2; exit 2; }
  corpora=("corpus/$target")
  [ -d "fuzz/regressions/$target" ] && corpora+=("regressions/$target")
  [ -d "fuzz/target/corpus/$target" ] && corpora+=("target/corpus/$target")
  # No sanitizer, as fuzz.sh builds; the profile of every input is merged into coverage.profdata.
  (cd fuzz && cargo +nightly fuzz coverage -s none "$target" "${corpora[@]}" >"target/coverage-$target.log" 2>&1) \
    || { tail -n 20 "fuzz/target/coverage-$target.log" >&2; exit 1; }
  bin="fuzz/target/$host/coverage/$host/release/$target"
  profile="fuzz/coverage/$target/coverage.profdata"
  inputs=$(find "${corpora[@]/#/fuzz/}" -type f | wc -l)
  # Only this repository's crates: a path under core/, pipeline/ or train-host/ (not fuzz/, not ~/.cargo).
  "$llvm_cov" report "$bin" -instr-profile="$profile" \
    --ignore-filename-regex='(/\.cargo/|/rustc/|/fuzz/|/\.rustup/|/tests/)' >"fuzz/coverage/$target/report.txt"
  # The files the target reaches (any line covered) are the parser it fuzzes and what that calls; their lines
  # covered, file by file and summed, say how much of that code the corpus drives (the TOTAL line counts the
  # whole workspace, most of which a single parser never calls).
  echo "== $target: $inputs inputs; files reached (lines covered / lines):"
  # (llvm-cov names files relative to their common prefix: `core/src/x.rs`, or `x.rs` when all are in core/src.)
  awk 'NR > 2 && $1 != "TOTAL" && $1 !~ /^-/ && NF >= 10 && $10 != "0.00%" {
         printf "   %-48s %6d / %6d  %s\n", $1, $8 - $9, $8, $10; covered += $8 - $9; lines += $8
       }
       END { printf "   %-48s %6d / %6d  %.2f%%\n", "reached files together", covered, lines, 100 * covered / lines }' \
    "fuzz/coverage/$target/report.txt"
done
