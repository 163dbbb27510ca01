#!/usr/bin/env bash
# ELECTRA-Small (random HF-initialized weights) on the emulated Cortex-M4F at 32 and 128 tokens: proves the full
# model fits (model file in the 16 MiB PSRAM/"QSPI flash", arena and stack in the 4 MiB SRAM) and runs, and prints
# the numbers for docs/BENCHMARKS.md. Run from anywhere: firmware-example/electra-small.sh
# Takes a few minutes (two 15 MB firmware builds per arena setting; the 128-token inference is ~10^10 instructions).
#
#   ARENA_ROWS="2 32" firmware-example/electra-small.sh   # rows per block to size the arena for (default: 2 = minimum)
set -euo pipefail
cd "$(dirname "$0")/.."
export ELECTRA_REPO="$PWD"
source scripts/lib.sh
apt_install qemu-system-arm

# 128 tokens is about 3·10^10 instructions of QEMU work at most; give it room on a loaded machine.
FIRMWARE_TIMEOUT_S=600
out="$ELECTRA_REPO/target/firmware-small"
mkdir -p "$out"
# A paragraph of the bundled corpus, long enough to fill 128 tokens (the firmware truncates to ELECTRA_MAX_SEQ_LEN).
TEXT="$(sed -n 3p data/corpus/us-speeches/inaugural/1789-Washington.txt)"

cargo run -q --release -p electra-train --example random_checkpoint -- \
  --preset small --seed 1 --vocab data/vocab.txt --out "$out/small-checkpoint"
cargo run -q --release -p electra-train --bin electra -- export \
  --model "$out/small-checkpoint" --vocab data/vocab.txt --tokenizer-index --out "$out/electra-small.elq"

for rows in ${ARENA_ROWS:-2}; do
  for tokens in 32 128; do
    log="$out/qemu-T$tokens-R$rows.log"
    (cd firmware-example && ELECTRA_MODEL_FILE="$out/electra-small.elq" ELECTRA_TEXT="$TEXT" \
      ELECTRA_MAX_SEQ_LEN=$tokens ELECTRA_ARENA_ROWS=$rows cargo build -q --release) || die "firmware build failed"
    status=0
    timeout "$FIRMWARE_TIMEOUT_S" qemu-system-arm -M mps2-an386 -cpu cortex-m4 -nographic \
      -semihosting-config enable=on,target=native -icount shift=0 \
      -kernel firmware-example/target/thumbv7em-none-eabihf/release/electra-firmware </dev/null >"$log" 2>&1 || status=$?
    [ "$status" -eq 0 ] || { cat "$log"; die "firmware exited with status $status at $tokens tokens (log: $log)"; }
    grep -q "instructions per inference: [0-9]* ($tokens tokens)" "$log" || die "no $tokens-token inference in $log"
    echo "== ELECTRA-Small, $tokens tokens, arena for $rows rows per block ($log)"
    grep -E '^(model:|tokenizer:|int8 kernel|instructions per|  multiply|flash:|RAM:|  stack)' "$log"
    # Sanity: the int8 logits on the device track float32 on the host (same bar as the int8 accuracy test).
    grep '^RESULT ' "$log" | sed 's/^RESULT //' | python3 -c 'import json,sys; print(json.dumps({"ids": json.load(sys.stdin)["ids"]}))' \
      | cargo run -q --release -p electra-train --bin electra -- infer --model "$out/small-checkpoint" >"$out/float-T$tokens.json"
    python3 - "$log" "$out/float-T$tokens.json" <<'EOF'
import json, math, sys
device = json.loads(next(l for l in open(sys.argv[1]) if l.startswith("RESULT "))[7:])["logits"]
host = json.loads(open(sys.argv[2]).read())["logits"]
n = len(device); ma = sum(device) / n; mb = sum(host) / n
cov = sum((a - ma) * (b - mb) for a, b in zip(device, host))
r = cov / math.sqrt(sum((a - ma) ** 2 for a in device) * sum((b - mb) ** 2 for b in host))
print(f"int8 on the device vs float32 on the host: correlation {r:.6f}, max |difference| "
      f"{max(abs(a - b) for a, b in zip(device, host)):.3g} (largest float logit {max(abs(b) for b in host):.3g})")
sys.exit(0 if r >= 0.999 else f"correlation {r} < 0.999")
EOF
  done
done
