#!/usr/bin/env bash
# Installs what the client-compatibility tests (crates/sendout/tests/it/voucherify_clients.rs)
# drive, idempotently: a virtualenv at target/compat-venv holding Voucherify's official Python
# SDK and its dependencies, all pinned in tests/compat/requirements.txt (see venv.sh).
#
# The official Node SDK (@voucherify/sdk 2.9.0) has no management client, so there is nothing
# of it to install; see docs/API.md ("Tested clients").
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/setup/venv.sh

pinned_venv target/compat-venv tests/compat/requirements.txt
target/compat-venv/bin/python -c 'import importlib.metadata as m; print("voucherify", m.version("voucherify"), "(Python SDK) in target/compat-venv")'
