#!/usr/bin/env bash
# Runs the core's unit tests and its model-file integration tests under Miri (issue 17, "Miri").
#
# Usage: scripts/reliability/miri.sh [--subset | --install] [extra MIRIFLAGS...]
#   --install      only install the nightly toolchain with miri and rust-src (the test command's step 10).
#   (no --subset)  every test of `--lib` (hours interpreted) and `--test model_file` (12 min interpreted).
#   --subset       the parser, the scalar kernel twins on small shapes, layout and labels parsing: the unit tests
#                  that finished in seconds under Miri; then 11 of the 22 model-file tests (2.5 min together)
#                  (docs/RELIABILITY.md, "Miri", has the timings).
#   e.g. scripts/reliability/miri.sh -Zmiri-strict-provenance -Zmiri-symbolic-alignment-check
# See docs/RELIABILITY.md ("Miri") for what runs, what is left out of the subset and why, and the last result.
set -euo pipefail
cd "$(dirname "$0")/../.."

subset=false
install_only=false
case "${1:-}" in
    --subset) subset=true; shift ;;
    # Only the toolchain (step 10 of the test command, so that no rustup install runs beside other steps).
    --install) install_only=true; shift ;;
esac

# The toolchain the runs in docs/RELIABILITY.md used: rustc 1.97.0-nightly (e50aa6fba 2026-05-19).
TOOLCHAIN=${MIRI_TOOLCHAIN:-nightly}
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
$install_only && exit 0

# A separate target dir, so the shared release cache of the workspace is not rebuilt for Miri.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/miri}"
export MIRIFLAGS="${MIRIFLAGS:-} $*"
cargo +"$TOOLCHAIN" miri setup

# Miri ignores opt-level for the crates it interprets (it says so), but the workspace's dev profile builds every
# dependency at opt-level 3, and the proc macros and build scripts that run natively are built with it: at 0 the
# test build took 41 s of CPU instead of 2 min 34 s (measured on 2026-12-04).
BUILD=(--config 'profile.dev.package."*".opt-level=0' --config 'profile.dev.opt-level=0' --config 'profile.dev.debug=0')

# Miri runs tests one at a time; --test-threads=1 only keeps the output in order.
if ! $subset; then
    # Unit tests (parser layout, kernels' scalar twins and the dispatch's baseline tier, tokenizer, float path),
    # then the model-file integration tests (in-place reads of the file bytes, crafted and damaged files).
    time cargo +"$TOOLCHAIN" miri test "${BUILD[@]}" -p electra-core --lib -- --test-threads=1
    time cargo +"$TOOLCHAIN" miri test "${BUILD[@]}" -p electra-core --test model_file -- --test-threads=1
    exit 0
fi

# The subset: libtest filters (substring matches) for the unit tests that finished in seconds interpreted, and
# skips for the ones in those modules that take minutes (docs/RELIABILITY.md lists each with its reason).
LIB_FILTERS=(
    config::tests::
    model_file::labels::tests::
    model_file::layout::tests::absurd_sizes_are_errors_not_overflows
    model_file::layout::tests::pruned_word_table_has_its_map_next_and_refuses_bad_row_counts
    model_file::layout::tests::small_discriminator_fits_in_14_mib
    quant::kernels::
    quant::math::tests::
    quant::floats::tests::f16_runs_and_widening_read_the_same_values_as_get
    float::activation::tests::
    float::layer_norm::tests::
    float::linear::tests::
    float::reduce::tests::
)
LIB_SKIPS=(
    quant::kernels::int4::tests::every_twin_behind_the_unpacking_matches_the_definition
)
skips=()
for s in "${LIB_SKIPS[@]}"; do skips+=(--skip "$s"); done
time cargo +"$TOOLCHAIN" miri test "${BUILD[@]}" -p electra-core --lib -- --test-threads=1 \
    "${LIB_FILTERS[@]}" "${skips[@]}"

# The model-file integration tests that fit in about 2.5 min of Miri's clock together (one process, so the
# micro files they share are built once: ~19 s interpreted each). They take the cfg(miri) forms in
# core/tests/model_file.rs (one representative head or int4 set per loop, 3-token forward passes). The other
# tests of that file (the property tests, the pruned-map and int4 tests: 9.8 min more) run in the full run above;
# docs/RELIABILITY.md ("Miri") has each test's time.
MODEL_FILE_TESTS=(
    crafted_directories_with_valid_crc_are_typed_errors
    each_header_version_is_the_next_one_less_its_last_field
    files_without_labels_are_version_1_as_before
    int4_sets_that_do_not_fit_are_write_errors
    kept_rows_that_cannot_be_a_map_are_write_errors
    labels_that_do_not_fit_the_head_are_write_errors
    magic_is_png_style
    round_trip_every_head
    skipping_the_checksum_still_checks_everything_else
    typed_errors_for_each_kind_of_damage
    version_2_without_labels_reads
)
# --report-time (nightly libtest) prints each test's time on Miri's clock.
time cargo +"$TOOLCHAIN" miri test "${BUILD[@]}" -p electra-core --test model_file -- --test-threads=1 \
    -Z unstable-options --report-time --exact "${MODEL_FILE_TESTS[@]}"
