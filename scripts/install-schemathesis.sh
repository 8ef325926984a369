#!/usr/bin/env bash
# Installs schemathesis (the OpenAPI fuzzer the test suite runs against /openapi.json) from PyPI
# into a virtual environment under target/, skipping it when present. Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SCHEMATHESIS_VENV:-target/schemathesis-venv}"
version="4.32.5"
if [ -x "$venv/bin/schemathesis" ] && "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
"$venv/bin/schemathesis" --version
