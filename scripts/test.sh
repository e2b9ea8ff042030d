#!/usr/bin/env bash
# The whole NetPulse test suite: unit, store, integration and CLI tests against real local
# servers on 127.0.0.1 (targets, webhook receivers, TLS, DNS). Installs what is missing,
# idempotently, then runs the tests with cargo-nextest.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "test.sh: installing cargo-nextest"
    cargo install cargo-nextest --locked
fi

# PostgreSQL, PgBouncer (transaction mode) and Redis on 127.0.0.1: the store contract suite
# runs on SQLite, on PostgreSQL directly and through PgBouncer.
scripts/services.sh

# Headless Chromium (Debian's package) and playwright-core for the browser test
# (crates/netpulse-engine/tests/it/browser.rs runs tests/browser/live.mjs with node).
if [ ! -x /usr/bin/chromium ]; then
    echo "test.sh: installing chromium"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get install -y chromium || { $sudo apt-get update && $sudo apt-get install -y chromium; }
fi
if [ ! -d crates/netpulse-engine/tests/browser/node_modules ]; then
    (cd crates/netpulse-engine/tests/browser && npm ci --no-audit --no-fund)
fi

cargo nextest run --workspace --no-fail-fast "$@"

# The engine's end-to-end scenarios again, on PostgreSQL through PgBouncer and the Redis queue
# (~1 min).
NETPULSE_TEST_DB=pgbouncer NETPULSE_TEST_QUEUE=redis cargo nextest run -p netpulse-engine --no-fail-fast \
    -E 'binary(it) & (test(alerting) | test(api) | test(heartbeat))' "$@"
