#!/usr/bin/env bash
# A soak test (not CI): a release build of sendout under a steady ingest rate for a while, with
# every event delivered to a local receiver, sampling the server's memory (RSS) and open file
# descriptors from /proc every few seconds. It reports whether both stay flat: the last third
# of the run against the first (after a warm-up minute), and exits non-zero if they grew.
#
#   scripts/soak.sh [minutes, default 10] [events per second, default 200]
#
# Everything runs on 127.0.0.1 and stops by itself; only processes this script started are
# stopped. The samples are kept in $SOAK_DIR (a temporary directory unless set).
set -euo pipefail
cd "$(dirname "$0")/.."

minutes="${1:-10}"
rate="${2:-200}"
interval=5
dir="${SOAK_DIR:-$(mktemp -d -t sendout-soak.XXXXXX)}"
mkdir -p "$dir"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "==> building the release binary"
cargo build --release --locked -p sendout --bin sendout
bin="$PWD/target/release/sendout"

api_port=$(free_port)
hook_port=$(free_port)
export SENDOUT_MANAGEMENT_ID=M-soak SENDOUT_MANAGEMENT_TOKEN=soak-management-token-0123456789
mgmt=(-H "X-Management-Id: $SENDOUT_MANAGEMENT_ID" -H "X-Management-Token: $SENDOUT_MANAGEMENT_TOKEN")

"$bin" listen --addr "127.0.0.1:$hook_port" --compact >/dev/null 2>&1 &
pids+=($!)
SENDOUT_DATA_DIR="$dir/data" SENDOUT_LISTEN="127.0.0.1:$api_port" \
  SENDOUT_ALLOWED_TARGET_RANGES=127.0.0.0/8 RUST_LOG=warn \
  "$bin" serve >"$dir/server.out" 2>"$dir/server.log" &
server=$!
pids+=("$server")
base="http://127.0.0.1:$api_port"
for _ in $(seq 100); do
  curl -fsS "$base/health" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$base/health" >/dev/null

project=$(curl -fsS -X POST "$base/management/v1/projects" "${mgmt[@]}" \
  -H 'content-type: application/json' -d '{"name":"Soak"}')
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
project_id=$(json '["id"]' <<<"$project")
app_id=$(json '["server_side_key"]["app_id"]' <<<"$project")
app_token=$(json '["server_side_key"]["app_token"]' <<<"$project")
curl -fsS -X POST "$base/management/v1/projects/$project_id/webhooks" "${mgmt[@]}" \
  -H 'content-type: application/json' \
  -d "{\"target_url\":\"http://127.0.0.1:$hook_port/hook\",\"events\":[\"*\"]}" >/dev/null

echo "==> ${minutes} min at ${rate} events/s; samples every ${interval}s in $dir/samples.csv"
echo "seconds,rss_kib,fds" >"$dir/samples.csv"
(
  start=$(date +%s)
  while kill -0 "$server" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$server/status")
    fds=$(find "/proc/$server/fd" -mindepth 1 -maxdepth 1 | wc -l)
    echo "$(($(date +%s) - start)),$rss,$fds" >>"$dir/samples.csv"
    sleep "$interval"
  done
) &
pids+=($!)

# The load: one batch every 100 ms on a kept-alive connection, for the whole duration. It
# exits non-zero if any request was refused; that is recorded, not fatal here, so the memory
# and file-descriptor report below is printed anyway (the script still fails at the end).
load_failed=0
python3 - "$api_port" "$app_id" "$app_token" "$rate" "$((minutes * 60))" <<'PY' || load_failed=1
import http.client, json, sys, time
port, app_id, app_token, rate, duration = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
per_tick = max(1, rate // 10)
headers = {"x-app-id": app_id, "x-app-token": app_token, "content-type": "application/json"}
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
start = time.monotonic()
sent = refused = ticks = 0
while time.monotonic() - start < duration:
    events = [{"type": "voucher.published", "data": {"voucher": {"code": f"SOAK-{ticks}-{i}"}}} for i in range(per_tick)]
    try:
        conn.request("POST", "/v1/events", json.dumps({"events": events}), headers)
        answer = conn.getresponse()
        answer.read()
        if answer.status == 202:
            sent += per_tick
        else:
            refused += per_tick
    except OSError:
        refused += per_tick
        conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    ticks += 1
    delay = start + ticks * 0.1 - time.monotonic()
    if delay > 0:
        time.sleep(delay)
print(f"ingested {sent} events ({refused} refused) in {time.monotonic() - start:.0f} s")
if refused:
    sys.exit(1)
PY

echo "==> waiting for the backlog to drain (at most 2 min)"
open_count() {
  local total=0
  for status in PENDING RETRYING; do
    n=$(curl -fsS "$base/v1/webhook-sendouts?status=$status&limit=1" \
      -H "X-App-Id: $app_id" -H "X-App-Token: $app_token" | json '["total"]')
    total=$((total + n))
  done
  echo "$total"
}
for _ in $(seq 120); do
  n=$(open_count) || break
  [ "$n" -eq 0 ] && break
  sleep 1
done
# -1: the server did not answer (counted as not delivered in the report).
left=$(open_count) || left=-1
failed=$(curl -fsS "$base/v1/webhook-sendouts?status=FAILED&limit=1" \
  -H "X-App-Id: $app_id" -H "X-App-Token: $app_token" | json '["total"]') || failed=-1

report_failed=0
python3 - "$dir/samples.csv" "$left" "$failed" <<'PY' || report_failed=1
import csv, sys
rows = [(int(r["seconds"]), int(r["rss_kib"]), int(r["fds"])) for r in csv.DictReader(open(sys.argv[1]))]
left, failed = int(sys.argv[2]), int(sys.argv[3])
warm = [r for r in rows if r[0] >= 60] or rows
third = max(1, len(warm) // 3)
first, last = warm[:third], warm[-third:]
avg = lambda rs, i: sum(r[i] for r in rs) / len(rs)
rss0, rss1 = avg(first, 1), avg(last, 1)
fd0, fd1 = avg(first, 2), avg(last, 2)
print(f"samples: {len(rows)}; RSS {rss0/1024:.1f} MiB -> {rss1/1024:.1f} MiB "
      f"(max {max(r[1] for r in rows)/1024:.1f}); fds {fd0:.0f} -> {fd1:.0f} (max {max(r[2] for r in rows)})")
print(f"send outs still open after the run: {left}; failed: {failed}")
flat_rss = rss1 <= rss0 * 1.2 + 10 * 1024
flat_fds = fd1 <= fd0 + 16
ok = flat_rss and flat_fds and left == 0 and failed == 0
print("memory: " + ("flat" if flat_rss else "GREW") + "; file descriptors: " + ("flat" if flat_fds else "GREW")
      + "; delivery: " + ("complete" if left == 0 and failed == 0 else "INCOMPLETE"))
sys.exit(0 if ok else 1)
PY

if [ "$load_failed" -ne 0 ]; then
  echo "==> FAILED: the load step had refused requests (see above)" >&2
fi
if [ "$load_failed" -ne 0 ] || [ "$report_failed" -ne 0 ]; then
  exit 1
fi
