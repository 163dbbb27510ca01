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
# The host's one feature set (HOST_FEATURES) and the release profile for both: the dependencies' metadata that clippy
# checks is then the same that cargo doc needs, built once.
cargo clippy --release --workspace --all-targets "${HOST_FEATURES[@]}" -- -D warnings
RUSTDOCFLAGS="-D rustdoc::broken_intra_doc_links" cargo doc --release --workspace "${HOST_FEATURES[@]}" --no-deps --quiet
echo "lints: 3 passed, 0 failed"
