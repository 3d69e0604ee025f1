#!/usr/bin/env bash
# Makes sure the PostgreSQL the tests use answers on 127.0.0.1:5432 (user postgres, trust
# authentication on loopback), idempotently: nothing happens if it already accepts connections;
# otherwise the `postgresql` package is installed if its server binaries are missing, a cluster
# is created if there is none, and the cluster is started. The story suite and the multi-node
# tests create (and drop) a database of their own per test on it; the multi-node restart test
# also runs a private server with these binaries (see crates/sendout/tests/it/multinode/).
set -euo pipefail

HOST=127.0.0.1
PORT=5432
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

ready() { pg_isready -q -h "$HOST" -p "$PORT" 2>/dev/null; }

if command -v pg_isready >/dev/null && ready; then
  echo "PostgreSQL accepts connections on $HOST:$PORT"
  exit 0
fi

installed_now=no
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "installing postgresql"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q postgresql
  installed_now=yes
fi

version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$version" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  echo "creating PostgreSQL $version cluster main on port $PORT"
  $SUDO pg_createcluster "$version" main -p "$PORT" -- --auth=trust
elif [ "$installed_now" = yes ]; then
  # The package's fresh cluster asks for passwords; the tests connect as postgres without one.
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  $SUDO sed -i -E 's/^(local|host)(\s+all\s+all\s+.*)(peer|md5|scram-sha-256)$/\1\2trust/; s/^(local\s+all\s+postgres\s+)peer$/\1trust/' "$hba"
fi

$SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 30); do
  if ready; then
    echo "PostgreSQL $version accepts connections on $HOST:$PORT"
    exit 0
  fi
  sleep 1
done
echo "PostgreSQL did not come up on $HOST:$PORT; see /var/log/postgresql/" >&2
exit 1
