#!/usr/bin/env bash
# bench/callgrind.sh — instructions per request of a release binary, counted by valgrind's
# callgrind: a count, not a time, so it repeats on a loaded machine and compares two builds.
#
#   bench/callgrind.sh BIN [BIN…]     e.g. main's binary and a branch's, side by side
#
# For each binary and each request kind (issue 9's list of bench/run.sh, one build by id) it
# starts the server under callgrind on a copy of the same SQLite database (the --demo data: 500
# builds), sends 2 warm-up requests (documents parsed and validated, token remembered), then N
# more over one keep-alive connection, and stops it; a second run sends only the warm-up. Printed: (total
# instructions of the process with N − without) / N. Background work is kept out of the window
# (its intervals set far apart, jemalloc's background thread off).
# Env: WORK=/tmp/pgw-callgrind, N_LIST=500, N_BYID=2000, PORT=18991. Needs valgrind, curl,
# python3, sqlite3.
# On PostgreSQL: DATABASE_URL=postgres://… and TOKEN=<an admin token> (e.g. the data set of
# bench/seed.sh: DATABASE_URL=postgres://postgres@127.0.0.1:55432/packer TOKEN=$(cat
# /tmp/pgw-bench/token)); only the server's instructions are counted, not PostgreSQL's.
# ANNOTATE=1 keeps each binary's profile of N requests (callgrind_annotate it) in $WORK.
set -euo pipefail
[ $# -ge 1 ] || { sed -n 2,14p "$0"; exit 1; }
WORK=${WORK:-/tmp/pgw-callgrind}; N_LIST=${N_LIST:-500}; N_BYID=${N_BYID:-2000}
PORT=${PORT:-18991}
mkdir -p "$WORK"
wait_http() { for _ in $(seq 1 600); do curl -s -o /dev/null "$1" && return 0; sleep 0.5; done; echo "no answer at $1" >&2; return 1; }

cat > "$WORK/load.py" <<'PY'
# load.py PORT TOKEN KIND N: N requests of KIND over one keep-alive connection, each a 200
# without errors.
import http.client, json, sys
port, token, kind, n, ids = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
LIST = ("{ imageBuilds(first: 50, orderBy: [{field: ID, direction: DESC}]) { nodes { id status "
        "outputVmid startedAt completedAt definition { id name allowedTenants { name } } "
        "createdBy { username } } } }")
BYID = "query($id: ID!) { imageBuild(id: $id) { id status outputVmid startedAt completedAt error } }"
conn = http.client.HTTPConnection("127.0.0.1", port)
headers = {"content-type": "application/json", "authorization": "Bearer " + token}
for i in range(n):
    body = {"query": LIST} if kind == "list" else {
        "query": BYID, "variables": {"id": str(1 + (i * 17) % ids)}}
    conn.request("POST", "/graphql", json.dumps(body), headers)
    answer = conn.getresponse()
    data = answer.read()
    if answer.status != 200 or b'"errors"' in data:
        sys.exit(f"{kind}: {answer.status} {data[:300]!r}")
PY

# The database, once, with the first binary: the demo data, checkpointed into one file.
if [ -n "${DATABASE_URL:-}" ]; then
  [ -n "${TOKEN:-}" ] || { echo "DATABASE_URL needs TOKEN" >&2; exit 1; }
  echo "$TOKEN" > "$WORK/token"; IDS=100000
elif [ ! -s "$WORK/base.db" ]; then
  rm -f "$WORK"/base.db*
  "$1" serve --demo --database-url "sqlite://$WORK/base.db" --listen "127.0.0.1:$PORT" > "$WORK/first.log" 2>&1 & p=$!
  wait_http "http://127.0.0.1:$PORT/healthz"; kill "$p"; wait "$p" || true
  grep -o 'pgw_[A-Za-z0-9_-]*' "$WORK/first.log" | head -1 > "$WORK/token"
  sqlite3 "$WORK/base.db" 'PRAGMA wal_checkpoint(TRUNCATE);' > /dev/null
fi
TOKEN=$(cat "$WORK/token"); IDS=${IDS:-500}

# total BIN KIND N: the instructions of one server's life with 2 + N requests of KIND.
total() {
  local dir="$WORK/run"; rm -rf "$dir"; mkdir -p "$dir"; [ -n "${DATABASE_URL:-}" ] || cp "$WORK/base.db" "$dir/db"
  _RJEM_MALLOC_CONF=background_thread:false valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
    "$1" serve --database-url "${DATABASE_URL:-sqlite://$dir/db}" --listen "127.0.0.1:$PORT" \
    --reaper-interval 100000 --credentials-poll-interval 100000 --event-poll-interval 100000 \
    --log-poll-interval 100000 > "$dir/server.log" 2>&1 & local vg=$!
  wait_http "http://127.0.0.1:$PORT/healthz"
  python3 "$WORK/load.py" "$PORT" "$TOKEN" "$2" 2 "$IDS"
  [ "$3" -gt 0 ] && python3 "$WORK/load.py" "$PORT" "$TOKEN" "$2" "$3" "$IDS"
  kill -TERM "$vg"; wait "$vg" || true
  [ "${ANNOTATE:-0}" = 1 ] && [ "$3" -gt 0 ] && cp "$dir/cg.out" "$WORK/$(basename "$1")-$2.cg.out"
  grep -E '^(summary|totals):' "$dir/cg.out" | head -1 | awk '{print $2}'
}

printf '%-50s %15s %15s\n' binary "list Ir/req" "by id Ir/req"
for bin in "$@"; do
  list=$(( ($(total "$bin" list "$N_LIST") - $(total "$bin" list 0)) / N_LIST ))
  byid=$(( ($(total "$bin" byid "$N_BYID") - $(total "$bin" byid 0)) / N_BYID ))
  printf '%-50s %15s %15s\n' "$bin" "$list" "$byid"
done
