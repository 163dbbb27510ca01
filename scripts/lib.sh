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
