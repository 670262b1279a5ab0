#!/usr/bin/env bash
# Install Gallery Arena with its worker and test extras into a virtualenv (idempotent).
# Usage: scripts/install.sh [VENV]   (default: .venv in the checkout)
# The venv is reused while pyproject.toml is unchanged; the checkout is (re)linked every time.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$here/.venv}"
stamp="$venv/.arena-deps-$(sha256sum "$here/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  # torch first, pinned: pip takes these releases from the machine's local wheel store.
  "$venv/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
  "$venv/bin/pip" install -q -e "$here[worker,dev]"
  rm -f "$venv"/.arena-deps-*
  touch "$stamp"
else
  # Same dependencies: only point the editable install at this checkout.
  "$venv/bin/pip" install -q --no-deps -e "$here"
fi
