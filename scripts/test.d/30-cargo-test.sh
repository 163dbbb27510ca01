#!/usr/bin/env bash
# Every Rust test of the workspace. Release: the parity and training tests do real arithmetic.
set -euo pipefail
cargo test --release --workspace
