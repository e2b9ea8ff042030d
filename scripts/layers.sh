#!/usr/bin/env bash
# The layering invariants as absences: what each library crate must never link, transitively
# (`cargo tree`, normal dependencies). Crate dependencies point down (core ← checker ← store ←
# pipeline ← web ← engine); the compiler stops a lower crate importing a higher one, and this
# stops a lower crate growing a dependency that belongs to a layer above. Run by test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

failed=0
absent() { # absent CRATE 'crate|crate…' WHY
    local found
    found=$(cargo tree -q -p "$1" -e normal --prefix none | awk '{print $1}' | sort -u | grep -xE "$2" | tr '\n' ' ' || true)
    if [ -n "$found" ]; then
        echo "layers.sh: $1 links ${found}— $3" >&2
        failed=1
    fi
}

absent netpulse-core 'tokio|hyper|rustls|rusqlite|tokio-postgres|redis|axum' \
    "the domain does no I/O: no async runtime, database, HTTP or TLS crate"
absent netpulse-checker 'rusqlite|tokio-postgres|redis|axum|maud' \
    "a regional worker links no database, queue or web code"
absent netpulse-store 'hyper|rustls|redis|axum|maud' \
    "the store knows no HTTP, TLS, queue or web"
absent netpulse-pipeline 'axum|maud|argon2' \
    "the pipeline renders nothing for browsers and holds no accounts"
[ "$failed" -eq 0 ] && echo "layers.sh: every crate links only what its layer may"
exit "$failed"
