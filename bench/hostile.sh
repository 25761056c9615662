#!/usr/bin/env bash
# Reproduces the cases of issue 14 (hostile and overload traffic) and prints each figure next to
# its limit: see bench/hostile.py for the cases and the environment it reads.
#   bench/hostile.sh            # dist build (release with fat LTO); PostgreSQL with issue 9's data set (bench/seed.sh)
#   SQLITE=1 bench/hostile.sh   # a fresh SQLite file instead
#   BIN=… OVERLOAD=… CONNECTIONS=200 SECONDS=5 bench/hostile.sh
# The private PostgreSQL (WORK, PORT_PG as bench/run.sh's: seeded once, shared) is stopped at the
# end.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ] || [ -z "${OVERLOAD:-}" ]; then
  cargo build --profile dist --quiet --bin packer-gateway --example overload
  export BIN="${BIN:-${CARGO_TARGET_DIR:-target}/dist/packer-gateway}"
  export OVERLOAD="${OVERLOAD:-${CARGO_TARGET_DIR:-target}/dist/examples/overload}"
fi
if [ -z "${DATABASE_URL:-}" ] && [ "${SQLITE:-0}" != 1 ]; then
  export WORK=${WORK:-/tmp/pgw-bench} PORT_PG=${PORT_PG:-55432}
  trap 'bench/seed.sh stop' EXIT
  bench/seed.sh
  TOKEN=$(cat "$WORK/token")
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT_PG/packer" TOKEN
fi
python3 bench/hostile.py
