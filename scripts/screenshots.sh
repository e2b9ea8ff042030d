#!/bin/sh
# Regenerate the README and docs screenshots from the tree: build the engine, start it with
# the read-only demo (`serve --demo`) on a free local port and a throwaway data directory,
# and let headless Chromium (playwright-core, as the browser tests use) take
#   docs/dashboard.png, docs/dashboard-dark.png       a monitor page of the demo (last 24 h)
#   docs/status-page.png, docs/status-page-dark.png   the demo's status page during an outage
#   docs/tour/*.png                                    every main page of the demo, a phone, dark
# (crates/netpulse-engine/tests/browser/screenshots.mjs). Needs node and /usr/bin/chromium
# (scripts/test.sh installs them). Usage: scripts/screenshots.sh   (plain sh)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
cargo build -q -p netpulse-engine --bin netpulse
browser=crates/netpulse-engine/tests/browser
[ -d "$browser/node_modules/playwright-core" ] || (cd "$browser" && npm ci --no-audit --no-fund)

data=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token="np_screenshots_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
NETPULSE_HTTP__LISTEN="127.0.0.1:$port" NETPULSE_STORAGE__DATA_DIR="$data" NETPULSE_ADMIN_TOKEN="$token" \
    "$target/debug/netpulse" serve --demo >"$data/engine.log" 2>&1 &
engine=$!
trap 'kill $engine 2>/dev/null; wait $engine 2>/dev/null; rm -rf "$data"' EXIT INT TERM

# Wait (up to a minute) for the engine to answer.
i=0
until curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 120 ]; then echo "screenshots.sh: the engine did not start:" >&2; cat "$data/engine.log" >&2; exit 1; fi
    sleep 0.5
done

(cd "$browser" && NP_BASE="http://127.0.0.1:$port" NP_OUT="$root/docs" node screenshots.mjs)
echo "screenshots.sh: wrote docs/dashboard.png, docs/dashboard-dark.png, docs/status-page.png, docs/status-page-dark.png, docs/tour/"
