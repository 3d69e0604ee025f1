#!/usr/bin/env bash
# One PostgreSQL bench run: a fresh database, `ENGINE serve` on it, `sendout-bench --server`
# against it (bare pair, throughput 30,000 events to one webhook and 15,000 to four, latency
# 15 s), then the server stopped; the report goes to OUT as JSON. Back-to-back comparisons
# run it once per build. Needs PostgreSQL on 127.0.0.1:5432 (scripts/setup/postgres.sh).
# Usage: scripts/bench-postgres.sh ENGINE BENCH OUT.json
#   e.g. scripts/bench-postgres.sh target/release/sendout target/release/sendout-bench pg.json
set -euo pipefail
engine=$1 bench=$2 out=$3
db=sendout_bench
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db" postgres
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" postgres
export SENDOUT_MANAGEMENT_ID=bench SENDOUT_MANAGEMENT_TOKEN=bench-token-0123456789abcdef
SENDOUT_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db SENDOUT_LISTEN=127.0.0.1:18080 \
  SENDOUT_ALLOWED_TARGET_RANGES=127.0.0.0/8 RUST_LOG=warn "$engine" serve >"${out%.json}.serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs http://127.0.0.1:18080/health >/dev/null && break; sleep 0.2; done
"$bench" --engine "$engine" --server http://127.0.0.1:18080 --scenarios bare,throughput,latency \
  --events 30000 --events-fanout 15000 --json > "$out"
