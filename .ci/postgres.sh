#!/usr/bin/env bash
# The record's tests need a PostgreSQL on 127.0.0.1:5432 that trusts local connections
# (HELPLINE_TEST_POSTGRES). Use the one running; otherwise install (Debian) and start a cluster.
set -euo pipefail

if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  exit 0
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v pg_ctlcluster >/dev/null && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
  as_root pg_createcluster "$version" main -- --auth-local=trust --auth-host=trust
fi
cluster=$(pg_lsclusters -h | head -1 | awk '{print $1" "$2}')
as_root pg_ctlcluster $cluster start || true
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && exit 0
  sleep 1
done
echo "PostgreSQL did not start on 127.0.0.1:5432" >&2
exit 1
