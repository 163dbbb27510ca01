#!/usr/bin/env bash
# Every Rust test of the workspace. Release: the parity and training tests do real arithmetic.
set -euo pipefail
source scripts/lib.sh
# The host's one feature set (scripts/lib.sh), so every later step reuses these binaries.
cargo test --release --workspace "${HOST_FEATURES[@]}"
