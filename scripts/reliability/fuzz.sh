#!/usr/bin/env bash
# Fuzz one target for a while and keep what it finds (issue 17):
#   scripts/reliability/fuzz.sh TARGET SECONDS [LIBFUZZER_ARGS...]
# TARGETs (fuzz/fuzz_targets/, each a function of fuzz/harness.rs): model_file wordpiece hf_checkpoint shard_reader
# infer_line task_reader. Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# libFuzzer starts from the committed seeds (fuzz/corpus/TARGET) and every regression input (fuzz/regressions/TARGET)
# and grows a working corpus in fuzz/target/corpus/TARGET, so fuzz/corpus/ stays small and reviewed. A crash, leak,
# timeout or out-of-memory input lands in fuzz/artifacts/TARGET/; once its bug is fixed, copy it into
# fuzz/regressions/TARGET/, which the test command replays on stable (train-host/tests/fuzz_corpus.rs).
# Prints libFuzzer's last stats line (executions, coverage) and the artifacts found.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { echo "usage: $0 TARGET SECONDS [LIBFUZZER_ARGS...]" >&2; exit 2; }
target=$1
seconds=$2
shift 2
[ -f "fuzz/fuzz_targets/$target.rs" ] || { echo "no fuzz target $target (fuzz/fuzz_targets/)" >&2; exit 2; }
# Memory per process: above what the largest input the harness runs needs (its arena cap is 64 MiB), far below
# the machine; an input that needs more is an out-of-memory finding. Per input: a second is already 10^4 times the
# median execution time of these targets, so a slower input is a hang finding.
RSS_LIMIT_MB=${RSS_LIMIT_MB:-2048}
TIMEOUT_S=${TIMEOUT_S:-10}
# Sanitizer: none by default. The code under test is safe Rust (bounds and overflow checks on: cargo-fuzz builds
# with debug assertions), and ASan triples the build time on a 2-core machine; FUZZ_SANITIZER=address when wanted.
SANITIZER=${FUZZ_SANITIZER:-none}
work="fuzz/target/corpus/$target"
mkdir -p "$work" "fuzz/artifacts/$target"
seeds=("fuzz/corpus/$target")
[ -d "fuzz/regressions/$target" ] && seeds+=("fuzz/regressions/$target")
log="fuzz/target/$target.log"
# Built with cargo-fuzz, then the libFuzzer binary run directly (what `cargo fuzz run` does), so that
# FUZZ_NO_BUILD=1 can fuzz the last build while the tree does not compile.
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
  (cd fuzz && cargo +nightly fuzz build -s "$SANITIZER" "$target")
fi
bin="fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release/$target"
[ -x "$bin" ] || { echo "$bin not built (cd fuzz && cargo +nightly fuzz build)" >&2; exit 1; }
set +e
"$bin" -artifact_prefix="fuzz/artifacts/$target/" -max_total_time="$seconds" -rss_limit_mb="$RSS_LIMIT_MB" \
  -timeout="$TIMEOUT_S" -print_final_stats=1 "$@" "$work" "${seeds[@]}" >"$log" 2>&1
status=$?
set -e
grep -E "^#[0-9]+.*(DONE|pulse|NEW|REDUCE)" "$log" | tail -n 1 || true
grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$log" || true
found=$(find "fuzz/artifacts/$target" -type f | wc -l)
echo "$target: $seconds s, exit status $status, artifacts in fuzz/artifacts/$target: $found (log: $log)"
[ "$status" -eq 0 ] || { grep -m5 -E "panicked|ERROR|SUMMARY" "$log" >&2 || true; exit 1; }
