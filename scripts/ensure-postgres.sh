#!/usr/bin/env bash
# Make sure the PostgreSQL server answers and the database named by $1 exists (UTF-8 collation,
# because text search on Chinese needs a UTF-8 LC_CTYPE). Under CI=true a missing server is fatal.
set -euo pipefail
url=${1:?usage: ensure-postgres.sh postgres://user@host:port/dbname}
db=${url##*/}
base=${url%/*}
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "civicgrid: PostgreSQL is not answering on 127.0.0.1:5432" >&2
  exit 1
fi
if ! psql "$base/postgres" -tAc "select 1 from pg_database where datname='$db'" | grep -q 1; then
  psql "$base/postgres" -q -c "create database \"$db\" encoding 'UTF8' lc_collate 'C.UTF-8' lc_ctype 'C.UTF-8' template template0"
fi
