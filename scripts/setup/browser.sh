#!/usr/bin/env bash
# Installs what the dashboard's browser tests need: headless Chromium and its WebDriver
# (Debian's `chromium` and `chromium-driver`), only when they are missing. Idempotent; run by
# scripts/test.sh before the tests, and by hand before `cargo nextest run -p sendout -E 'test(/^dashboard::/)'`.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have chromium && have chromedriver; then
  echo "browser: $(chromium --version 2>/dev/null | head -n1); $(chromedriver --version | head -n1)"
  exit 0
fi

if ! have apt-get; then
  echo "browser.sh: chromium and chromedriver are missing and apt-get is not available;" >&2
  echo "install Chromium and a matching chromedriver, and put both on PATH" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

echo "browser: installing chromium and chromium-driver"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  chromium chromium-driver fonts-dejavu-core >/dev/null
echo "browser: $(chromium --version 2>/dev/null | head -n1); $(chromedriver --version | head -n1)"
