# shellcheck shell=bash
# Sourced by scripts/*: where the Python 3.14 environment lives and how to run commands in it.
#
# Two modes:
#   native  - a Python >= 3.14.2 exists on this machine; the venv is ./.venv in the checkout.
#   root    - no such Python (Debian 12): a Debian unstable root with python3.14, cached outside
#             the checkout, entered with unshare + chroot; the venv is /opt/venv inside it.

ET_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ET_CACHE="${ENERGY_TOKENS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/energy-tokens}"
ET_ROOT="$ET_CACHE/py314-root"
ET_MIN_PY="3.14.2"
# Debian packages of the provisioned root; a change here rebuilds the root.
ET_ROOT_PACKAGES="python3.14,python3.14-venv,python3.14-dev,ca-certificates,gcc,g++,libffi-dev,libssl-dev"
ET_REQUIREMENTS=("$ET_REPO/requirements_test.txt" "$ET_REPO/requirements_dev.txt")

et_say() { printf 'energy_tokens: %s\n' "$*" >&2; }
et_die() { et_say "ERROR: $*"; exit 1; }

# sha256 over the pinned requirement files: a changed pin makes the environment stale.
et_requirements_hash() {
  cat "${ET_REQUIREMENTS[@]}" 2>/dev/null | sha256sum | cut -d' ' -f1
}

et_mode() {
  if [ -f "$ET_REPO/.venv/pyvenv.cfg" ]; then
    echo native
  elif [ -f "$ET_ROOT/opt/venv/pyvenv.cfg" ] && [ "$(cat "$ET_ROOT/.root-packages" 2>/dev/null)" = "$ET_ROOT_PACKAGES" ]; then
    echo root
  else
    echo none
  fi
}

et_stamp_file() {
  case "$(et_mode)" in
    native) echo "$ET_REPO/.venv/.requirements.sha256" ;;
    root) echo "$ET_ROOT/opt/venv/.requirements.sha256" ;;
    *) echo /nonexistent ;;
  esac
}

et_env_is_current() {
  local stamp
  stamp="$(et_stamp_file)"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(et_requirements_hash)" ]
}

# The ledger package (the distribution energy-tokens-ledger, from pyproject.toml) is installed
# into the environment so that its command, the crash test's child and the benchmark import it by
# name. Not editable: checkouts at other paths share one environment. These files are what a
# build reads; their hash says which sources the installed copy was built from.
et_ledger_files() {
  (cd "$ET_REPO" && { echo pyproject.toml; find custom_components/energy_tokens/ledger -maxdepth 1 -type f \( -name '*.py' -o -name py.typed \); } | LC_ALL=C sort)
}

et_ledger_hash() {
  (cd "$ET_REPO" && et_ledger_files | xargs sha256sum | sha256sum | cut -d' ' -f1)
}

et_ledger_stamp_file() {
  echo "$(dirname "$(et_stamp_file)")/.ledger-package.sha256"
}


# Build and install from a copy of just those files, so that building leaves nothing (build/,
# *.egg-info) in the checkout and proves the package needs nothing else.
et_install_ledger() {
  et_say "installing the ledger package (energy-tokens-ledger) into the environment"
  # shellcheck disable=SC2016  # expanded by the inner shell
  et_run sh -c '
    stage="$(mktemp -d)" || exit 1
    trap "rm -rf \"\$stage\"" EXIT
    for file in "$@"; do
      mkdir -p "$stage/$(dirname "$file")" && cp "$file" "$stage/$file" || exit 1
    done
    python -m pip install --quiet --no-deps --no-build-isolation --force-reinstall "$stage"
  ' et-install-ledger $(et_ledger_files)
}

et_ensure_ledger() {
  local stamp hash
  stamp="$(et_ledger_stamp_file)"
  hash="$(et_ledger_hash)"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && return 0
  # One install at a time: scripts running side by side share the environment.
  (
    flock 9
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
      et_install_ledger || et_die "installing the ledger package failed (see pip's message above)"
      echo "$hash" >"$stamp"
    fi
  ) 9>"$stamp.lock"
}

# Run a command with the environment's Python first on PATH, from the checkout's top folder.
et_run() {
  case "$(et_mode)" in
    native)
      (cd "$ET_REPO" && PATH="$ET_REPO/.venv/bin:$PATH" "$@")
      ;;
    root)
      unshare -m -- "$ET_REPO/scripts/lib/in-root" "$ET_ROOT" "$ET_REPO" "$@"
      ;;
    *)
      et_die "no environment yet: run scripts/setup"
      ;;
  esac
}

# The MQTT broker the community tests start (Debian's mosquitto), installed where missing: into
# the provisioned root, or on this machine with apt-get when run as root.
et_has_mosquitto() {
  et_run sh -c 'command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]' 2>/dev/null
}

et_ensure_mosquitto() {
  et_has_mosquitto && return 0
  et_say "installing the MQTT broker (Debian's mosquitto) for the community tests"
  local apt='apt-get -qq -o Acquire::Check-Valid-Until=false'
  local install="$apt update && DEBIAN_FRONTEND=noninteractive $apt install -y --no-install-recommends mosquitto >/dev/null"
  case "$(et_mode)" in
    root) et_run sh -c "$install" ;;
    *)
      [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
        || et_die "no mosquitto on this machine: install it (e.g. 'sudo apt-get install mosquitto') and re-run"
      sh -c "$install"
      ;;
  esac
  et_has_mosquitto || et_die "installing mosquitto failed (see apt-get's message above)"
}

# Set up when the environment is missing or its pins changed; reinstall the ledger package when
# its sources changed.
et_ensure_env() {
  if [ "$(et_mode)" = none ] || ! et_env_is_current; then
    "$ET_REPO/scripts/setup"
  fi
  et_ensure_ledger
  et_ensure_mosquitto
}
