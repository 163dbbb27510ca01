#!/usr/bin/env bash
# Given model files (e.g. one fine-tuned ELECTRA-Small classifier exported as int8, int4, pruned, ...) on the emulated
# Cortex-M boards: for each file, board and token count, builds the firmware around the file, boots it in QEMU,
# checks that the device's token ids are the host tokenizer's and its logits the host's `electra infer --model FILE`
# bit for bit (fails loudly otherwise), and ends with one table of the instructions per inference and the memory
# each configuration takes: the M4 columns of docs/BENCHMARKS.md's "Model size" table. Run from anywhere:
#
#   firmware-example/model-files.sh /tmp/a4/final/*.elq            # mps2-an386 (Cortex-M4F), 128 tokens
#   TOKENS="32 128" BOARDS="mps2-an386 mps2-an500" firmware-example/model-files.sh int8.elq int4-g128.elq
#   TEXT="a fine film" firmware-example/model-files.sh int8.elq     # another sentence (default: a corpus paragraph)
#
# Each file needs the vocab and the tokenizer index (`electra export --vocab ... --tokenizer-index`). The arena is
# the firmware's default, sized for the minimum 2 rows per block (as electra-small.sh by default). Each run is one
# firmware build (the file goes into the board's 16 MiB MODEL region) and one inference: ELECTRA-Small at 128 tokens on
# the M4F is 1.8·10^9 (int8) to 9.4·10^9 (int4, groups of 32) instructions, 18-38 s a run with the build on a loaded
# 2-core machine. Logs: target/firmware-model-files/.
set -euo pipefail

# The files as the caller named them, made absolute before leaving the caller's directory (the firmware's build
# script reads ELECTRA_MODEL_FILE from the board's crate directory).
[ $# -gt 0 ] || { echo "usage: $0 FILE.elq..." >&2; exit 2; }
files=()
for file in "$@"; do
  [ -f "$file" ] || { echo "error: no model file $file" >&2; exit 1; }
  files+=("$(realpath "$file")")
done

cd "$(dirname "$0")/.."
export ELECTRA_REPO="$PWD"
# An ELECTRA-Small inference at 128 tokens takes QEMU minutes on a loaded machine; lib.sh's default (300 s) is for
# the tiny test models. Set before sourcing so that lib.sh keeps it; the environment may still override it.
FIRMWARE_TIMEOUT_S="${FIRMWARE_TIMEOUT_S:-600}"
source scripts/lib.sh

BOARDS="${BOARDS:-mps2-an386}"
TOKENS="${TOKENS:-128}"
# A paragraph of the bundled corpus, 390 tokens, long enough to fill 128 (the firmware truncates to
# ELECTRA_MAX_SEQ_LEN); the same text electra-small.sh runs.
TEXT="${TEXT:-$(sed -n 3p data/corpus/us-speeches/inaugural/1789-Washington.txt)}"
[ -n "$TEXT" ] || die "TEXT is empty"
# The arena stays the firmware's default (the minimum rows per block), whatever the caller's environment says.
unset ELECTRA_ARENA_ROWS

apt_install qemu-system-arm
command -v qemu-system-arm >/dev/null || die "qemu-system-arm is not on PATH after installing it"
# The host `electra` that firmware_check runs, built (or checked up to date) once, before the first firmware build.
build_host

out="$ELECTRA_REPO/target/firmware-model-files"
mkdir -p "$out"
rows=()    # one tab-separated row per run, for the table at the end
lines=()   # the flash and RAM lines the firmware printed, per run
n=0
for file in "${files[@]}"; do
  n=$((n + 1))
  name=$(basename "$file")
  bytes=$(stat -c %s "$file")
  for board in $BOARDS; do
    for tokens in $TOKENS; do
      # One directory per run (numbered: two files may share a name), holding what firmware_boot and
      # firmware_check write: the sentence, the QEMU log, the ids and the host's logits.
      dir="$out/$n-${name%.elq}-$board-T$tokens"
      rm -rf "$dir"
      mkdir -p "$dir"
      printf '%s\n' "$TEXT" >"$dir/texts.txt"
      banner "$name ($bytes bytes) on $board, $tokens tokens"
      start=$SECONDS
      # Build the firmware around the file for this sentence and token count, boot it under the board's runner
      # (fails on a timeout or a non-zero exit), then check its ids and logits against the host, bit for bit.
      firmware_boot "$board" "$file" "$dir/texts.txt" "$tokens" "$dir/qemu.log"
      firmware_check "$dir" "$dir/texts.txt" "$tokens" "$file"
      wall=$((SECONDS - start))

      # The numbers for the table, each required: a firmware that printed no such line is a failure here.
      log="$dir/qemu.log"
      read -r instructions ran < <(sed -n 's/^instructions per inference: \([0-9]*\) (\([0-9]*\) tokens)$/\1 \2/p' "$log") \
        || die "no 'instructions per inference' line in $log"
      arena=$(sed -n 's/^RAM: arena \([0-9]*\) bytes.*/\1/p' "$log")
      flash=$(grep '^flash: ' "$log") || die "no 'flash:' line in $log"
      ram=$(grep '^RAM: ' "$log") || die "no 'RAM:' line in $log"
      stack=$(grep '^  stack high-water mark: ' "$log") || die "no stack high-water mark in $log"
      [ -n "$arena" ] || die "no arena size in $log"
      # A classifier's verdict (the same on every configuration of one model, if quantization kept it).
      verdict=$(sed -n 's/^  => //p' "$log" | head -n 1)
      rows+=("$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$name" "$bytes" "$board" "$ran" "$instructions" "$arena" \
        "${verdict:--}" "$wall")")
      lines+=("$name, $board, $ran tokens:" "  $flash" "  $ram" "$stack")
    done
  done
done

# The table: one row per file, board and token count (every one checked bit for bit against the host above).
banner "Model files on the emulated boards: logits equal to host electra infer bit for bit in every run"
format='%-28s %10s  %-11s %6s %14s %12s  %-17s %6s\n'
# shellcheck disable=SC2059 # the format is the fixed string above
printf "$format" file "file bytes" board tokens "instr/infer" "arena bytes" verdict "wall s"
for row in "${rows[@]}"; do
  IFS=$'\t' read -r -a cells <<<"$row"
  # shellcheck disable=SC2059
  printf "$format" "${cells[@]}"
done
echo
echo "wall s: the firmware build, the boot and the host check together. The firmware's memory lines:"
printf '%s\n' "${lines[@]}"
