#!/usr/bin/env bash
# Installs what the client-compatibility tests (crates/sendout/tests/it/voucherify_clients.rs)
# drive, idempotently: a virtualenv at target/compat-venv holding Voucherify's official Python
# SDK and its dependencies, all pinned in tests/compat/requirements.txt. A stamp in the venv
# records which requirements it holds, so a second run installs nothing.
#
# The official Node SDK (@voucherify/sdk 2.9.0) has no management client, so there is nothing
# of it to install; see docs/API.md ("Tested clients").
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=target/compat-venv
REQUIREMENTS=tests/compat/requirements.txt
STAMP="$VENV/.requirements.sha256"

wanted=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$wanted" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$wanted" > "$STAMP"
fi
"$VENV/bin/python" -c 'import importlib.metadata as m; print("voucherify", m.version("voucherify"), "(Python SDK) in target/compat-venv")'
