#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run it twice:
#   - LibreOffice headless (tests prove Excel-class software opens what we write)
#   - .venv: sheetcrm and its test extra at the newest versions pyproject.toml allows; ruff and
#     mypy, then the whole suite
#   - .venv-lowest: the same at the lowest versions it allows (.ci/lowest.txt), the whole suite
#     again: every range in pyproject.toml is a promise (SHEETCRM_SKIP_LOWEST=1 skips this run
#     while developing)
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

pip_install() {  # venv, then pip's arguments
  local venv=$1
  shift
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # this machine's extra local package indexes make pip warn once per package; keep the rest
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 \
    | { grep -v "^WARNING: Location .* is ignored" || true; }
  return "${PIPESTATUS[0]}"
}

pip_install .venv -e '.[test]'
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy  # the package's types ([tool.mypy] in pyproject.toml)
echo "== the suite at the newest allowed versions"
.venv/bin/python -m pytest "$@"

if [ "${SHEETCRM_SKIP_LOWEST:-}" != 1 ]; then
  pip_install .venv-lowest -c .ci/lowest.txt -e '.[test]'
  echo "== the suite at the lowest allowed versions (.ci/lowest.txt)"
  .venv-lowest/bin/python -m pytest -p no:cacheprovider "$@"
fi
