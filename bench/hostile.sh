#!/usr/bin/env bash
# Reproduces the cases of issue 14 (hostile and overload traffic) in short runs and prints each
# figure next to its limit: see bench/hostile.py for the cases and the environment it reads.
#   bench/hostile.sh            # builds the release binary, runs on a fresh SQLite file
#   BIN=target/debug/packer-gateway SCALE=0.5 bench/hostile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  export BIN="${CARGO_TARGET_DIR:-target}/release/packer-gateway"
fi
exec python3 bench/hostile.py
