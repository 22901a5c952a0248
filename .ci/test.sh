#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run it.
#   - LibreOffice headless (tests prove Excel-class software opens what we write)
#   - a virtual environment with sheetcrm and its test extra (pytest, aiosmtpd, ruff)
# Extra arguments go to pytest, e.g. `bash .ci/test.sh -k template`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v soffice >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing LibreOffice (headless) ..."
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    libreoffice-calc-nogui >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
