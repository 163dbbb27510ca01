#!/usr/bin/env bash
# Flash taken by electra-core's tokenizer on thumbv7em-none-eabihf: links a minimal no_std binary that calls the
# tokenizer on inputs the optimizer cannot see (src/main.rs), with and without each part, and prints .text/.rodata
# from llvm-size (apt: llvm; or rustup component add llvm-tools and use its llvm-size).
set -euo pipefail
cd "$(dirname "$0")"
SIZE=${LLVM_SIZE:-llvm-size}
for features in "" "tokenizer" "tokenizer pair" "tokenizer pair build_index"; do
  for opt in 3 s; do
    CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt RUSTFLAGS="-C link-arg=--entry=tok_entry -C link-arg=--gc-sections" \
      cargo build -q --release --target thumbv7em-none-eabihf --features "$features" --target-dir ../../target/tokenizer-flash
    sizes=$("$SIZE" -A ../../target/tokenizer-flash/thumbv7em-none-eabihf/release/tok-flash |
      awk '$1==".text"||$1==".rodata"{printf "%s %d  ", $1, $2}')
    echo "features=[$features] opt-level=$opt: $sizes"
  done
done
