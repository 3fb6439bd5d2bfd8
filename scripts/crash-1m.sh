#!/usr/bin/env bash
# The crash test at release size: kill -9 of `crisisgraph ingest dtm` halfway through a 1,000,000-row
# DTM admin2 ingest, on PostgreSQL and SQLite. Loopback only; stops by itself (every wait is bounded).
# Usage: scripts/crash-1m.sh [ROWS]   (needs a release build: cargo build --release -p crisisgraph -p crisisgraph-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-1000000}"
TARGET="${CARGO_TARGET_DIR:-target}/release"
PG_ADMIN="${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}"
PORT=18931
WORK=$(mktemp -d /tmp/crisisgraph-crash.XXXXXX)
"$TARGET/crisisgraph-bench" --rows "$ROWS" --serve-only "$PORT" --duration 1800 --work "$WORK" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 1; done

ENVS=(DATABASE_URL=unset CRISISGRAPH_DTM_URL="http://127.0.0.1:$PORT" CRISISGRAPH_HDX_URL="http://127.0.0.1:$PORT"
  CRISISGRAPH_DTM_KEY=k CRISISGRAPH_LEASE_SECONDS=5 CRISISGRAPH_SCHEDULE_GEOGRAPHY=off CRISISGRAPH_SCHEDULE_DTM=off
  CRISISGRAPH_SCHEDULE_CATALOG=off CRISISGRAPH_SCHEDULE_POPULATION=off CRISISGRAPH_SCHEDULE_FUNDING=off
  CRISISGRAPH_SCHEDULE_SITES=off RUST_LOG=warn)
# `env` execs crisisgraph in its own process, so `$!` of `cg ... &` is crisisgraph itself.
cg() { env "${ENVS[@]}" DATABASE_URL="$DB" "$TARGET/crisisgraph" "$@"; }

# One checksum line per data table. (The DTM dataset and resource entries are registered when a run
# starts, outside its data transaction, so they are left out here: the baseline has had no DTM run.)
checksums() {
  for t in countries admin_areas area_aliases idp_figures population_figures sites appeals \
           appeal_countries appeal_clusters funding_outside_appeals; do
    if [[ "$KIND" == postgres ]]; then
      echo "$t $(psql "$DB" -Atqc "SELECT COUNT(*) || ' ' || COALESCE(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '') FROM $t t")"
    else
      echo "$t $(sqlite3 "$DB" "SELECT * FROM $t ORDER BY 1" | md5sum | cut -c1-32) $(sqlite3 "$DB" "SELECT COUNT(*) FROM $t")"
    fi
  done
}
writing() {
  if [[ "$KIND" == postgres ]]; then
    [[ "$(psql "$DB" -Atqc "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL AND (query LIKE '%idp_staging%' OR query LIKE '%idp_figures%')")" != 0 ]]
  else
    # fetched and archived, and a transaction holds the write lock: the run's data transaction
    [[ "$(sqlite3 "$DB" "SELECT COUNT(*) FROM fetches f JOIN ingest_runs r ON r.id = f.run_id WHERE r.status = 'running' AND f.http_status = 200 AND f.url LIKE '%admin2%'" 2>/dev/null)" =~ ^[1-9] ]] \
      && ! sqlite3 -cmd ".timeout 0" "$DB" "BEGIN IMMEDIATE; ROLLBACK;" >/dev/null 2>&1
  fi
}

for KIND in postgres sqlite; do
  if [[ "$KIND" == postgres ]]; then
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS cg_crash WITH (FORCE)" -c "CREATE DATABASE cg_crash"
    DB="${PG_ADMIN%/*}/cg_crash"
  else
    DB="$WORK/crash.db"
  fi
  cg ingest geography --country HTI >/dev/null 2>&1
  BEFORE=$(checksums)
  START=$(date +%s.%N)
  env "${ENVS[@]}" DATABASE_URL="$DB" "$TARGET/crisisgraph" ingest dtm --country HTI --levels 2 >/dev/null 2>&1 &
  CHILD=$!
  # seen twice in a row, so that a lease heartbeat's brief write is not mistaken for it
  for _ in $(seq 1 3000); do writing && sleep 0.1 && writing && break; kill -0 $CHILD 2>/dev/null || break; sleep 0.1; done
  if ! kill -0 $CHILD 2>/dev/null; then echo "$KIND: FAIL the ingest ended before it could be killed"; exit 1; fi
  kill -9 $CHILD; wait $CHILD 2>/dev/null || true
  KILLED_AT=$(echo "$(date +%s.%N) - $START" | bc)
  AFTER=$(checksums)
  if [[ "$BEFORE" == "$AFTER" ]]; then SAME=yes; else SAME=NO; echo "$BEFORE"; echo "$AFTER"; fi
  sleep 12   # the lease (5 s) expires
  NEXT_START=$(date +%s.%N)
  cg ingest dtm --country HTI --levels 2 >/dev/null 2>&1 && NEXT=succeeded || NEXT=FAILED
  NEXT_SECONDS=$(echo "$(date +%s.%N) - $NEXT_START" | bc)
  STATUSES=$(cg runs --source dtm --limit 2 2>/dev/null | tr -s ' ' | cut -c1-160)
  echo "$KIND: killed after ${KILLED_AT}s while writing; store as before: $SAME; next run: $NEXT in ${NEXT_SECONDS}s"
  echo "$STATUSES"
  grep -q interrupted <<<"$STATUSES" && grep -q succeeded <<<"$STATUSES" || NEXT=FAILED
  [[ "$KIND" == postgres ]] && psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS cg_crash WITH (FORCE)"
  [[ "$SAME" == yes && "$NEXT" == succeeded ]] || exit 1
done
