#!/usr/bin/env bash
# electra-core must build with no std and no alloc for a Cortex-M4F.
set -euo pipefail
cargo build --release -p electra-core --target thumbv7em-none-eabihf
