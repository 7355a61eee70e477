#!/usr/bin/env bash
# Make sure a Chromium binary exists for the Playwright browser tests (tests/test_browser.py).
# The tests drive Debian's Chromium through `executable_path`; Playwright never downloads a browser.
# Usage: scripts/browser.sh   (idempotent: prints nothing when Chromium is already there)
#   MARGIN_CHROMIUM=/path/to/chromium   use that binary instead of searching PATH
set -euo pipefail

if [ -n "${MARGIN_CHROMIUM:-}" ]; then
    if [ -x "$MARGIN_CHROMIUM" ]; then exit 0; fi
    echo "browser: MARGIN_CHROMIUM=$MARGIN_CHROMIUM is not an executable file." >&2
    echo "Point it at a Chromium binary, or unset it to search PATH." >&2
    exit 1
fi

for c in chromium chromium-browser; do
    if command -v "$c" >/dev/null 2>&1; then exit 0; fi
done

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "browser: installing Debian's chromium for the browser tests (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends chromium; then
        apt-get update
        apt-get install -y --no-install-recommends chromium
    fi
    exit 0
fi

cat >&2 <<'EOF'
browser: no Chromium found for the browser tests (tests/test_browser.py).
Install it, then run the tests again:
  Debian/Ubuntu:  sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium
  elsewhere:      install Chromium or Chrome and set MARGIN_CHROMIUM=/path/to/the/binary
Or skip them:     make pytest PYTEST_ARGS='-m "not browser"'
EOF
exit 1
