#!/usr/bin/env bash
# The firmware (firmware-example/) boots on an emulated Cortex-M4F (QEMU mps2-an386) and must exit 0 in time.
set -euo pipefail
source scripts/lib.sh

apt_install qemu-system-arm
command -v qemu-system-arm >/dev/null || die "qemu-system-arm is not on PATH after installing it"

# A firmware that has not exited by then has hung (or crawls): fail. The test model runs in a few seconds.
FIRMWARE_TIMEOUT_S=300
out="$ELECTRA_REPO/target/firmware-test"
mkdir -p "$out"

(cd firmware-example && cargo build --release) || die "firmware build failed"
elf="firmware-example/target/thumbv7em-none-eabihf/release/electra-firmware"

# The same command line as firmware-example/.cargo/config.toml's runner (see the comments there).
status=0
timeout "$FIRMWARE_TIMEOUT_S" qemu-system-arm -M mps2-an386 -cpu cortex-m4 -nographic \
  -semihosting-config enable=on,target=native -icount shift=0 -kernel "$elf" </dev/null >"$out/qemu.log" 2>&1 || status=$?
cat "$out/qemu.log"
[ "$status" -ne 124 ] || die "firmware did not exit within ${FIRMWARE_TIMEOUT_S} s (log: $out/qemu.log)"
[ "$status" -eq 0 ] || die "firmware exited with status $status (log: $out/qemu.log)"
