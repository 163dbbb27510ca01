#!/usr/bin/env bash
# ELECTRA-Small (random HF-initialized weights) on the emulated Cortex-M boards at 32 and 128 tokens: proves the full
# model fits each board's memory map (model file in its MODEL region, the stand-in for QSPI/OSPI flash; arena and
# stack in its RAM) and runs, and prints the numbers for docs/BENCHMARKS.md and docs/BOARDS.md. Run from anywhere:
# firmware-example/electra-small.sh. Takes a few minutes per board (two 15 MB firmware builds per arena setting; the
# 128-token inference is about 3.4·10^9 instructions).
#
#   ARENA_ROWS="2 32" firmware-example/electra-small.sh   # rows per block to size the arena for (default: 2 = minimum)
#   BOARDS="mps2-an500 mps3-an547" firmware-example/electra-small.sh   # default: every board
set -euo pipefail
cd "$(dirname "$0")/.."
export ELECTRA_REPO="$PWD"
source scripts/lib.sh
apt_install qemu-system-arm
for board in ${BOARDS:-${FIRMWARE_BOARDS[*]}}; do
  target=$(firmware_board_setting "$board" target)
  rustup target list --installed | grep -qx "$target" || rustup target add "$target" || die "rustup target add $target"
done

# 128 tokens is about 3·10^10 instructions of QEMU work at most; give it room on a loaded machine.
FIRMWARE_TIMEOUT_S=600
out="$ELECTRA_REPO/target/firmware-small"
mkdir -p "$out"
# A paragraph of the bundled corpus, long enough to fill 128 tokens (the firmware truncates to ELECTRA_MAX_SEQ_LEN).
TEXT="$(sed -n 3p data/corpus/us-speeches/inaugural/1789-Washington.txt)"
printf '%s\n' "$TEXT" >"$out/text.txt"

cargo run -q --release -p electra-train --example random_checkpoint -- \
  --preset small --seed 1 --vocab data/vocab.txt --out "$out/small-checkpoint"
cargo run -q --release -p electra-train --bin electra -- export \
  --model "$out/small-checkpoint" --vocab data/vocab.txt --tokenizer-index --out "$out/electra-small.elq"

for board in ${BOARDS:-${FIRMWARE_BOARDS[*]}}; do
for rows in ${ARENA_ROWS:-2}; do
  for tokens in 32 128; do
    log="$out/qemu-$board-T$tokens-R$rows.log"
    # The M4F's logs keep the names they had before there were other boards.
    [ "$board" = mps2-an386 ] && log="$out/qemu-T$tokens-R$rows.log"
    # Build and boot as every firmware step does (scripts/lib.sh; model-files.sh too): fails on a timeout or a
    # non-zero exit. The arena setting reaches the firmware's build script through the environment.
    ELECTRA_ARENA_ROWS=$rows firmware_boot "$board" "$out/electra-small.elq" "$out/text.txt" "$tokens" "$log"
    grep -q "instructions per inference: [0-9]* ($tokens tokens)" "$log" || die "no $tokens-token inference in $log"
    echo "== ELECTRA-Small on $board, $tokens tokens, arena for $rows rows per block ($log)"
    grep -E '^(electra-firmware:|FPU:|memory:|model:|tokenizer:|int8 kernel|instructions per|  multiply|flash:|RAM:|  stack)' \
      "$log"
    # The device's logits are the host's int8 `electra infer` bit for bit on the same ids, and track float32 on the
    # host (same bar as the int8 accuracy test).
    grep '^RESULT ' "$log" | sed 's/^RESULT //' \
      | python3 -c 'import json,sys; print(json.dumps({"ids": json.load(sys.stdin)["ids"]}))' >"$out/ids-$board-T$tokens.json"
    for model in small-checkpoint electra-small.elq; do
      cargo run -q --release -p electra-train --bin electra -- infer --model "$out/$model" \
        <"$out/ids-$board-T$tokens.json" >"$out/host-$model-$board-T$tokens.json"
    done
    python3 - "$log" "$out/host-small-checkpoint-$board-T$tokens.json" "$out/host-electra-small.elq-$board-T$tokens.json" <<'EOF'
import json, math, struct, sys
device = json.loads(next(l for l in open(sys.argv[1]) if l.startswith("RESULT "))[7:])["logits"]
host = json.loads(open(sys.argv[2]).read())["logits"]
host_int8 = json.loads(open(sys.argv[3]).read())["logits"]
bits = lambda xs: [struct.pack("<f", x) for x in xs]
if bits(device) != bits(host_int8):
    sys.exit(f"the device's logits differ from host int8 electra infer's")
print(f"int8 on the device vs int8 on the host: all {len(device)} logits identical")
n = len(device); ma = sum(device) / n; mb = sum(host) / n
cov = sum((a - ma) * (b - mb) for a, b in zip(device, host))
r = cov / math.sqrt(sum((a - ma) ** 2 for a in device) * sum((b - mb) ** 2 for b in host))
print(f"int8 on the device vs float32 on the host: correlation {r:.6f}, max |difference| "
      f"{max(abs(a - b) for a, b in zip(device, host)):.3g} (largest float logit {max(abs(b) for b in host):.3g})")
sys.exit(0 if r >= 0.999 else f"correlation {r} < 0.999")
EOF
  done
done
done
