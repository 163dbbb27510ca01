#!/usr/bin/env bash
# The firmware (firmware-example/) on every emulated Cortex-M board: the Cortex-M4F (QEMU mps2-an386), M7
# (mps2-an500), M33 (mps2-an505) and M55 (mps3-an547). Build each around the same small model file and sentence, boot
# it with a time limit, and check what it prints against the host (scripts/py/compare_firmware.py):
#   - its on-device tokenization against `electra tokenize` (identical ids),
#   - its int8 logits against `electra infer` on the same model file (identical bits: the int8 engine promises the
#     same result for every kernel twin and every FPU, Arm DSP on each board and AVX2/VNNI or scalar on the host),
#   - and against float32 `electra infer` on the HF checkpoint the model file was exported from (within the
#     tolerance stated in compare_firmware.py).
# The fine-tuned classifiers on the device: 55-firmware-classifier.sh (on the M4F).
# Cost: one firmware build per board, about a minute each on two cores when the board's core crates are not built
# yet (its own target-cpu), 30-40 s otherwise (fat LTO of the whole program around the new model); the boots take
# seconds.
set -euo pipefail
source scripts/lib.sh

apt_install qemu-system-arm
command -v qemu-system-arm >/dev/null || die "qemu-system-arm is not on PATH after installing it"

out="$ELECTRA_REPO/target/firmware-test"
mkdir -p "$out"
# The sentence the firmware classifies (one, so it goes in ELECTRA_TEXT); the host sees the same one.
echo "The chef ate the meal, and the guests said it was the best dinner they had ever cooked." >"$out/texts.txt"

# The test model: ElectraConfig::tiny (full BERT vocab, 2 layers) with HF-initialized random weights, exported to
# an int8 model file with the vocab and its tokenizer index embedded. Seeded, so every run builds the same file.
electra_example random_checkpoint \
  --preset tiny --seed 1 --vocab data/vocab.txt --out "$out/tiny-checkpoint"
electra_bin export --model "$out/tiny-checkpoint" --vocab data/vocab.txt --tokenizer-index --out "$out/model.elq"

for board in "${FIRMWARE_BOARDS[@]}"; do
  banner "firmware on $board"
  mkdir -p "$out/$board"
  firmware_boot "$board" "$out/model.elq" "$out/texts.txt" 128 "$out/$board/qemu.log"
  firmware_check "$out/$board" "$out/texts.txt" 128 "$out/model.elq" "$out/tiny-checkpoint"
done
echo "firmware: ${#FIRMWARE_BOARDS[@]} boards (${FIRMWARE_BOARDS[*]}), logits identical to the host's on each"
