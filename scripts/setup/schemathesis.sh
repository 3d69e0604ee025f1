#!/usr/bin/env bash
# Installs what the OpenAPI conformance run (scripts/openapi-conformance.sh) drives,
# idempotently: a virtualenv at target/schemathesis-venv holding schemathesis, the
# property-based API tester, and its dependencies, all pinned in tests/openapi/requirements.txt
# (see python-venv.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

scripts/setup/python-venv.sh target/schemathesis-venv tests/openapi/requirements.txt
target/schemathesis-venv/bin/st --version | sed 's|$| in target/schemathesis-venv|'
