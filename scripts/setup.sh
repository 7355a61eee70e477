#!/usr/bin/env bash
# Create .venv with Python 3.12 and install the locked dependencies (only when the lock changed).
# Usage: scripts/setup.sh            (idempotent; prints nothing much when already set up)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${MARGIN_VENV:-.venv}
LOCK=requirements.lock

is_py312() { "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' >/dev/null 2>&1; }

find_python() {
    local c
    # 1. An explicit choice.
    if [ -n "${PYTHON:-}" ] && is_py312 "$PYTHON"; then echo "$PYTHON"; return; fi
    # 2. Whatever is on PATH (pyenv shims that refuse are skipped by is_py312).
    for c in python3.12 python3 python; do
        if command -v "$c" >/dev/null 2>&1 && is_py312 "$(command -v "$c")"; then command -v "$c"; return; fi
    done
    # 3. pyenv, asdf, uv and common install locations.
    if command -v pyenv >/dev/null 2>&1; then
        for c in "$(pyenv root)"/versions/3.12*/bin/python3.12; do
            if [ -x "$c" ] && is_py312 "$c"; then echo "$c"; return; fi
        done
    fi
    for c in "$HOME"/.pyenv/versions/3.12*/bin/python3.12 "$HOME"/.asdf/installs/python/3.12*/bin/python3.12 \
             "$HOME"/.local/share/uv/python/cpython-3.12*/bin/python3.12 \
             /usr/local/bin/python3.12 /usr/bin/python3.12 /opt/homebrew/bin/python3.12; do
        if [ -x "$c" ] && is_py312 "$c"; then echo "$c"; return; fi
    done
    if command -v uv >/dev/null 2>&1; then
        c=$(uv python find 3.12 2>/dev/null || true)
        if [ -n "$c" ] && is_py312 "$c"; then echo "$c"; return; fi
    fi
    return 1
}

if [ ! -x "$VENV/bin/python" ] || ! is_py312 "$VENV/bin/python"; then
    PY=$(find_python) || {
        echo "margin needs Python 3.12 and none was found." >&2
        echo "Install it (e.g. 'pyenv install 3.12' or 'uv python install 3.12') or set PYTHON=/path/to/python3.12." >&2
        exit 1
    }
    echo "setup: creating $VENV with $("$PY" --version)"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
fi

stamp="$VENV/.margin-lock.sha256"
want=$( (cat "$LOCK" pyproject.toml) | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing locked dependencies into $VENV (first run takes a few minutes)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$LOCK"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
    echo "$want" > "$stamp"
fi
