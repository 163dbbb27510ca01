#!/usr/bin/env bash
# The lints the code declares, checked: formatting (rustfmt.toml), clippy with every warning an error (the crates'
# `#![deny(clippy::unwrap_used)]` included), and the docs with broken intra-doc links an error.
set -euo pipefail
source scripts/lib.sh
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    rustup component add "$component" || die "rustup component add $component failed"
  fi
done
cargo fmt --all --check || die "cargo fmt --all --check: run \`cargo fmt --all\`"
cargo clippy --release --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D rustdoc::broken_intra_doc_links" cargo doc --workspace --no-deps --quiet
echo "lints: 3 passed, 0 failed"
