#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, the generated catalog, the OpenAPI
# conformance run, and every test of the workspace. Installs or starts what the tests need,
# idempotently.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> [%4ds] %s\n' "$SECONDS" "$*"; }

step "PostgreSQL on 127.0.0.1:5432 (story suite, multi-node tests)"; scripts/setup/postgres.sh

step "toolchain"
cargo --version
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi

step "formatting (cargo fmt --check)"
cargo fmt --all -- --check

step "the generated catalog matches the spec"
python3 scripts/gen-catalog.py --check

step "lints (cargo clippy -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "the OpenAPI document against the real server (schemathesis, every check)"
scripts/openapi-conformance.sh

step "the Voucherify SDK the compatibility tests drive"; scripts/setup/compat.sh
step "Chromium and chromedriver for the dashboard's browser tests"; scripts/setup/browser.sh
step "the SMTP server the notice tests mail to (aiosmtpd)"; scripts/setup/smtp.sh

step "fuzz targets: build and a short smoke run (scripts/fuzz.sh fuzzes for real)"; scripts/fuzz.sh --smoke

step "tests"
cargo nextest run --workspace --locked --no-fail-fast "$@"
