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

# Set up when the environment is missing or its pins changed.
et_ensure_env() {
  if [ "$(et_mode)" = none ] || ! et_env_is_current; then
    "$ET_REPO/scripts/setup"
  fi
}
