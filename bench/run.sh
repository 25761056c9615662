#!/usr/bin/env bash
# bench/run.sh — packer-gateway and PostGraphile 4.14.1 side by side, in one run, on the SAME
# PostgreSQL tables (ours, created by our migrations), the same data, the same logical queries and
# the same load tool; then live fan-out at 100, 1,000 and 10,000 subscribers. Prints the table of
# issue 9 with both servers' figures and their ratio.
#
#   bench/run.sh              # everything: build, data set, both servers, figures, stop
#   DUR=3s FANOUT="100" bench/run.sh   # a seconds-long smoke (what CI may run)
#
# Knobs: WORK=/tmp/pgw-bench (private PostgreSQL data, logs, token), DUR=10s (each wrk run),
# CONC=32 (connections), FANOUT="100 1000 10000", EVENTS=10 (events per fan-out run),
# BIN (default: cargo build --profile dist into $CARGO_TARGET_DIR or target/), PG4 (PostGraphile's
# install directory, default ~/.cache/postgraphile-4.14.1), PORT_PG=55432, PORT_OURS=18080,
# PORT_V4=15050, KEEP=1 (leave everything running at the end), ONLY=fanout (only the fan-out runs:
# no PostGraphile, no wrk), FANOUT_CLIENT=rust (bench/fanout.rs, built with the server's profile:
# FANOUT_BIN, default the `fanout` example next to BIN) or node (bench/fanout.mjs).
# Needs: PostgreSQL 15 server binaries (/usr/lib/postgresql/15/bin) with pg_stat_statements,
# node >= 20 + npm, root (initdb runs as the postgres user). Installs wrk (apt) and PostGraphile
# 4.14.1 + ws (npm, under ~/.cache and $WORK) when missing. Binds 127.0.0.1 only; stops every
# process it started on exit.
#
# A benchmark, not a test: no figure is asserted. Timings on a shared, loaded machine are noisy;
# statement counts are exact.
# Adapted from the reference harness of issue 9 (../shared/bench/sidebyside.sh).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
WORK=${WORK:-/tmp/pgw-bench}
PG4=${PG4:-$HOME/.cache/postgraphile-4.14.1}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PORT_PG=${PORT_PG:-55432}; PORT_OURS=${PORT_OURS:-18080}; PORT_V4=${PORT_V4:-15050}
DUR=${DUR:-10s}; CONC=${CONC:-32}; FANOUT=${FANOUT:-100 1000 10000}; EVENTS=${EVENTS:-10}
ONLY=${ONLY:-}; FANOUT_CLIENT=${FANOUT_CLIENT:-rust}
export PGHOST=127.0.0.1 PGPORT=$PORT_PG PGUSER=postgres PGDATABASE=packer
DBURL="postgres://postgres@127.0.0.1:$PORT_PG/packer"
OURS=http://127.0.0.1:$PORT_OURS/graphql; V4=http://127.0.0.1:$PORT_V4/graphql
mkdir -p "$WORK"/{q,node}

say() { printf '\n== %s\n' "$*" >&2; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
wait_http() { for _ in $(seq 1 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer at $1" >&2; return 1; }

binary() {
  if [ -z "${BIN:-}" ]; then
    say "building the dist binary (the release profile with fat LTO: what a deployment runs)"
    (cd "$ROOT" && cargo build --profile dist --quiet --bin packer-gateway --example fanout)
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/dist/packer-gateway
  fi
  [ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }
  # The Rust fan-out client, built with the server's profile (the directory BIN is in).
  FANOUT_BIN=${FANOUT_BIN:-$(dirname "$BIN")/examples/fanout}
  if [ "$FANOUT_CLIENT" = rust ] && [ ! -x "$FANOUT_BIN" ]; then
    local profile; profile=$(basename "$(dirname "$BIN")"); [ "$profile" = debug ] && profile=dev
    say "building the fan-out client (profile $profile)"
    (cd "$ROOT" && cargo build --profile "$profile" --quiet --example fanout)
  fi
  [ "$FANOUT_CLIENT" = node ] || [ -x "$FANOUT_BIN" ] || { echo "no fan-out client at $FANOUT_BIN" >&2; exit 1; }
}

install_tools() {
  if [ "$ONLY" != fanout ]; then
  command -v wrk >/dev/null || { say "installing wrk"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
  if [ ! -x "$PG4/node_modules/.bin/postgraphile" ]; then
    say "installing PostGraphile 4.14.1 into $PG4"
    mkdir -p "$PG4" && (cd "$PG4" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error \
      postgraphile@4.14.1 @graphile-contrib/pg-simplify-inflector@6 >/dev/null)
  fi
  fi
  [ -d "$WORK/node/node_modules/ws" ] || (cd "$WORK/node" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error ws@8 >/dev/null)
  cp "$HERE/fanout.mjs" "$WORK/node/"
}

# The data set of issue 9 on a private PostgreSQL (bench/seed.sh, shared with bench/hostile.sh).
setup() { BIN=$BIN WORK=$WORK PGBIN=$PGBIN PORT_PG=$PORT_PG PORT_OURS=$PORT_OURS "$HERE/seed.sh"; }

start() {
  if ! alive "$WORK/ours.pid"; then
    # Every fan-out subscriber uses the one admin token: lift the per-principal and total socket
    # caps (defaults 100 and 10,000, see the README's hostile-traffic section) above the largest run.
    "$BIN" serve --listen "127.0.0.1:$PORT_OURS" --database-url "$DBURL" \
      --ws-max-sockets-per-principal 20000 --ws-max-sockets 20000 > "$WORK/ours.log" 2>&1 & echo $! > "$WORK/ours.pid"
  fi
  if [ "$ONLY" != fanout ] && ! alive "$WORK/v4.pid"; then
    (cd "$PG4" && NODE_ENV=production GRAPHILE_TURBO=1 exec node node_modules/.bin/postgraphile -c "$DBURL" --host 127.0.0.1 --port "$PORT_V4" \
      --schema public --append-plugins @graphile-contrib/pg-simplify-inflector --disable-query-log --legacy-relations omit \
      --disable-default-mutations > "$WORK/v4.log" 2>&1) & echo $! > "$WORK/v4.pid"
  fi
  wait_http "http://127.0.0.1:$PORT_OURS/healthz"; [ "$ONLY" = fanout ] || wait_http "$V4"
}

stop() {
  [ "${KEEP:-0}" = 1 ] && return
  for n in ours v4; do alive "$WORK/$n.pid" && kill "$(cat "$WORK/$n.pid")" 2>/dev/null || true; rm -f "$WORK/$n.pid"; done
  WORK=$WORK PGBIN=$PGBIN "$HERE/seed.sh" stop
}

# The same logical queries: a page of builds with nested relations, and one build by id.
list_query() { # server size
  if [ "$1" = ours ]; then
    echo "{ imageBuilds(first: $2, orderBy: [{field: ID, direction: DESC}]) { nodes { id status outputVmid startedAt completedAt definition { id name allowedTenants { name } } createdBy { username } } } }"
  else
    echo "{ imageBuilds(first: $2, orderBy: ID_DESC) { nodes { id status outputVmid startedAt completedAt definition { id name imageDefinitionTenantsByDefinitionId { nodes { tenant { name } } } } createdBy { username } } } }"
  fi
}
OURS_B='query($id: ID!) { imageBuild(id: $id) { id status outputVmid startedAt completedAt error } }'
V4_B='query($id: Int!) { imageBuild(id: $id) { id status outputVmid startedAt completedAt error } }'

queries() {
  for n in ours v4; do
    python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$(list_query $n 50)" > "$WORK/q/$n-a.json"
  done
  cat > "$WORK/q/post.lua" <<'LUA'
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"; wrk.body = f:read("*a"); f:close()
wrk.headers["Content-Type"] = "application/json"
local t = os.getenv("TOKEN"); if t and #t > 0 then wrk.headers["Authorization"] = "Bearer " .. t end
LUA
  cat > "$WORK/q/byid.lua" <<'LUA'
local q = os.getenv("QUERY"); local t = os.getenv("TOKEN")
wrk.method = "POST"; wrk.headers["Content-Type"] = "application/json"
if t and #t > 0 then wrk.headers["Authorization"] = "Bearer " .. t end
math.randomseed(os.time())
local qe = q:gsub('"', '\\"')
request = function()
  local id = math.random(1, 100000)
  local v = (os.getenv("IDSTR") == "1") and ('"' .. id .. '"') or tostring(id)
  return wrk.format(nil, nil, nil, '{"query":"' .. qe .. '","variables":{"id":' .. v .. '}}')
end
LUA
}

declare -A FIG
# wrk one server, one shape (a: list, b: by id), at `conc` connections: sets FIG[name,kind,conc,rps|p50]
one() {
  local name=$1 kind=$2 conc=$3 url=$V4 tok="" out threads=1
  [ "$name" = ours ] && { url=$OURS; tok=$(cat "$WORK/token"); }
  [ "$conc" -ge 2 ] && threads=2
  local cpu0; cpu0=$(cpu_ticks "$name")
  if [ "$kind" = a ]; then
    out=$(BODY_FILE="$WORK/q/$name-a.json" TOKEN="$tok" wrk -t$threads -c"$conc" -d"$DUR" --latency -s "$WORK/q/post.lua" "$url")
  else
    local q=$V4_B is=0; [ "$name" = ours ] && { q=$OURS_B; is=1; }
    out=$(QUERY="$q" IDSTR=$is TOKEN="$tok" wrk -t$threads -c"$conc" -d"$DUR" --latency -s "$WORK/q/byid.lua" "$url")
  fi
  # CPU per answer, of the server and of PostgreSQL (every backend, also those closed meanwhile).
  local cpu1 n; cpu1=$(cpu_ticks "$name"); n=$(echo "$out" | awk '/requests in/ {print $1}')
  FIG[$name,$kind,$conc,cpu]=$(python3 -c "import sys; a=sys.argv[1].split(); b=sys.argv[2].split(); t=$(getconf CLK_TCK); n=int(sys.argv[3]); print('%.2f + %.2f' % ((int(b[0])-int(a[0]))*1000/t/n, (int(b[1])-int(a[1]))*1000/t/n))" "$cpu0" "$cpu1" "$n")
  if echo "$out" | grep -q 'Non-2xx'; then echo "$name $kind: non-2xx answers: $(echo "$out" | grep Non-2xx)" >&2; fi
  # Answers that are not 200 (e.g. 503 when shed) are counted in wrk's req/s: the table says so.
  local bad; bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  FIG[$name,$kind,$conc,rps]=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')${bad:+ (of which $bad non-2xx)}
  FIG[$name,$kind,$conc,p50]=$(echo "$out" | awk '$1=="50%" { v=$2; if (v ~ /us$/) { sub(/us$/,"",v); v=v/1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v=v*1000 } printf "%.2f", v }')
  printf '%-5s %s conc=%-3s %8s req/s  p50 %s ms  CPU ms per answer (server + PostgreSQL) %s\n' "$name" "$kind" "$conc" "${FIG[$name,$kind,$conc,rps]}" "${FIG[$name,$kind,$conc,p50]}" "${FIG[$name,$kind,$conc,cpu]}" >&2
}

# cpu_ticks NAME: "server postgres" CPU clock ticks so far (utime + stime; PostgreSQL's postmaster
# with its children, live ones and those it has reaped).
cpu_ticks() {
  local pm s=0 p
  pm=$(head -1 "$WORK/pg/data/postmaster.pid")
  for p in $(pgrep -P "$pm"); do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$(awk '{print $14 + $15}' "/proc/$(cat "$WORK/$1.pid")/stat") $((s + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat")))"
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$(cat "$WORK/$1.pid")/status"; }

sql_calls() { psql -qtAc "select coalesce(sum(calls),0) from pg_stat_statements where query !~* 'pg_stat_statements|^(BEGIN|COMMIT|ROLLBACK|SET|SHOW|DISCARD|DEALLOCATE)'"; }

# statements per request, 20 requests of each shape, pg_stat_statements
sqlcount() {
  local n=$1 url=$V4 tok="" body
  [ "$n" = ours ] && { url=$OURS; tok=$(cat "$WORK/token"); }
  for size in 10 50 100; do
    body=$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$(list_query "$n" "$size")")
    psql -qtAc "select pg_stat_statements_reset()" >/dev/null
    for _ in $(seq 1 20); do curl -s -o /dev/null "$url" -H 'content-type: application/json' ${tok:+-H "authorization: Bearer $tok"} --data-binary "$body"; done
    sleep 0.3
    FIG[$n,sql,$size]=$(python3 -c "print(round($(sql_calls)/20, 1))")
  done
  psql -qtAc "select pg_stat_statements_reset()" >/dev/null
  for i in $(seq 1 20); do
    if [ "$n" = ours ]; then body=$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1], "variables": {"id": sys.argv[2]}}))' "$OURS_B" "$((i*17))")
    else body=$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1], "variables": {"id": int(sys.argv[2])}}))' "$V4_B" "$((i*17))"); fi
    curl -s -o /dev/null "$url" -H 'content-type: application/json' ${tok:+-H "authorization: Bearer $tok"} --data-binary "$body"
  done
  sleep 0.3
  FIG[$n,sql,id]=$(python3 -c "print(round($(sql_calls)/20, 1))")
}

ratio() { python3 -c "import sys; a,b=sys.argv[1],sys.argv[2]; print('%.1f×' % (float(a)/float(b)) if a and b and float(b) else '')" "$1" "$2" 2>/dev/null || true; }

main() {
  trap stop EXIT
  binary; install_tools; setup; start; queries
  local tok; tok=$(cat "$WORK/token")
  [ "$ONLY" = fanout ] || side_by_side "$tok"
  local fan=()
  for n in $FANOUT; do
    say "fan-out: $n subscribers, $EVENTS events ($FANOUT_CLIENT client)"
    ulimit -n 65536 2>/dev/null || true
    local r client=(node fanout.mjs)
    [ "$FANOUT_CLIENT" = node ] || client=("$FANOUT_BIN")
    r=$(cd "$WORK/node" && RSS_PID=$(cat "$WORK/ours.pid") SQL_RESET="psql -qtAc 'select pg_stat_statements_reset()'" \
      SQL_COUNT="psql -qtAc \"select coalesce(sum(calls),0) from pg_stat_statements where query !~* 'pg_stat_statements|^(BEGIN|COMMIT|ROLLBACK|SET|SHOW|DISCARD|DEALLOCATE)'\"" \
      "${client[@]}" "ws://127.0.0.1:$PORT_OURS/graphql" "$OURS" "$tok" "$n" "$EVENTS") || r='{}'
    echo "$r" >&2; fan+=("$r")
  done

  say "results (one run; timings on a shared machine are noisy, statement counts exact)"
  printf '| measured side by side, one run | packer-gateway | PostGraphile 4.14.1 | ratio |\n|---|---|---|---|\n'
  [ "$ONLY" = fanout ] || side_by_side_table
  for r in "${fan[@]}"; do
    python3 - "$r" "$FANOUT_CLIENT" <<'PY'
import json, sys
r = json.loads(sys.argv[1] or '{}')
if not r: print('| fan-out: failed (see above) | | | |'); sys.exit()
cpu = ''
if r.get('server_cpu_ms_per_event') is not None:
    cpu = f"; CPU per event: server {r['server_cpu_ms_per_event']} ms, {sys.argv[2]} client {r.get('client_cpu_ms_per_event')} ms"
print(f"| fan-out, {r['subscribers']} subscribers ({r['failed']} failed), {r['events']} events: delivered to all {r['delivered_all']}; "
      f"SQL per event {r['sql_per_event']}; p50 of median / last subscriber {r['sub_p50_ms']} / {r['last_ms_p50']} ms (worst last {r['last_ms_max']} ms); "
      f"RSS {r.get('rss_mb')} MB{cpu} | | | |")
PY
  done
}

# Both servers, the same queries: statements per request, then wrk.
side_by_side() {
  local tok=$1
  say "sanity: both answer the list with 50 nodes"
  for n in ours v4; do
    url=$OURS; t=$tok; [ $n = v4 ] && { url=$V4; t=; }
    curl -s "$url" -H 'content-type: application/json' ${t:+-H "authorization: Bearer $t"} --data-binary @"$WORK/q/$n-a.json" \
      | python3 -c "import json,sys; r=json.load(sys.stdin); n=r['data']['imageBuilds']['nodes']; assert len(n)==50, r; print('$n: 50 nodes, first', n[0]['definition']['name'])" >&2
  done
  FIG[ours,rss,idle]=$(rss_kb ours); FIG[v4,rss,idle]=$(rss_kb v4)
  say "statements per request (pg_stat_statements)"
  sqlcount ours; sqlcount v4
  say "load: wrk -c$CONC, $DUR each, interleaved"
  DUR=2s one ours a 8 >/dev/null 2>&1; DUR=2s one v4 a 8 >/dev/null 2>&1
  one ours a "$CONC"; one v4 a "$CONC"; one ours b "$CONC"; one v4 b "$CONC"
  one ours a 1; one v4 a 1; one ours b 1; one v4 b 1
  FIG[ours,rss,load]=$(rss_kb ours); FIG[v4,rss,load]=$(rss_kb v4)
}

side_by_side_table() {
  printf '| list: 50 newest builds with definition, allowedTenants, createdBy; req/s at %s connections | %s | %s | %s |\n' "$CONC" "${FIG[ours,a,$CONC,rps]}" "${FIG[v4,a,$CONC,rps]}" "$(ratio "${FIG[ours,a,$CONC,rps]}" "${FIG[v4,a,$CONC,rps]}")"
  printf '| by id: one build by a random id; req/s at %s connections | %s | %s | %s |\n' "$CONC" "${FIG[ours,b,$CONC,rps]}" "${FIG[v4,b,$CONC,rps]}" "$(ratio "${FIG[ours,b,$CONC,rps]}" "${FIG[v4,b,$CONC,rps]}")"
  printf '| list at 1 connection, p50 (ms) | %s | %s | %s |\n' "${FIG[ours,a,1,p50]}" "${FIG[v4,a,1,p50]}" "$(ratio "${FIG[v4,a,1,p50]}" "${FIG[ours,a,1,p50]}")"
  printf '| by id at 1 connection, p50 (ms) | %s | %s | %s |\n' "${FIG[ours,b,1,p50]}" "${FIG[v4,b,1,p50]}" "$(ratio "${FIG[v4,b,1,p50]}" "${FIG[ours,b,1,p50]}")"
  printf '| CPU per answer, server + PostgreSQL (ms): list at %s connections | %s | %s | |\n' "$CONC" "${FIG[ours,a,$CONC,cpu]}" "${FIG[v4,a,$CONC,cpu]}"
  printf '| CPU per answer, server + PostgreSQL (ms): by id at %s connections | %s | %s | |\n' "$CONC" "${FIG[ours,b,$CONC,cpu]}" "${FIG[v4,b,$CONC,cpu]}"
  for size in 10 50 100; do
    printf '| SQL statements per list request, page of %s | %s | %s | |\n' "$size" "${FIG[ours,sql,$size]}" "${FIG[v4,sql,$size]}"
  done
  printf '| SQL statements per by-id request | %s | %s | |\n' "${FIG[ours,sql,id]}" "${FIG[v4,sql,id]}"
  printf '| RSS idle / after load (MB) | %s / %s | %s / %s | |\n' "$(( ${FIG[ours,rss,idle]} / 1024 ))" "$(( ${FIG[ours,rss,load]} / 1024 ))" "$(( ${FIG[v4,rss,idle]} / 1024 ))" "$(( ${FIG[v4,rss,load]} / 1024 ))"
}
main "$@"
