#!/usr/bin/env bash
# The API contract: schemathesis (a pinned version, in a venv under target/) generates requests
# from the OpenAPI document (crates/netpulse-web/src/api/openapi.json) and runs them against a
# freshly spawned engine whose fixtures have fixed ids (a monitor, a channel, a status page, a
# maintenance window, a token, an invitation, a heartbeat monitor): no answer may be a server
# error, every answer must match the document (status, content type, body schema, the one error
# shape), and input the document forbids must be refused. A drift between the code and the
# document fails the run. Run by scripts/test.sh; ~1-2 min on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION=4.32.5
target_dir="${CARGO_TARGET_DIR:-target}"
venv="$target_dir/schemathesis"
if ! "$venv/bin/st" --version 2>/dev/null | grep -qx "st, version $ST_VERSION"; then
    echo "contract.sh: installing schemathesis $ST_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "schemathesis==$ST_VERSION"
fi
cargo build -q --bin netpulse
bin="$target_dir/debug/netpulse"

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export NP_TOKEN="np_contract_owner_token_0123456789abcdef"
export NP_BASE="http://127.0.0.1:$port"
NETPULSE_HTTP__LISTEN="127.0.0.1:$port" NETPULSE_STORAGE__DATA_DIR="$work/data" NETPULSE_ADMIN_TOKEN="$NP_TOKEN" \
    NETPULSE_LOG__LEVEL=warn "$bin" serve > "$work/engine.log" 2>&1 &
engine=$!
stop() {
    kill -INT "$engine" 2>/dev/null && wait "$engine" || true
    rm -rf "$work"
}
trap stop EXIT
for _ in $(seq 1 100); do
    curl -sf "$NP_BASE/readyz" > /dev/null && break
    sleep 0.1
done

# The fixtures, through the API; their ids are what schemathesis puts in the paths.
api() { # METHOD PATH [JSON] -> the answer's `id`
    curl -sf -X "$1" "$NP_BASE/api/v1$2" -H "authorization: Bearer $NP_TOKEN" \
        -H 'content-type: application/json' ${3:+--data "$3"} |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
export NP_MONITOR NP_CHANNEL NP_PAGE NP_WINDOW NP_API_TOKEN NP_INVITATION NP_HEARTBEAT
export NP_MONITOR_DELETED NP_CHANNEL_DELETED NP_PAGE_DELETED
monitor='{"name":"db","kind":"tcp","host":"db.example.com","port":5432,"paused":true}'
channel='{"name":"ops","kind":"webhook","url":"https://example.com/hook"}'
page() { echo "{\"slug\":\"$1\",\"title\":\"Status\",\"monitors\":[{\"monitor_id\":\"$NP_MONITOR\",\"display_name\":\"DB\"}]}"; }
NP_MONITOR="$(api POST /monitors "$monitor")"
NP_MONITOR_DELETED="$(api POST /monitors "$monitor")"
NP_CHANNEL="$(api POST /channels "$channel")"
NP_CHANNEL_DELETED="$(api POST /channels "$channel")"
NP_PAGE="$(api POST /status-pages "$(page status)")"
NP_PAGE_DELETED="$(api POST /status-pages "$(page gone)")"
NP_WINDOW="$(api POST "/monitors/$NP_MONITOR/maintenance" '{"duration_s":3600,"reason":"upgrade"}')"
NP_API_TOKEN="$(api POST /tokens '{"name":"ci","scope":"read"}')"
NP_INVITATION="$(api POST /invitations '{"email":"guest@example.com","role":"viewer"}' 2>/dev/null || echo inv_none)"
heartbeat="$(api POST /monitors '{"name":"cron","kind":"heartbeat","interval_s":60,"paused":true}')"
NP_HEARTBEAT="$(curl -sf "$NP_BASE/api/v1/monitors/$heartbeat" -H "authorization: Bearer $NP_TOKEN" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["heartbeat_url"].rsplit("/", 1)[1])')"

started=$(date +%s)
status=0
"$venv/bin/st" --config-file scripts/schemathesis.toml run "$NP_BASE/api/v1/openapi.json" \
    --seed 17 --no-color "$@" || status=$?
echo "contract.sh: schemathesis $ST_VERSION ran $(( $(date +%s) - started )) s (exit $status)"
if [ "$status" -ne 0 ]; then
    echo "contract.sh: the engine's log:"; tail -50 "$work/engine.log"
fi
exit "$status"
