#!/usr/bin/env bash
# The hot path: GET /api/me with one token and with 10,000 sessions (round robin), the same
# route's 401, and the seeds' Express server's /protected, in one run, on SQLite and PostgreSQL.
#
#   bash bench/revocation.sh             # SESSIONS=10000 DURATION=10s BACKENDS="sqlite postgres"
#
# Needs wrk and node (wrk is installed from Debian's packages if missing). Not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null 2>&1 || { sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd=sudo;
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq wrk; }
cargo build --release --quiet

PORT=${PORT:-18282}; PEER_PORT=${PEER_PORT:-13000}
BASE="http://127.0.0.1:$PORT"
SESSIONS=${SESSIONS:-10000}; DURATION=${DURATION:-10s}
BACKENDS=${BACKENDS:-"sqlite postgres"}
PG_BASE=${PORTCULLIS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
WORK=$(mktemp -d)
SERVER=""; PEER=""
trap 'kill $SERVER $PEER 2>/dev/null || true; rm -rf "$WORK"' EXIT

rate() { wrk -t2 -c64 -d"$DURATION" --latency "$@" | awk '/Requests\/sec/ {r=$2} / 99%/ {p=$2} / 50%/ {m=$2} END {printf "%s req/s, p50 %s, p99 %s", r, m, p}'; }

# The Express peer, copied out of the read-only shared folder.
cp -r ../shared/peers/express-seed/. "$WORK/peer"
(cd "$WORK/peer" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
(cd "$WORK/peer" && PORT=$PEER_PORT KEYOBJ=1 node server.js >/dev/null 2>&1) & PEER=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PEER_PORT/hello" >/dev/null && break; sleep 0.1; done
PEER_TOKEN=$(curl -s -H 'Content-Type: application/json' -d '{"username":"alice","password":"password123"}' \
  "http://127.0.0.1:$PEER_PORT/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')

echo "# $(date -u +%F), $(nproc) cores, wrk -t2 -c64 -d$DURATION on the same machine"
echo "| route | result |"
echo "|---|---|"
echo "| Express seed GET /protected | $(rate -H "Authorization: Bearer $PEER_TOKEN" "http://127.0.0.1:$PEER_PORT/protected") |"
for backend in $BACKENDS; do
  case $backend in
    sqlite) URL="sqlite://$WORK/bench.db" ;;
    postgres)
      SCHEMA="bench_$(date +%s)"
      psql "$PG_BASE" -qc "CREATE SCHEMA $SCHEMA" 2>/dev/null || { echo "| postgres | unreachable: skipped |"; continue; }
      URL="$PG_BASE?options=-csearch_path%3D$SCHEMA" ;;
  esac
  PORTCULLIS_ADDR=127.0.0.1:$PORT DATABASE_URL=$URL RUST_LOG=warn COOKIE_SECURE=false BCRYPT_COST=4 \
    JWT_SECRET=bench-access-secret-0123456789abcdef0123 JWT_REFRESH_SECRET=bench-refresh-secret-0123456789abcdef01 \
    AUTH_RATE_LIMIT_BURST=1000000 AUTH_RATE_LIMIT_REPLENISH_SECS=1 \
    ./target/release/portcullis serve > "$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done
  python3 bench/sessions.py "$BASE" "$SESSIONS" "$WORK/tokens" >/dev/null
  head -1 "$WORK/tokens" > "$WORK/one"
  echo "| $backend GET /api/me, one token | $(TOKENS=$WORK/one rate -s bench/tokens.lua "$BASE/api/me") |"
  echo "| $backend GET /api/me, $SESSIONS sessions | $(TOKENS=$WORK/tokens rate -s bench/tokens.lua "$BASE/api/me") |"
  echo "| $backend GET /api/me, 401 (no token) | $(rate "$BASE/api/me") |"
  echo "| $backend server RSS after the load | $(( $(awk '/VmRSS/ {print $2}' /proc/$SERVER/status) / 1024 )) MB |"
  kill $SERVER; wait $SERVER 2>/dev/null || true; SERVER=""
  if [ "$backend" = postgres ]; then psql "$PG_BASE" -qc "SET client_min_messages = warning; DROP SCHEMA $SCHEMA CASCADE"; fi
done
