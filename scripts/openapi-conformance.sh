#!/usr/bin/env bash
# The OpenAPI conformance run: schemathesis, an independent property-based API tester, drives
# a real sendout from its own `GET /openapi.json` with every check (`--checks all`: no 5xx,
# every status and body as documented, valid requests accepted, invalid ones refused, auth
# enforced, deleted objects gone, …) and fails on any failure.
#
# The server is the debug binary the test suite builds (built here as `cargo nextest` builds it,
# with the whole workspace's features, so that the suite reuses this build instead of compiling
# every dependency again for other features), serving an embedded store in a fresh temporary
# directory, with real keys and real objects (tests/openapi/seed.py creates a project,
# webhooks, distributions, events and send outs through the API). Everything runs in a network
# namespace of its own that has nothing but loopback, so no generated `target_url` can reach
# beyond this machine: deliveries go to a `sendout listen` receiver on 127.0.0.1 or fail.
#
# Bounded and reproducible: deterministic generation (no random seed, no example database),
# one worker, OPENAPI_EXAMPLES examples per operation (default 25), under two minutes here.
# Installs schemathesis first (scripts/setup/schemathesis.sh). Needs root for the namespace
# (`unshare --net`, `ip`), as the test machines and CI have.
#
# Usage: scripts/openapi-conformance.sh [extra schemathesis arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" != "--inside-namespace" ]; then
  scripts/setup/schemathesis.sh
  cargo nextest run --workspace --locked --no-run
  # A namespace with loopback only; root (as here and in CI) may make one.
  exec unshare --net -- "$0" --inside-namespace "$@"
fi
shift

ip link set lo up

ROOT=$PWD
SENDOUT=$ROOT/target/debug/sendout
ST=$ROOT/target/schemathesis-venv/bin/st
PYTHON=$ROOT/target/schemathesis-venv/bin/python
WORK=$(mktemp -d)
BASE=http://127.0.0.1:8080
RECEIVER=http://127.0.0.1:9000/hook
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export SENDOUT_MANAGEMENT_ID=M-conformance
SENDOUT_MANAGEMENT_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export SENDOUT_MANAGEMENT_TOKEN

# Generated requests create many webhooks and distributions and fail authentication on
# purpose (the ignored_auth check): the quotas and the failure limit are raised so that the
# limits do not hide what the requests would otherwise get. Both answers (422
# quota_exceeded, 429) are in the document; tests/it/api covers them.
SENDOUT_LISTEN=127.0.0.1:8080 \
SENDOUT_DATA_DIR="$WORK/data" \
SENDOUT_ALLOWED_TARGET_RANGES=127.0.0.0/8 \
SENDOUT_AUTH_FAILURE_LIMIT=4000000000 \
SENDOUT_MAX_WEBHOOKS_PER_PROJECT=100000 \
SENDOUT_MAX_DISTRIBUTIONS_PER_PROJECT=100000 \
SENDOUT_DELIVERY_TIMEOUT=2s \
SENDOUT_LOG_FORMAT=json \
  "$SENDOUT" serve > "$WORK/sendout.log" 2>&1 &
pids+=($!)
"$SENDOUT" listen --addr 127.0.0.1:9000 --compact > "$WORK/receiver.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 100); do
  if curl -sf -o /dev/null "$BASE/openapi.json"; then break; fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then cat "$WORK/sendout.log"; exit 1; fi
  sleep 0.2
done

"$PYTHON" tests/openapi/seed.py "$BASE" "$RECEIVER" "$WORK/schemathesis.toml"

status=0
(cd "$WORK" && SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$ROOT/tests/openapi" "$ST" --config-file "$WORK/schemathesis.toml" run "$BASE/openapi.json" \
  --checks all \
  --max-examples "${OPENAPI_EXAMPLES:-25}" \
  --generation-deterministic \
  --workers 1 \
  --request-timeout 20 \
  --no-color \
  "$@") || status=$?

if grep -q '"level":"ERROR"' "$WORK/sendout.log"; then
  echo "sendout logged errors during the run:" >&2
  grep '"level":"ERROR"' "$WORK/sendout.log" | head -20 >&2
  status=1
fi
exit "$status"
