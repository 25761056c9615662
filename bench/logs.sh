#!/usr/bin/env bash
# One build writing 1,000 log lines per second (appendBuildLog, 50 lines every 50 ms, with a live
# buildLog subscriber) against 40 queue/start/complete cycles of other builds: prints how long
# the transitions take and how long their events take to reach a buildStatusChanged subscriber,
# quiet and under that load, with the ratio. About 30 s. A debug build on a shared machine:
# read the ratios, not the absolute figures. TEST_DATABASE_URL=postgres://… runs it on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
nice cargo test --test it logs_bench::bench_log_load -- --ignored --nocapture --test-threads=1 2>&1 \
  | sed -n '/^build logs under load/,/^mutation → subscriber, p95/p'
