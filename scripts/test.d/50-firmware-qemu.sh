#!/usr/bin/env bash
# The firmware (firmware-example/) on an emulated Cortex-M4F (QEMU mps2-an386): build it around a small model file,
# boot it with a time limit, and check what it prints against the host:
#   - its on-device tokenization against `electra tokenize` (identical ids),
#   - its int8 logits against `electra infer` on the same model file (identical bits: the int8 engine promises the
#     same result for every kernel twin, Arm DSP on the device and AVX2/VNNI or scalar on the host),
#   - and against float32 `electra infer` on the HF checkpoint the model file was exported from (within the
#     tolerance stated below).
set -euo pipefail
source scripts/lib.sh

apt_install qemu-system-arm
command -v qemu-system-arm >/dev/null || die "qemu-system-arm is not on PATH after installing it"

# A firmware that has not exited by then has hung (or crawls): fail. The tiny model runs in a few seconds.
FIRMWARE_TIMEOUT_S=300
# The sentence the firmware classifies; the host sees the same one.
TEXT="The chef ate the meal, and the guests said it was the best dinner they had ever cooked."

out="$ELECTRA_REPO/target/firmware-test"
mkdir -p "$out"
electra() { cargo run -q --release -p electra-train --bin electra -- "$@"; }

# The test model: ElectraConfig::tiny (full BERT vocab, 2 layers) with HF-initialized random weights, exported to
# an int8 model file with the vocab and its tokenizer index embedded. Seeded, so every run builds the same file.
cargo run -q --release -p electra-train --example random_checkpoint -- \
  --preset tiny --seed 1 --vocab data/vocab.txt --out "$out/tiny-checkpoint"
electra export --model "$out/tiny-checkpoint" --vocab data/vocab.txt --tokenizer-index --out "$out/model.elq"

(cd firmware-example && ELECTRA_MODEL_FILE="$out/model.elq" ELECTRA_TEXT="$TEXT" ELECTRA_MAX_SEQ_LEN=128 \
  cargo build --release) || die "firmware build failed"
elf="firmware-example/target/thumbv7em-none-eabihf/release/electra-firmware"

# The same command line as firmware-example/.cargo/config.toml's runner (see the comments there).
status=0
timeout "$FIRMWARE_TIMEOUT_S" qemu-system-arm -M mps2-an386 -cpu cortex-m4 -nographic \
  -semihosting-config enable=on,target=native -icount shift=0 -kernel "$elf" </dev/null >"$out/qemu.log" 2>&1 \
  || status=$?
cat "$out/qemu.log"
[ "$status" -ne 124 ] || die "firmware did not exit within ${FIRMWARE_TIMEOUT_S} s (log: $out/qemu.log)"
[ "$status" -eq 0 ] || die "firmware exited with status $status (log: $out/qemu.log)"

# What the firmware computed, and the host's answers for the same input.
grep '^RESULT ' "$out/qemu.log" | sed 's/^RESULT //' >"$out/firmware.json"
[ "$(wc -l <"$out/firmware.json")" -eq 1 ] || die "expected one RESULT line in $out/qemu.log"
python3 -c 'import json, sys; print(json.dumps({"text": sys.argv[1]}))' "$TEXT" \
  | electra tokenize --vocab data/vocab.txt >"$out/host-tokens.json"
python3 -c 'import json, sys; print(json.dumps({"ids": json.load(open(sys.argv[1]))["ids"]}))' "$out/firmware.json" \
  >"$out/firmware-ids.json"
electra infer --model "$out/model.elq" --input "$out/firmware-ids.json" >"$out/host-int8.json"
electra infer --model "$out/tiny-checkpoint" --input "$out/firmware-ids.json" >"$out/host-float.json"

python3 - "$out" <<'EOF'
import json, math, struct, sys

out = sys.argv[1]
firmware = json.load(open(f"{out}/firmware.json"))
host_ids = json.loads(open(f"{out}/host-tokens.json").read())["ids"]
float_logits = json.loads(open(f"{out}/host-float.json").read())["logits"]
int8_logits = json.loads(open(f"{out}/host-int8.json").read())["logits"]
ids, logits = firmware["ids"], firmware["logits"]

# Tokenization: [CLS] + the host's ids + [SEP] (101 and 102 in the BERT uncased vocab), truncated like the firmware.
MAX_SEQ_LEN = 128
expected_ids = [101] + host_ids[: MAX_SEQ_LEN - 2] + [102]
if ids != expected_ids:
    sys.exit(f"firmware token ids differ from `electra tokenize`:\n  firmware {ids}\n  host     {expected_ids}")
print(f"tokenization: the firmware's {len(ids)} ids equal the host tokenizer's")

# int8 on the device against int8 on the host: both sides print the shortest decimal that reads back as the same
# f32, so equal f32 bits are equal strings after the round trip.
f32_bits = lambda x: struct.unpack("<I", struct.pack("<f", x))[0]
if len(int8_logits) != len(logits):
    sys.exit(f"{len(logits)} firmware logits, {len(int8_logits)} from host int8 `electra infer`")
differing = [i for i, (a, b) in enumerate(zip(logits, int8_logits)) if f32_bits(a) != f32_bits(b)]
if differing:
    worst = max(abs(logits[i] - int8_logits[i]) for i in differing)
    sys.exit(f"firmware and host int8 logits differ at tokens {differing} (largest difference {worst:.3g})")
print(f"int8 firmware vs int8 host `electra infer`: all {len(logits)} logits identical")

# int8 on the device against float32 on the host. The tolerance: int8 weights (per output row) and int8
# activations (per row, dynamic) each carry a rounding error of at most half a step, 1/254 of the row's range,
# which through two layers stays within a few percent of the logits' scale; 5 % of the largest float logit is that
# with room. The correlation bar is the int8 issue's own for RTD logits (0.999). A wiring or layout mistake moves
# logits by their whole size and decorrelates them, failing both.
MAX_ERROR_FRACTION_OF_SCALE = 0.05
MIN_CORRELATION = 0.999
if len(logits) != len(float_logits):
    sys.exit(f"{len(logits)} firmware logits, {len(float_logits)} from the host")
f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]
logits = [f32(x) for x in logits]
scale = max(abs(x) for x in float_logits)
worst = max(abs(a - b) for a, b in zip(logits, float_logits))
n = len(logits)
ma, mb = sum(logits) / n, sum(float_logits) / n
cov = sum((a - ma) * (b - mb) for a, b in zip(logits, float_logits))
var_a = sum((a - ma) ** 2 for a in logits)
var_b = sum((b - mb) ** 2 for b in float_logits)
correlation = cov / math.sqrt(var_a * var_b) if var_a > 0 and var_b > 0 else float("nan")
print(f"int8 firmware vs float32 host: max |difference| {worst:.3g} (scale {scale:.3g}), correlation {correlation:.6f}")
if not worst <= MAX_ERROR_FRACTION_OF_SCALE * scale:
    sys.exit(f"firmware logits differ from float32 by {worst:.3g} > {MAX_ERROR_FRACTION_OF_SCALE} x {scale:.3g}")
if not correlation >= MIN_CORRELATION:
    sys.exit(f"firmware logits correlate {correlation:.6f} < {MIN_CORRELATION} with float32")
EOF
