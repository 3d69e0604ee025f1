#!/usr/bin/env bash
# Makes the virtualenv VENV hold exactly the pinned packages of REQUIREMENTS, idempotently:
# a stamp in the venv records which requirements it holds, so a second run installs nothing.
# Used by compat.sh, schemathesis.sh and smtp.sh.
#
# Usage: scripts/setup/python-venv.sh VENV REQUIREMENTS
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=$1
REQUIREMENTS=$2
STAMP="$VENV/.requirements.sha256"

wanted=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$wanted" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$wanted" > "$STAMP"
fi
