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
# promtool (in Debian's prometheus package) for the metrics lint test
# (crates/netpulse-engine/tests/it/metrics.rs runs `promtool check metrics` on /metrics).
if ! command -v promtool >/dev/null 2>&1; then
    echo "test.sh: installing promtool (Debian's prometheus package)"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get install -y --no-install-recommends prometheus \
        || { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends prometheus; }
fi
if [ ! -d crates/netpulse-engine/tests/browser/node_modules ]; then
    (cd crates/netpulse-engine/tests/browser && npm ci --no-audit --no-fund)
fi

# The layers as absences (what each library crate must never link), before anything builds.
scripts/layers.sh

# The README's run command (`cargo run --release -- serve`) must resolve to the engine: a
# workspace with two binaries needs `default-members` for that. Checked on the debug build.
if [ ! -x "${CARGO_TARGET_DIR:-target}/debug/netpulse" ]; then
    echo "test.sh: building the engine and then the tests (the first build takes about 10 minutes on 2 cores)"
fi
cargo run -q -- --help > /dev/null
echo "test.sh: running the suite (about 6 minutes), then the API contract, then legs 2 and 3 (about 6 more)"

cargo nextest run --workspace --no-fail-fast "$@"

# The API contract: schemathesis (pinned, installed into a venv under target/ on first use)
# generates requests from the OpenAPI document and runs them against a spawned engine with
# fixtures of fixed ids; a server error, an answer the document does not describe, or input
# it forbids being accepted fails here. ~1-2 min (scripts/contract.sh).
scripts/contract.sh

# Leg 2: every engine integration test again on PostgreSQL through PgBouncer (transaction mode)
# and the Redis Streams queue. An exclusion list, so new tests join this leg by default. Left
# out, because they fix their own backends and leg 1 already ran them exactly as here:
# - queue::   the queue contract, on the in-process queue and on Redis (shared and private);
# - faults::, cluster::, fanout::, fleet::   two nodes or private PgBouncer/Redis, always PostgreSQL + Redis;
# - simulate::   the scenario simulator drives an in-process SQLite store under a virtual clock;
# - workers::durable::   SQLite + in-process queue on purpose: the commit-then-ack path exists
#   only with the in-process queue, and a SQLite write lock is what holds ingest back;
# - lifecycle's check-config tests run the CLI, which opens no store or queue;
# - lifecycle::data_   the SQLite data directory's file modes and its WAL checkpoint at shutdown.
# ~4-5 min on 2 shared cores.
NETPULSE_TEST_DB=pgbouncer NETPULSE_TEST_QUEUE=redis cargo nextest run -p netpulse-engine --no-fail-fast \
    -E 'binary(it) - test(/^queue::/) - test(/^faults::/) - test(/^cluster::/) - test(/^fanout::/) - test(/^fleet::/)
        - test(/^simulate::/) - test(/^workers::durable::/) - test(/^lifecycle::check_config_/)
        - test(/^lifecycle::secrets_are_not_printed_by_check_config$/) - test(/^lifecycle::data_/)' "$@"

# Leg 3: PgBouncer with the in-process queue, only where that path differs from leg 2: the
# gateway acknowledges a worker's results after they are committed to PostgreSQL (with Redis
# it acks at XADD), and a graceful shutdown drains the in-process queue into PostgreSQL.
NETPULSE_TEST_DB=pgbouncer NETPULSE_TEST_QUEUE=memory cargo nextest run -p netpulse-engine --no-fail-fast \
    -E 'binary(it) & ((test(/^workers::/) - test(/^workers::durable::/) - test(/^workers::partition::/))
        | test(/^lifecycle::shutdown_/))' "$@"
