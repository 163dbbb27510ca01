#!/usr/bin/env bash
# The thumb target that proves electra-core is no_std.
set -euo pipefail
source scripts/lib.sh
if ! rustup target list --installed | grep -qx thumbv7em-none-eabihf; then
  rustup target add thumbv7em-none-eabihf || die "rustup target add thumbv7em-none-eabihf failed"
fi
