#!/usr/bin/env bash
# The load benchmark: sign-in and refresh latency, and protected-route throughput, on SQLite
# and (when reachable) PostgreSQL, against the release binary.
#
#   bash bench/run.sh              # both backends
#   BACKENDS=sqlite bash bench/run.sh
#
# Needs wrk (installed from Debian's packages if missing). Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v wrk >/dev/null 2>&1 || { sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd=sudo;
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq wrk; }
cargo build --release --quiet

PORT=${PORT:-18181}
BASE="http://127.0.0.1:$PORT"
BACKENDS=${BACKENDS:-"sqlite postgres"}
PG_BASE=${PORTCULLIS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

echo "# $(date -u +%F) $(nproc) cores, $(rustc --version)"
for backend in $BACKENDS; do
  case $backend in
    sqlite) URL="sqlite://$WORK/bench.db" ;;
    postgres)
      SCHEMA="bench_$(date +%s)"
      psql "$PG_BASE" -qc "CREATE SCHEMA $SCHEMA" || { echo "PostgreSQL unreachable: skipped"; continue; }
      URL="$PG_BASE?options=-csearch_path%3D$SCHEMA" ;;
  esac
  PORTCULLIS_ADDR=127.0.0.1:$PORT DATABASE_URL=$URL RUST_LOG=warn COOKIE_SECURE=false \
    JWT_SECRET=bench-access-secret-0123456789abcdef0123 JWT_REFRESH_SECRET=bench-refresh-secret-0123456789abcdef01 \
    AUTH_RATE_LIMIT_BURST=1000000 AUTH_RATE_LIMIT_REPLENISH_SECS=1 DATABASE_POOL_SIZE=${POOL:-10} \
    ./target/release/portcullis serve > "$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done

  echo "## $backend (BCRYPT_COST=12)"
  OUT=$(python3 bench/latency.py "$BASE" "${LOGINS:-20}" "${REFRESHES:-300}")
  echo "$OUT" | grep -v '^TOKEN='
  TOKEN=$(echo "$OUT" | sed -n 's/^TOKEN=//p')
  echo "GET /api/me (Bearer, revocation check cached), wrk -t2 -c64 -d10s:"
  wrk -t2 -c64 -d10s -H "Authorization: Bearer $TOKEN" "$BASE/api/me" | grep -E "Requests/sec|Latency|requests in"
  echo "server RSS after load: $(( $(awk '/VmRSS/ {print $2}' /proc/$SERVER/status) / 1024 )) MB"
  kill $SERVER; wait $SERVER 2>/dev/null || true
  [ "$backend" = postgres ] && psql "$PG_BASE" -qc "DROP SCHEMA $SCHEMA CASCADE"
done
