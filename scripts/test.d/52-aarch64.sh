#!/usr/bin/env bash
# 64-bit Arm Linux (aarch64-unknown-linux-gnu) under qemu-aarch64 (user mode), on three emulated CPUs:
#   cortex-a72  (Raspberry Pi 4: NEON only)  must pick the aarch64-neon  int8 twin,
#   cortex-a76  (Raspberry Pi 5: + dotprod)  must pick the aarch64-sdot  twin,
#   max         (every feature qemu has, i8mm included) must pick the aarch64-smmla twin.
# On each: the core's kernel harness (every twin the CPU runs against the scalar one, bit for bit) and tokenizer
# tests, then the int8 engine on a model file (core/examples/int8_infer.rs, `electra infer` reduced to the core),
# whose output lines must equal the x86 host's `electra infer` on the same file and ids, byte for byte (the same
# text is the same f32 bits). A CPU that picks another twin than the one named fails the step (the tests and the
# example both check ELECTRA_EXPECT_KERNEL), so a run that fell back to plain NEON everywhere cannot pass.
# The linker and runner come from the environment here, not from a .cargo/config.toml that would touch host builds.
# The whole `electra` CLI also cross-compiles (README, "Raspberry Pi class boards") and its `electra infer` gives the
# same lines under qemu-aarch64; it is not built here: arrow, parquet, plotters and the rest for a second target took
# about 73 minutes of wall time on the shared 2-core machine (load 9-10), against about 3 for the core alone.
set -euo pipefail
source scripts/lib.sh

target=aarch64-unknown-linux-gnu
sysroot=/usr/aarch64-linux-gnu
apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
for tool in aarch64-linux-gnu-gcc qemu-aarch64; do
  command -v "$tool" >/dev/null || die "$tool is not on PATH after installing it"
done
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target" || die "rustup target add $target failed"
fi
[ -d "$sysroot/lib" ] || die "$sysroot/lib is missing (libc6-dev-arm64-cross): qemu-aarch64 -L needs it"

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar

# A test binary that hangs under emulation fails the step instead of holding CI (release runs take seconds).
QEMU_TIMEOUT_S="${QEMU_TIMEOUT_S:-600}"

out="$ELECTRA_REPO/target/aarch64-test"
mkdir -p "$out"

# The model: ElectraConfig::tiny with HF-initialized random weights (seeded: the same file every run), exported
# to int8, as in step 50.
electra_example random_checkpoint \
  --preset tiny --seed 1 --vocab data/vocab.txt --out "$out/tiny-checkpoint"
electra_bin export --model "$out/tiny-checkpoint" --vocab data/vocab.txt --out "$out/model.elq"

# Sequences of 1 to 128 tokens (the tiny model's limit), lengths on either side of the kernels' 4-row and 16-value
# tiles; one with segment B, so token types are exercised too. Seeded ids: the same lines every run.
python3 - "$out/ids.jsonl" <<'EOF'
import json, random, sys
rng = random.Random(52)
with open(sys.argv[1], "w") as f:
    for n in [1, 2, 5, 13, 16, 17, 33, 64, 127, 128]:
        ids = [101] + [rng.randrange(1000, 30000) for _ in range(max(n - 2, 0))] + ([102] if n > 1 else [])
        f.write(json.dumps({"ids": ids[:n]}) + "\n")
    ids = [101] + [rng.randrange(1000, 30000) for _ in range(20)] + [102]
    f.write(json.dumps({"ids": ids, "token_type_ids": [0] * 11 + [1] * 11}) + "\n")
EOF
electra_bin infer --model "$out/model.elq" --input "$out/ids.jsonl" --out "$out/host.jsonl"
[ "$(grep -c logits "$out/host.jsonl")" -eq "$(grep -c ids "$out/ids.jsonl")" ] || die "host electra infer: a line is missing"

# Build once; the runner only changes how the binaries start.
cargo test --release -q -p electra-core --target "$target" --lib --no-run
cargo build --release -q -p electra-core --target "$target" --example int8_infer
example="target/$target/release/examples/int8_infer"

for pair in cortex-a72:aarch64-neon cortex-a76:aarch64-sdot max:aarch64-smmla; do
  cpu=${pair%%:*}
  kernel=${pair#*:}
  banner "qemu-aarch64 -cpu $cpu (expects $kernel)"
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="timeout $QEMU_TIMEOUT_S qemu-aarch64 -L $sysroot -cpu $cpu"
  status=0
  ELECTRA_EXPECT_KERNEL=$kernel cargo test --release -q -p electra-core --target "$target" --lib \
    -- quant::kernels tokenizer --nocapture >"$out/tests-$cpu.log" 2>&1 || status=$?
  cat "$out/tests-$cpu.log"
  [ "$status" -eq 0 ] || die "core tests failed under qemu-aarch64 -cpu $cpu (log: $out/tests-$cpu.log)"
  grep -q "kernel picked on this machine: $kernel" "$out/tests-$cpu.log" \
    || die "the kernel harness did not report $kernel under -cpu $cpu (log: $out/tests-$cpu.log)"
  ELECTRA_EXPECT_KERNEL=$kernel timeout "$QEMU_TIMEOUT_S" qemu-aarch64 -L "$sysroot" -cpu "$cpu" \
    "$example" "$out/model.elq" <"$out/ids.jsonl" >"$out/qemu-$cpu.jsonl" \
    || die "int8_infer failed under qemu-aarch64 -cpu $cpu"
  if ! cmp -s "$out/host.jsonl" "$out/qemu-$cpu.jsonl"; then
    diff <(cut -c1-200 "$out/host.jsonl") <(cut -c1-200 "$out/qemu-$cpu.jsonl") | head -20 >&2 || true
    die "int8 logits under qemu-aarch64 -cpu $cpu differ from the host's electra infer ($out/host.jsonl vs $out/qemu-$cpu.jsonl)"
  fi
  echo "-cpu $cpu: $kernel; $(wc -l <"$out/host.jsonl") sequences, logits identical to the host's bit for bit"
done
