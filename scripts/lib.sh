# Shared helpers for scripts/test.sh and its steps. Sourced, never run.

banner() { printf '\n=== %s ===\n' "$*"; }

die() { echo "error: $*" >&2; exit 1; }

# apt_install PKG... : installs Debian packages that are missing; fails loudly if it cannot.
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing with apt-get: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq || die "apt-get update failed; cannot install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" \
    || die "apt-get install ${missing[*]} failed"
}

# The Python environment for cross-checks only (pyarrow, HF transformers); never used by the project itself.
PY_VENV="${PY_VENV:-${ELECTRA_REPO:-$PWD}/target/pyenv}"

# require_free_disk GIB PATH PURPOSE : fails loudly, before the work starts, when the filesystem holding PATH has
# less than GIB GiB free (a full disk mid-install leaves a half-written venv and an OSError that names no cause).
require_free_disk() {
  local need_gib=$1 path=$2 purpose=$3 probe=$2
  while [ ! -e "$probe" ]; do probe=$(dirname "$probe"); done
  local free_kib
  free_kib=$(df -Pk "$probe" | awk 'NR == 2 { print $4 }')
  [ -n "$free_kib" ] || die "cannot read the free space of $probe (df)"
  if [ "$free_kib" -lt $((need_gib * 1024 * 1024)) ]; then
    die "$purpose needs about $need_gib GiB free on the filesystem of $path; it has $((free_kib / 1024)) MiB (df -h $probe)"
  fi
}

# pip_install PKG... : installs Python packages into $PY_VENV, creating it if missing. No pip cache: it would hold
# a second copy of every wheel (about 3 GiB for torch and its CUDA wheels) on a disk CI shares with cargo's target.
pip_install() {
  if [ ! -x "$PY_VENV/bin/python" ]; then
    python3 -m venv "$PY_VENV" || die "python3 -m venv failed (install python3-venv)"
  fi
  "$PY_VENV/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir "$@" || die "pip install $* failed"
}

# pip_install_torch PKG... : torch (PyPI's Linux wheel pulls its CUDA libraries too: 5.5 GiB installed, 8.4 GiB at
# the peak of the install while the downloaded wheels sit beside it; measured with df) plus PKG..., after checking
# there is room for it.
pip_install_torch() {
  if ! py -c "import torch" 2>/dev/null; then
    require_free_disk 10 "$PY_VENV" "installing torch for the cross-check (PyPI wheel with its CUDA libraries)"
  fi
  pip_install torch "$@"
}

py() { "$PY_VENV/bin/python" "$@"; }

# ---------------------------------------------------------------------------------------------------------------
# The firmware steps (50, 55): build firmware-example around a model file for some sentences, boot it in QEMU, and
# check what it printed against the host (scripts/py/compare_firmware.py).

# A firmware that has not exited by then has hung (or crawls): fail. The tiny models run in seconds.
FIRMWARE_TIMEOUT_S="${FIRMWARE_TIMEOUT_S:-300}"

# The host binaries and examples the steps after step 30 run, built once with one feature set (issue 14, item 10):
# `cargo test --release --workspace "${HOST_FEATURES[@]}" --no-run` resolves exactly the features of step 30's
# `cargo test`, so after step 30 it only checks that nothing changed, and a step run on its own still builds what it
# needs. (`cargo build -p electra-train` or `cargo run -p ...` would resolve that package's own features and rebuild
# about two hundred crates a second time.) `cargo test` builds the bins and examples too, into target/release/.
# The feature set is the whole one, MPI included: step 70's mpirun runs then reuse step 30's binaries instead of
# rebuilding electra-train and its dependents (4.5 minutes on 2 cores). Built with `mpi`, a process started without
# a launcher is still a world of one and never calls MPI_Init (train-host/src/distributed/mod.rs).
HOST_FEATURES=(--features electra-train/mpi)
HOST_RELEASE="${ELECTRA_REPO:-$PWD}/target/release"
build_host() {
  [ -n "${ELECTRA_HOST_BUILT:-}" ] && return 0
  (cd "${ELECTRA_REPO:-$PWD}" && cargo test --release --workspace "${HOST_FEATURES[@]}" --no-run -q)
  ELECTRA_HOST_BUILT=1
}
electra_bin() { build_host; "$HOST_RELEASE/electra" "$@"; }
# electra_example NAME ARGS... : a workspace example (train-host's random_checkpoint, pipeline's dump_shards, ...).
electra_example() {
  build_host
  local name=$1
  shift
  [ -x "$HOST_RELEASE/examples/$name" ] || die "$HOST_RELEASE/examples/$name was not built by build_host"
  "$HOST_RELEASE/examples/$name" "$@"
}

# The Cortex-M boards, one crate each under firmware-example/boards/ (see firmware-example/README.md).
FIRMWARE_BOARDS=(mps2-an386 mps2-an500 mps2-an505 mps3-an547)

# firmware_board_setting BOARD KEY : a string setting of the board's .cargo/config.toml (`target`, `runner`), so the
# test boots each board exactly as `cargo run` there does.
firmware_board_setting() {
  local config="firmware-example/boards/$1/.cargo/config.toml" value
  [ -f "$config" ] || die "no board $1 (no $config)"
  value=$(sed -n "s/^$2 = \"\(.*\)\"\$/\1/p" "$config")
  [ -n "$value" ] || die "$config sets no $2"
  echo "$value"
}

# firmware_boot BOARD MODEL_FILE TEXTS_FILE MAX_SEQ_LEN LOG : builds the firmware of BOARD around MODEL_FILE for the
# sentences of TEXTS_FILE (one per line; a single one goes in ELECTRA_TEXT, several in ELECTRA_TEXTS, so both stay
# tested), boots it in QEMU with the board's runner and the FIRMWARE_TIMEOUT_S limit, shows its output, and fails on
# a timeout or a non-zero exit.
firmware_boot() {
  local board=$1 model=$2 texts=$3 max_seq_len=$4 log=$5
  local var=ELECTRA_TEXTS target runner
  [ "$(grep -c . "$texts")" -eq 1 ] && var=ELECTRA_TEXT
  target=$(firmware_board_setting "$board" target)
  runner=$(firmware_board_setting "$board" runner)
  rustup target list --installed | grep -qx "$target" || rustup target add "$target" \
    || die "rustup target add $target failed"
  (cd "firmware-example/boards/$board" && env -u ELECTRA_TEXT -u ELECTRA_TEXTS ELECTRA_MODEL_FILE="$model" \
    "$var=$(cat "$texts")" ELECTRA_MAX_SEQ_LEN="$max_seq_len" cargo build --release) \
    || die "firmware build for $board failed"
  local elf="firmware-example/target/$target/release/$board"
  # The board's runner from its .cargo/config.toml (every flag commented there), ending in -kernel.
  local status=0
  # shellcheck disable=SC2086 # the runner is a command line: split it into words
  timeout "$FIRMWARE_TIMEOUT_S" $runner "$elf" </dev/null >"$log" 2>&1 || status=$?
  cat "$log"
  [ "$status" -ne 124 ] || die "$board: firmware did not exit within ${FIRMWARE_TIMEOUT_S} s (log: $log)"
  [ "$status" -eq 0 ] || die "$board: firmware exited with status $status (log: $log)"
}

# firmware_check DIR TEXTS_FILE MAX_SEQ_LEN MODEL_FILE [FLOAT_MODEL_DIR] : the firmware's RESULT lines in DIR/qemu.log
# against `electra tokenize` on the sentences, int8 `electra infer` on MODEL_FILE with the firmware's ids (bit for
# bit, and the same label, tags or score), and with FLOAT_MODEL_DIR float32 `electra infer` (within a tolerance).
firmware_check() {
  local dir=$1 texts=$2 max_seq_len=$3 model=$4 float_model=${5:-}
  local compare="scripts/py/compare_firmware.py"
  python3 "$compare" ids "$dir/qemu.log" "$dir/firmware-ids.jsonl"
  python3 -c 'import json, sys; [print(json.dumps({"text": l.rstrip("\n")})) for l in sys.stdin if l.strip()]' \
    <"$texts" >"$dir/texts.jsonl"
  electra_bin tokenize --vocab data/vocab.txt <"$dir/texts.jsonl" >"$dir/host-tokens.jsonl"
  electra_bin infer --model "$model" --input "$dir/firmware-ids.jsonl" >"$dir/host-int8.jsonl"
  local float_args=()
  if [ -n "$float_model" ]; then
    electra_bin infer --model "$float_model" --input "$dir/firmware-ids.jsonl" >"$dir/host-float.jsonl"
    float_args=(--host-float "$dir/host-float.jsonl")
  fi
  python3 "$compare" check --log "$dir/qemu.log" --texts "$dir/texts.jsonl" --host-tokens "$dir/host-tokens.jsonl" \
    --host-int8 "$dir/host-int8.jsonl" --max-seq-len "$max_seq_len" "${float_args[@]}"
}
