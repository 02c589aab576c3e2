#!/usr/bin/env bash
# Make ./.venv and install salesops with its pinned dependencies. Idempotent and quick when
# everything is already there. Used by the README's two commands and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "salesops needs Python >= 3.11 (found $("$PYTHON" --version 2>&1))" >&2; exit 2; }

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check --quiet)

stamp=.venv/.salesops-installed
want="$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && .venv/bin/salesops --version >/dev/null 2>&1; then
  exit 0
fi

# PyTorch first, alone and exact: the CPU wheel (2.13.0+cpu) satisfies the pin; asked for
# together with other packages, pip may pick the CUDA build from the registry instead.
if ! .venv/bin/python -c 'import torch, sys; sys.exit(not torch.__version__.startswith("2.13.0"))' 2>/dev/null; then
  echo "installing torch 2.13.0 (CPU) ..." >&2
  "${PIP[@]}" install "torch==2.13.0"
fi
echo "installing salesops and its pinned dependencies ..." >&2
"${PIP[@]}" install -c requirements.lock -e ".[dev,ray,reference]"
echo "$want" > "$stamp"
