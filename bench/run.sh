#!/usr/bin/env bash
# The benchmark: one command, one table of figures with the budgets they are held to, every
# ratio taken within this run on this machine (see README "Performance").
#
#   bash bench/run.sh             # release build, SQLite then PostgreSQL (when reachable)
#   SMOKE=1 bash bench/run.sh     # seconds of tiny load on the debug build: it still runs (CI)
#
# Knobs: BACKENDS="sqlite postgres" DURATION=10s SESSIONS=10000 CHAINS=2000 STORED=1000000
# LOGIN_COST=12 PEER_DIR=../shared/peers/express-seed. Installs wrk (Debian) if missing; needs
# node + npm for the Express peer.
# Never part of a timed test.
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_DIR="$PWD/bench"

SMOKE=${SMOKE:-}
if [ -n "$SMOKE" ]; then
  DURATION=${DURATION:-1s}; SESSIONS=${SESSIONS:-200}; CHAINS=${CHAINS:-64}; STORED=${STORED:-5000}
  LOGIN_COST=${LOGIN_COST:-4}; PROFILE=debug; PROBE_SECONDS=1
else
  DURATION=${DURATION:-10s}; SESSIONS=${SESSIONS:-10000}; CHAINS=${CHAINS:-2000}; STORED=${STORED:-1000000}
  LOGIN_COST=${LOGIN_COST:-12}; PROFILE=release; PROBE_SECONDS=8
fi
BACKENDS=${BACKENDS:-"sqlite postgres"}
PG_BASE=${PORTCULLIS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
PORT=${PORT:-18282}; PORT_B=$((PORT + 1)); PEER_PORT=${PEER_PORT:-13000}
CORES=$(nproc)

command -v wrk >/dev/null 2>&1 || { sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd=sudo;
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq wrk >/dev/null; }
if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bin portcullis --example bcrypt_bound
else
  cargo build --quiet --bin portcullis --example bcrypt_bound
fi
BIN=target/$PROFILE/portcullis

WORK=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

# wrk with the shared status counter; prints "rate p50 p99 statuses…" on one line.
load() {
  local out; out=$(wrk -t2 -c"${CONNS:-64}" -d"$DURATION" --latency "$@")
  echo "$out" | awk '/Requests\/sec/ {r=$2} / 50%/ {m=$2} / 99%/ {p=$2} /^statuses/ {s=$2","$3","$4","$5}
    END {printf "%s %s %s %s\n", r, m, p, s}'
}
rss_mb() { awk -v f="$2" '$1 == f":" {printf "%d", $2 / 1024}' "/proc/$1/status"; }
ms() { # wrk's latency ("850.00us", "1.20ms", "2.01s") in milliseconds
  echo "$1" | awk '/us$/ {sub("us",""); print $0/1000; next} /ms$/ {sub("ms",""); print $0+0; next} /s$/ {sub("s",""); print $0*1000}'
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", (b > 0 ? 100 * a / b : 0)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", (b > 0 ? a / b : 0)}'; }
verdict() { awk "BEGIN {print (($1) ? \"met\" : \"**missed**\")}"; } # "met" when the awk condition holds
ROWS=()
row() { ROWS+=("| $1 | $2 | $3 | $4 |"); }

start_server() { # port database-url bcrypt-cost log; sets SERVER
  PORTCULLIS_ADDR=127.0.0.1:$1 DATABASE_URL=$2 BCRYPT_COST=$3 RUST_LOG=warn COOKIE_SECURE=false \
    JWT_SECRET=bench-access-secret-0123456789abcdef0123 JWT_REFRESH_SECRET=bench-refresh-secret-0123456789abcdef01 \
    AUTH_RATE_LIMIT_BURST=1000000 AUTH_RATE_LIMIT_REPLENISH_SECS=1 \
    "$BIN" serve > "$4" 2>&1 &
  SERVER=$!; PIDS+=("$SERVER")
  for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return; sleep 0.05; done
  echo "the server on port $1 did not start:"; cat "$4"; exit 1
}
stop_server() { kill "$1"; wait "$1" 2>/dev/null || true; }

# The Express peer (copied out: ../shared is read-only in CI), in its fastest form. Without it
# (PEER_DIR missing, e.g. a clone outside the workspace) its rows say so and its ratios are 0.
PEER_DIR=${PEER_DIR:-../shared/peers/express-seed}
PEER_ME=0; PEER_TOKEN=0
if [ -f "$PEER_DIR/server.js" ] && command -v npm >/dev/null 2>&1; then
  cp -r "$PEER_DIR/." "$WORK/peer"
  (cd "$WORK/peer" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  (cd "$WORK/peer" && PORT=$PEER_PORT KEYOBJ=1 exec node server.js >/dev/null 2>&1) & PIDS+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PEER_PORT/hello" >/dev/null && break; sleep 0.1; done
  PEER_PAIR=$(curl -s -H 'Content-Type: application/json' -d '{"username":"alice","password":"password123"}' \
    "http://127.0.0.1:$PEER_PORT/login")
  PEER_ACCESS=$(echo "$PEER_PAIR" | python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')
  export PEER_REFRESH; PEER_REFRESH=$(echo "$PEER_PAIR" | python3 -c 'import json,sys; print(json.load(sys.stdin)["refreshToken"])')
  read -r PEER_ME _ _ _ <<< "$(load -H "Authorization: Bearer $PEER_ACCESS" "http://127.0.0.1:$PEER_PORT/protected")"
  read -r PEER_TOKEN _ PEER_TOKEN_P99 _ <<< "$(load -s bench/peer_token.lua "http://127.0.0.1:$PEER_PORT/token")"
  row "Express peer \`GET /protected\`" "$PEER_ME req/s" "" ""
  row "Express peer \`POST /token\` (stateless, never revokes)" "$PEER_TOKEN req/s, p99 $PEER_TOKEN_P99" "" ""
else
  row "Express peer" "missing ($PEER_DIR or npm): skipped, its ratios read 0" "" ""
fi

BCRYPT_MS=$("target/$PROFILE/examples/bcrypt_bound" "$LOGIN_COST")
BOUND=$(awk -v c="$CORES" -v t="$BCRYPT_MS" 'BEGIN {printf "%.1f", c * 1000 / t}')
row "bcrypt verify at cost $LOGIN_COST" "$BCRYPT_MS ms → bound $BOUND sign-ins/s on $CORES cores" "" ""

FAILED=0
for backend in $BACKENDS; do
  case $backend in
    sqlite) URL="sqlite://$WORK/bench.db" ;;
    postgres)
      SCHEMA="bench_$$_$(date +%s)"
      if ! psql "$PG_BASE" -qc "CREATE SCHEMA $SCHEMA" >/dev/null 2>&1; then
        row "postgres" "unreachable: skipped" "" ""; continue
      fi
      URL="$PG_BASE?options=-csearch_path%3D$SCHEMA" ;;
  esac
  B="http://127.0.0.1:$PORT"

  # 1. The hot path, sessions created at a cheap cost (the set-up, not the measure).
  start_server "$PORT" "$URL" 4 "$WORK/server.log"
  IDLE_RSS=$(rss_mb "$SERVER" VmRSS)
  python3 bench/sessions.py "$B" "$SESSIONS" "$WORK/tokens" >/dev/null
  head -1 "$WORK/tokens" > "$WORK/one"
  read -r ME1 ME1_P50 ME1_P99 ME1_ST <<< "$(TOKENS=$WORK/one load -s bench/tokens.lua "$B/api/me")"
  read -r MEN MEN_P50 MEN_P99 MEN_ST <<< "$(TOKENS=$WORK/tokens load -s bench/tokens.lua "$B/api/me")"
  read -r ME401 _ _ _ <<< "$(TOKENS= load -s bench/tokens.lua "$B/api/me")"
  # The same requests with every token broken in its first character (refused before any
  # crypto): the load generator's and the server's cost of a request of this size.
  sed 's/^./!/' "$WORK/tokens" > "$WORK/broken"
  read -r ME401B _ _ _ <<< "$(TOKENS=$WORK/broken load -s bench/tokens.lua "$B/api/me")"
  row "$backend \`GET /api/me\`, one token" "$ME1 req/s, p50 $ME1_P50, p99 $ME1_P99" "" "$ME1_ST"
  row "$backend \`GET /api/me\`, $SESSIONS sessions round robin" "$MEN req/s, p50 $MEN_P50, p99 $MEN_P99" \
    "≥ 90 % of the 401: $(pct "$MEN" "$ME401") % $(verdict "$(pct "$MEN" "$ME401") >= 90") (without a token), $(pct "$MEN" "$ME401B") % $(verdict "$(pct "$MEN" "$ME401B") >= 90") (same-size broken token); ≥ 10× peer: $(ratio "$MEN" "$PEER_ME")× $(verdict "$(ratio "$MEN" "$PEER_ME") >= 10")" "$MEN_ST"
  row "$backend \`GET /api/me\`, 401 without a token" "$ME401 req/s" "" ""
  row "$backend \`GET /api/me\`, 401 for the same requests with each token broken" "$ME401B req/s" "" ""

  # 2. Rotations: CHAINS independent chains, 64 at a time, each token used once.
  head -"$CHAINS" "$WORK/tokens.refresh" > "$WORK/chains-a"
  sed -n "$((CHAINS + 1)),$((2 * CHAINS))p" "$WORK/tokens.refresh" > "$WORK/chains-b"
  read -r ROT ROT_P50 ROT_P99 ROT_ST <<< "$(TOKENS=$WORK/chains-a load -s bench/refresh.lua "$B/auth/refresh")"
  PEAK_RSS=$(rss_mb "$SERVER" VmHWM)
  if [ "$backend" = sqlite ]; then floor=100; else floor=50; fi
  row "$backend refresh rotations, 64 of $CHAINS chains at once (~$SESSIONS stored)" "$ROT/s, p50 $ROT_P50, p99 $ROT_P99" \
    "≥ $floor % of peer \`/token\`: $(pct "$ROT" "$PEER_TOKEN") % $(verdict "$(pct "$ROT" "$PEER_TOKEN") >= $floor"); p99 ≤ 25 ms $(verdict "$(ms "$ROT_P99") <= 25")" "$ROT_ST"
  stop_server "$SERVER"

  # 3. The same with STORED refresh tokens in the table.
  if [ "$backend" = sqlite ]; then
    HAVE=$(python3 bench/filler.py "$WORK/bench.db" "$STORED")
  else
    psql "$URL" -qAt -c "WITH s AS (SELECT id, row_number() OVER () - 1 AS k FROM sessions)
      INSERT INTO refresh_tokens
      SELECT md5(random()::text || n), s.id, md5(random()::text || n) || md5(n::text), 0, 4102444800, 1, NULL
      FROM generate_series(1, greatest(0, $STORED - (SELECT count(*) FROM refresh_tokens))) n
      JOIN s ON s.k = n % (SELECT count(*) FROM sessions)" >/dev/null
    HAVE=$(psql "$URL" -qAt -c "ANALYZE; SELECT count(*) FROM refresh_tokens" | tail -1)
  fi
  start_server "$PORT" "$URL" 4 "$WORK/server.log"
  read -r ROTM _ ROTM_P99 ROTM_ST <<< "$(TOKENS=$WORK/chains-b load -s bench/refresh.lua "$B/auth/refresh")"
  PEAK_RSS=$(( $(rss_mb "$SERVER" VmHWM) > PEAK_RSS ? $(rss_mb "$SERVER" VmHWM) : PEAK_RSS ))
  row "$backend refresh rotations with $HAVE stored tokens" "$ROTM/s, p99 $ROTM_P99" \
    "≥ 80 % of the rate above: $(pct "$ROTM" "$ROT") % $(verdict "$(pct "$ROTM" "$ROT") >= 80")" "$ROTM_ST"
  stop_server "$SERVER"

  # 4. Sign-ins at the real cost, and the hot path's latency while they hold every core.
  start_server "$PORT" "$URL" "$LOGIN_COST" "$WORK/server.log"
  SIGNUPS=()
  for n in $(seq 0 $((CORES * 4 - 1))); do
    curl -sf -o /dev/null -H 'Content-Type: application/json' \
      -d "{\"username\":\"login$n\",\"email\":\"login$n@example.com\",\"password\":\"a bench passphrase 42\"}" "$B/auth/signup" &
    SIGNUPS+=($!)
  done
  wait "${SIGNUPS[@]}"
  read -r P_IDLE50 P_IDLE99 _ _ <<< "$(python3 bench/probe.py "$B" "$WORK/tokens" "$PROBE_SECONDS")"
  USERS=$((CORES * 4)) CONNS=$((CORES * 4)) DURATION=$((${PROBE_SECONDS} + 2))s \
    load -s bench/login.lua "$B/auth/login" > "$WORK/logins" &
  STORM=$!; sleep 1
  read -r P_STORM50 P_STORM99 _ _ <<< "$(python3 bench/probe.py "$B" "$WORK/tokens" "$PROBE_SECONDS")"
  wait $STORM
  read -r LOGINS _ LOGIN_P99 LOGIN_ST < "$WORK/logins"
  PEAK_RSS=$(( $(rss_mb "$SERVER" VmHWM) > PEAK_RSS ? $(rss_mb "$SERVER" VmHWM) : PEAK_RSS ))
  row "$backend sign-ins at cost $LOGIN_COST, $((CORES * 4)) clients" "$LOGINS/s, p99 $LOGIN_P99" \
    "≥ 85 % of the bcrypt bound: $(pct "$LOGINS" "$BOUND") % $(verdict "$(pct "$LOGINS" "$BOUND") >= 85")" "$LOGIN_ST"
  row "$backend \`GET /api/me\` one user's latency (p50 / p99), idle → during the sign-ins" \
    "$P_IDLE50 / $P_IDLE99 ms → $P_STORM50 / $P_STORM99 ms" \
    "p99 ≤ 3× idle: $(ratio "$P_STORM99" "$P_IDLE99")× $(verdict "$(ratio "$P_STORM99" "$P_IDLE99") <= 3")" ""
  stop_server "$SERVER"
  row "$backend server RSS idle / peak under load" "$IDLE_RSS / $PEAK_RSS MB" \
    "≤ 20 / ≤ 60 MB $(verdict "$IDLE_RSS <= 20 && $PEAK_RSS <= 60")" ""

  # 5. Two instances on one PostgreSQL: both serve, revocations cross, nothing fails.
  if [ "$backend" = postgres ]; then
    start_server "$PORT" "$URL" 4 "$WORK/a.log"; A=$SERVER
    start_server "$PORT_B" "$URL" 4 "$WORK/b.log"; BB=$SERVER
    TOKENS=$WORK/tokens CONNS=32 load -s bench/tokens.lua "$B/api/me" > "$WORK/load-a" &
    LA=$!
    TOKENS=$WORK/tokens CONNS=32 load -s bench/tokens.lua "http://127.0.0.1:$PORT_B/api/me" > "$WORK/load-b" &
    LB=$!
    sleep 0.5
    CROSS=$(python3 bench/crossing.py "$B" "http://127.0.0.1:$PORT_B" "$WORK/tokens" 50)
    wait $LA $LB
    read -r RA _ PA SA < "$WORK/load-a"; read -r RB _ PB SB < "$WORK/load-b"
    row "two instances, \`GET /api/me\` on each at once" "A $RA req/s (p99 $PA), B $RB req/s (p99 $PB)" \
      "no 5xx: $(verdict "$(echo "$SA $SB" | grep -c '5xx=[1-9]') == 0")" "A $SA; B $SB"
    row "revocations made on A, refused on B" "${CROSS% *} within ${CROSS#* } ms" "all, ≤ 1 s $(verdict "${CROSS%%/*} == 50 && ${CROSS#* } <= 1000")" ""
    stop_server "$A"; stop_server "$BB"
  fi
  if grep -qE '5xx=[1-9]' <<< "${ROWS[*]}"; then FAILED=1; fi
  [ "$backend" = postgres ] && psql "$PG_BASE" -qc "SET client_min_messages = warning; DROP SCHEMA $SCHEMA CASCADE" >/dev/null
done

echo "# portcullis benchmark, $(date -u '+%F %H:%M') UTC, $CORES cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $PROFILE build"
echo "# wrk -t2 -c64 -d$DURATION on the same machine unless noted; ratios are within this run"
echo
echo "| figure | measured | budget | answers |"
echo "|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
if [ "$FAILED" = 1 ]; then echo "a server answered 5xx"; exit 1; fi
