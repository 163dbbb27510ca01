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

# pip_install PKG... : installs Python packages into $PY_VENV, creating it if missing.
pip_install() {
  if [ ! -x "$PY_VENV/bin/python" ]; then
    python3 -m venv "$PY_VENV" || die "python3 -m venv failed (install python3-venv)"
  fi
  "$PY_VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" || die "pip install $* failed"
}

py() { "$PY_VENV/bin/python" "$@"; }
