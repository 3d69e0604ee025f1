#!/usr/bin/env bash
# Installs the SMTP server the notice tests (crates/sendout/tests/it/notices/) send mail to,
# idempotently: a virtualenv at target/smtp-venv holding aiosmtpd and its dependencies, all
# pinned in tests/smtp/requirements.txt (see python-venv.sh). tests/smtp/peer.py runs it on loopback.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup/python-venv.sh target/smtp-venv tests/smtp/requirements.txt
target/smtp-venv/bin/python -c 'import importlib.metadata as m; print("aiosmtpd", m.version("aiosmtpd"), "(SMTP server) in target/smtp-venv")'
