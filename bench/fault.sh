#!/usr/bin/env bash
# Load and faults (SPEC §9, issue 13 item 6), in about three minutes: the service (debug build)
# on a PostgreSQL cluster of its own (initdb in a temporary directory, port $PG_PORT: the
# machine's shared PostgreSQL is never touched), under bench/fault.mjs's load — reads, queue /
# start / complete / cancel writes and $SUBSCRIBERS websocket subscribers — while this script
# restarts PostgreSQL twice and kills the service once (kill -9, then starts it again). The
# load's report says whether any acknowledged write was lost, any subscriber's events came out of
# order or went missing after its reconnection with afterEventId, and any 5xx other than 503 was
# answered; this script adds the service's resident memory over the run.
#
#   bench/fault.sh                      # DURATION=150 SUBSCRIBERS=1000
#   DURATION=60 SUBSCRIBERS=200 bench/fault.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-150}
SUBSCRIBERS=${SUBSCRIBERS:-1000}
PG_PORT=${PG_PORT:-55432}
SERVICE_PORT=${SERVICE_PORT:-18080}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/packer-gateway-target}"
ulimit -n 16384 2>/dev/null || true

log() { printf '[%5ss] %s\n' "$SECONDS" "$*" >&2; }

# BIN=path skips the build (a `cargo test` build's binary serves as well).
bin=${BIN:-}
if [ -z "$bin" ]; then
  cargo build --quiet --bin packer-gateway
  bin="$CARGO_TARGET_DIR/debug/packer-gateway"
fi
[ -d tests/tools/node_modules/ws ] || (cd tests/tools && npm ci --no-audit --no-fund --loglevel=error)

work=$(mktemp -d)
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$work"
as_postgres "$pgbin/initdb" -D "$work/pg" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
pg() { as_postgres "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w "$@" >/dev/null; }
pg_start() { pg -o "-p $PG_PORT -k $work -c listen_addresses=127.0.0.1 -c max_connections=200" start; }
pg_stop() { pg -m fast stop; }

url="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
service_pid=
service_start() {
  PACKER_GATEWAY_DATABASE_URL="$url" "$bin" serve --listen "127.0.0.1:$SERVICE_PORT" \
    --log-format json --ws-max-sockets-per-principal $((SUBSCRIBERS + 100)) \
    "$@" 2>>"$work/service.log" >/dev/null &
  service_pid=$!
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$SERVICE_PORT/healthz" >/dev/null 2>&1 && return
    sleep 0.1
  done
  log "the service did not start"; exit 1
}
rss() { awk '/VmRSS/ {print $2}' "/proc/$service_pid/status" 2>/dev/null || echo 0; }
cleanup() {
  [ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null || true
  [ -n "${load_pid:-}" ] && kill "$load_pid" 2>/dev/null || true
  pg_stop 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

pg_start
service_start --demo
token=$("$bin" --database-url "$url" token create --user admin --description fault | grep -o 'pgw_[A-Za-z0-9_-]*' | head -n1)
log "service and PostgreSQL up; $SUBSCRIBERS subscribers, $DURATION s of load"

BASE="http://127.0.0.1:$SERVICE_PORT" TOKEN="$token" DURATION="$DURATION" SUBSCRIBERS="$SUBSCRIBERS" \
  node bench/fault.mjs >"$work/report.json" &
load_pid=$!

# The faults, spread over the run; memory sampled every 5 s.
samples=()
fault_at=(0.25 0.5 0.75)
t0=$SECONDS
next=0
while kill -0 "$load_pid" 2>/dev/null; do
  elapsed=$((SECONDS - t0))
  if [ "$next" -lt 3 ] && awk "BEGIN {exit !($elapsed >= ${fault_at[$next]} * ($DURATION + 5))}"; then
    case $next in
      0|2) log "PostgreSQL restart"; pg_stop; sleep 3; pg_start; log "PostgreSQL back" ;;
      1) log "service killed (SIGKILL)"; kill -9 "$service_pid"; wait "$service_pid" 2>/dev/null || true
         sleep 2; service_start; log "service restarted"; samples=() ;;
    esac
    next=$((next + 1))
  fi
  samples+=("$(rss)")
  sleep 5
done
wait "$load_pid" && ok=1 || ok=0
report=$(cat "$work/report.json")
# Memory of the process that ran last, from its first sample after the kill to its last.
first=${samples[2]:-${samples[0]:-0}}; last=${samples[-1]:-0}
max=$(printf '%s\n' "${samples[@]}" | sort -n | tail -n1)
echo "$report"
echo "{\"rssKiB\": {\"afterWarmUp\": $first, \"max\": $max, \"last\": $last}}"
awk "BEGIN {exit !($last <= $first * 1.5 + 20000)}" || { log "memory grew"; ok=0; }
# grep -c exits 1 when it counts nothing: the count is the answer either way.
errors=$(grep -c '"level":"ERROR"' "$work/service.log" || true)
printf '{"serviceErrorLines": %s}\n' "${errors:-0}"
[ "$ok" = 1 ] && log "fault run: OK" || { log "fault run: FAILED"; exit 1; }
