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

cargo nextest run --workspace --no-fail-fast "$@"
