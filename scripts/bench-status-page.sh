#!/usr/bin/env bash
# bench-status-page.sh — public status page requests/s of a release engine, measured with wrk.
#
# What it does
#   Starts a fresh `netpulse serve` (release build, SQLite in a temp dir, random free port on
#   127.0.0.1), creates N monitors (default 10) that check the engine's own /healthz once an
#   hour (so the page, and its ETag, stay the same during the run), seeds 90 days of hourly rollups for them straight into the SQLite file (so the page
#   computes full 90-day bars and 24 h / 7 d / 30 d / 90 d figures, not a nearly empty page),
#   publishes one status page with all of them, and runs wrk (installed from Debian if
#   missing) for a bounded time against:
#     /status/bench          the HTML page, full render
#     /status/bench.json     the same facts as JSON
#     /status/bench + If-None-Match: <its ETag>   the 304 answer a polling client gets
#   It prints wrk's output verbatim. Client and engine share the machine: the numbers are a
#   lower bound, more so while other work runs.
#
# Usage
#   scripts/bench-status-page.sh
#   env: BENCH_MONITORS=10 BENCH_SECS=10 BENCH_CONNS=32 BENCH_THREADS=2
#        BENCH_SKIP_BUILD=1 (use the existing target/release/netpulse)
#   Only 127.0.0.1 is contacted. Every wait is bounded; everything started is stopped on exit.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release/netpulse"
MONITORS="${BENCH_MONITORS:-10}"
SECS="${BENCH_SECS:-10}"
CONNS="${BENCH_CONNS:-32}"
THREADS="${BENCH_THREADS:-2}"
for v in "$MONITORS" "$SECS" "$CONNS" "$THREADS"; do
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "not a positive integer: $v" >&2; exit 2; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/netpulse-bench-status.XXXXXX")"
ENGINE_PID=""
cleanup() {
  if [[ -n "$ENGINE_PID" ]] && kill -0 "$ENGINE_PID" 2>/dev/null; then
    kill -TERM "$ENGINE_PID" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$ENGINE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$ENGINE_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v wrk >/dev/null; then
  echo "installing wrk (apt-get install -y wrk)…" >&2
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  echo "building release engine…" >&2
  (cd "$ROOT" && cargo build --release -p netpulse-engine --bin netpulse) >"$WORK/build.log" 2>&1 || {
    tail -n 30 "$WORK/build.log" >&2
    exit 1
  }
fi
[[ -x "$BIN" ]] || { echo "missing $BIN" >&2; exit 1; }

TOKEN="np_bench_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
NETPULSE_HTTP__LISTEN=127.0.0.1:0 \
  NETPULSE_STORAGE__DATA_DIR="$WORK/data" \
  NETPULSE_ADMIN_TOKEN="$TOKEN" \
  NETPULSE_LOG__LEVEL=warn \
  NETPULSE_MONITORS__MIN_INTERVAL_S=1 \
  "$BIN" serve >"$WORK/engine.log" 2>&1 &
ENGINE_PID=$!
BASE=""
for _ in $(seq 300); do
  [[ -z "$BASE" ]] && BASE="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$WORK/engine.log" | head -n 1 || true)"
  if [[ -n "$BASE" ]] && curl -fsS --max-time 2 "$BASE/healthz" >/dev/null 2>&1; then break; fi
  kill -0 "$ENGINE_PID" 2>/dev/null || { cat "$WORK/engine.log" >&2; exit 1; }
  sleep 0.1
done
curl -fsS --max-time 2 "$BASE/healthz" >/dev/null || { echo "engine not healthy" >&2; exit 1; }
echo "engine: pid $ENGINE_PID at $BASE" >&2

echo "seeding $MONITORS monitors, 90 days of hourly rollups and the status page…" >&2
python3 - "$BASE" "$TOKEN" "$MONITORS" "$WORK/data" <<'PY'
import glob, json, sqlite3, sys, time, urllib.request

base, token, n, data = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

def api(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)

ids = [api("POST", "/api/v1/monitors", {"name": f"bench-{i}", "kind": "http", "url": base + "/healthz",
                                         "interval_s": 3600, "timeout_ms": 900})["id"] for i in range(n)]
db = glob.glob(data + "/*.db") + glob.glob(data + "/*.sqlite*")
db = [p for p in db if not p.endswith(("-wal", "-shm"))]
con = sqlite3.connect(db[0], timeout=30)
tenant = con.execute("SELECT tenant_id FROM monitors LIMIT 1").fetchone()[0]
hour = 3_600_000
now_hour = int(time.time() * 1000) // hour * hour
rows = [(m, now_hour - k * hour, tenant, 60 - (k % 7 == 0), int(k % 7 == 0))
        for m in ids for k in range(1, 90 * 24)]
con.executemany("INSERT OR IGNORE INTO uptime_hourly (monitor_id, hour_start, tenant_id, up, down) VALUES (?,?,?,?,?)", rows)
con.commit()
api("POST", "/api/v1/status-pages", {"slug": "bench", "title": "Bench status", "message": "Benchmark page",
    "monitors": [{"monitor_id": m, "display_name": f"Service {i}", "group": "Core" if i % 2 else "Edge"}
                 for i, m in enumerate(ids)]})
print(f"seeded {len(rows)} hourly rollup rows for {n} monitors", file=sys.stderr)
PY
sleep 3 # the first live result of each monitor
ETAG="$(curl -fsS -D - -o /dev/null "$BASE/status/bench" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')"
curl -fsS -o /dev/null -w 'HTML page: %{size_download} bytes\n' "$BASE/status/bench"
curl -fsS -o /dev/null -w 'JSON page: %{size_download} bytes\n' "$BASE/status/bench.json"
[[ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $ETAG" "$BASE/status/bench")" == 304 ]] || {
  echo "the page did not answer 304 to its own ETag" >&2; exit 1; }

echo "nproc: $(nproc); wrk -t$THREADS -c$CONNS -d${SECS}s"
for target in "/status/bench" "/status/bench.json"; do
  echo "== GET $target"
  wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency "$BASE$target"
done
echo "== GET /status/bench with If-None-Match (304)"
wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency -H "If-None-Match: $ETAG" "$BASE/status/bench"
