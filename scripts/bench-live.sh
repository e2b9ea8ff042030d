#!/usr/bin/env bash
# Check-to-dashboard latency: P50/P95/P99 at 1,000 and 5,000 results/s (or the rates given),
# through a real engine (SQLite, default ingest settings) to an SSE client.
# Usage: scripts/bench-live.sh [rate …] [--secs N] [--monitors N]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -q -p netpulse-engine --example bench_live -- "$@"
