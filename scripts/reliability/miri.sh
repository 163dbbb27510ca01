#!/usr/bin/env bash
# Runs the core's unit tests and its model-file integration tests under Miri (issue 17, "Miri").
# Not part of the CI test command: interpreted, it takes far longer than the 25-minute budget allows.
# See docs/RELIABILITY.md ("Miri") for what runs, what is ignored under Miri and why, and the last result.
#
# Usage: scripts/reliability/miri.sh [extra MIRIFLAGS...]
#   e.g. scripts/reliability/miri.sh -Zmiri-strict-provenance -Zmiri-symbolic-alignment-check
set -euo pipefail
cd "$(dirname "$0")/../.."

TOOLCHAIN=nightly
if ! rustup run "$TOOLCHAIN" rustc --version >/dev/null 2>&1; then
    echo "miri.sh: installing the $TOOLCHAIN toolchain" >&2
    rustup toolchain install "$TOOLCHAIN" --profile minimal --component miri,rust-src \
        || { echo "miri.sh: FAILED to install the $TOOLCHAIN toolchain" >&2; exit 1; }
fi
for component in miri rust-src; do
    if ! rustup component list --toolchain "$TOOLCHAIN" --installed | grep -q "^$component"; then
        echo "miri.sh: installing component $component" >&2
        rustup component add --toolchain "$TOOLCHAIN" "$component" \
            || { echo "miri.sh: FAILED to install $component on $TOOLCHAIN" >&2; exit 1; }
    fi
done
cargo +"$TOOLCHAIN" miri --version || { echo "miri.sh: cargo miri does not run" >&2; exit 1; }

# A separate target dir, so the shared release cache of the workspace is not rebuilt for Miri.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/miri}"
export MIRIFLAGS="${MIRIFLAGS:-} $*"
cargo +"$TOOLCHAIN" miri setup

# Unit tests (parser layout, kernels' scalar twins and the dispatch's baseline tier, tokenizer, float path),
# then the model-file integration tests (in-place reads of the file bytes, crafted and damaged files).
# Miri runs tests one at a time; --test-threads=1 only keeps the output in order.
time cargo +"$TOOLCHAIN" miri test -p electra-core --lib -- --test-threads=1
time cargo +"$TOOLCHAIN" miri test -p electra-core --test model_file -- --test-threads=1
