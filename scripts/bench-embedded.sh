#!/usr/bin/env bash
# bench-embedded.sh — idle CPU and memory of the embedded engine under a steady monitor load.
#
# What it measures
#   For each monitor count N (default 1000), a fresh `netpulse serve` (release build, empty
#   temp data dir, random free port) runs N HTTP monitors at a 20 s interval against a local
#   target server on 127.0.0.1. The target runs as a SEPARATE process (python3 asyncio), so
#   its CPU is not counted. After a warm-up (default 40 s) the engine process is sampled once
#   a second for a window (default 60 s):
#     CPU %   = Δ(utime+stime of /proc/PID/stat) / CLK_TCK / wall seconds × 100
#               i.e. percent of ONE core (100 = one core fully busy; 200 = both of 2 cores).
#     RSS     = VmRSS of /proc/PID/status, averaged and maxed over the window;
#               HWM = VmHWM (peak RSS since start, including monitor creation).
#     checks  = Δ sum(netpulse_checks_total) over the window from /metrics, shown per
#               second next to the expected rate N / interval; "skip" is the Δ of
#               netpulse_checks_skipped_total (checker saturated) and "down" the Δ of
#               checks with outcome down/error (should be 0: the target always answers 200).
#
# How to read it
#   Product goal: 1,000 monitors @ 20 s must beat Gatus on the same machine (Gatus: ~3 % of
#   one core, 76–88 MiB RSS), and 10,000 monitors must stay below 150 MB RSS (≈143 MiB).
#   "chk/s obs" should match "exp" within a few percent; a lower value means checks are
#   late or skipped, and the CPU figure then understates the real cost. "host busy" is how
#   busy the whole machine was (all cores, % of one core) during the window — a concurrent
#   build inflates scheduling noise but not the engine's own CPU time much. The per-thread
#   line shows where the engine's CPU went (tokio workers vs. blocking SQLite pool, etc.).
#
# Usage
#   scripts/bench-embedded.sh [N ...]          e.g. scripts/bench-embedded.sh 1000 10000
#   env: BENCH_NS="1000 10000"  BENCH_WARMUP_S=40  BENCH_WINDOW_S=60  BENCH_INTERVAL_S=20
#        BENCH_SKIP_BUILD=1 (use the existing target/release/netpulse)
#        BENCH_KEEP=1 (keep the temp dir with engine/target logs for inspection)
#   Only 127.0.0.1 is contacted. Every wait is bounded; everything started is killed on exit.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release/netpulse"

read -r -a NS <<<"${BENCH_NS:-1000}"
if (($# > 0)); then NS=("$@"); fi
WARMUP_S="${BENCH_WARMUP_S:-40}"
WINDOW_S="${BENCH_WINDOW_S:-60}"
INTERVAL_S="${BENCH_INTERVAL_S:-20}"
for v in "${NS[@]}" "$WARMUP_S" "$WINDOW_S" "$INTERVAL_S"; do
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "not a positive integer: $v" >&2; exit 2; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/netpulse-bench.XXXXXX")"
TARGET_PID=""
ENGINE_PID=""

stop_pid() { # stop_pid PID: TERM, wait up to 15 s, then KILL
  local pid="$1" i
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  stop_pid "$ENGINE_PID"
  stop_pid "$TARGET_PID"
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
    echo "kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. build ---------------------------------------------------------------------------------
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  echo "building release engine (cargo build --release -p netpulse-engine)…" >&2
  (cd "$ROOT" && cargo build --release -p netpulse-engine) >"$WORK/build.log" 2>&1 || {
    tail -n 30 "$WORK/build.log" >&2
    exit 1
  }
fi
[[ -x "$BIN" ]] || { echo "missing $BIN" >&2; exit 1; }

# --- 2. target server (separate process) --------------------------------------------------------
# asyncio rather than ThreadingHTTPServer: one thread per connection at 500 conn/s (10k monitors)
# would itself eat a core of a 2-core box. Answers any request with 200 "ok" and closes.
python3 -u - "$WORK/target.port" >"$WORK/target.log" 2>&1 <<'PY' &
import asyncio, sys

RESP = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"

async def handle(reader, writer):
    try:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        writer.write(RESP)
        await writer.drain()
    except Exception:
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    import os
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    async with server:
        await server.serve_forever()

asyncio.run(main())
PY
TARGET_PID=$!
for ((i = 0; i < 100; i++)); do [[ -s "$WORK/target.port" ]] && break; sleep 0.1; done
[[ -s "$WORK/target.port" ]] || { echo "target server did not start" >&2; cat "$WORK/target.log" >&2; exit 1; }
TARGET_PORT="$(cat "$WORK/target.port")"
curl -fsS --max-time 5 "http://127.0.0.1:$TARGET_PORT/" >/dev/null
echo "target server: pid $TARGET_PID on 127.0.0.1:$TARGET_PORT" >&2

TOKEN="np_bench_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
CLK_TCK="$(getconf CLK_TCK)"
ROWS=()
DETAILS=()

# --- 3–5. one run per N ---------------------------------------------------------------------------
run_one() {
  local n="$1" dir="$WORK/run-$1" base="" i
  mkdir -p "$dir"
  echo "== N=$n: starting engine" >&2
  NETPULSE_HTTP__LISTEN=127.0.0.1:0 \
    NETPULSE_STORAGE__DATA_DIR="$dir/data" \
    NETPULSE_ADMIN_TOKEN="$TOKEN" \
    NETPULSE_LOG__LEVEL=warn \
    NETPULSE_MONITORS__MIN_INTERVAL_S="$INTERVAL_S" \
    NETPULSE_MONITORS__MAX_PER_TENANT=0 \
    "$BIN" serve >"$dir/engine.log" 2>&1 &
  ENGINE_PID=$!
  for ((i = 0; i < 300; i++)); do
    if [[ -z "$base" ]]; then
      base="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$dir/engine.log" | head -n 1 || true)"
    fi
    if [[ -n "$base" ]] && curl -fsS --max-time 2 "$base/healthz" >/dev/null 2>&1; then break; fi
    kill -0 "$ENGINE_PID" 2>/dev/null || { cat "$dir/engine.log" >&2; return 1; }
    sleep 0.1
  done
  curl -fsS --max-time 2 "$base/healthz" >/dev/null || { echo "engine not healthy" >&2; return 1; }

  echo "== N=$n: creating $n monitors (pid $ENGINE_PID, $base)" >&2
  local t0=$SECONDS
  python3 - "$base" "$TOKEN" "$n" "$TARGET_PORT" "$INTERVAL_S" <<'PY'
import http.client, json, sys, threading, time, urllib.parse

base, token, n, tport, interval = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
u = urllib.parse.urlsplit(base)
deadline = time.monotonic() + 600
errors = []

def worker(ids):
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    hdrs = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    for i in ids:
        if errors:
            return
        if time.monotonic() > deadline:
            errors.append("deadline passed")
            return
        body = json.dumps({"name": f"bench-{i}", "kind": "http",
                           "url": f"http://127.0.0.1:{tport}/m/{i}", "interval_s": interval})
        try:
            conn.request("POST", "/api/v1/monitors", body, hdrs)
            r = conn.getresponse()
            data = r.read()
        except Exception as e:  # reconnect once
            conn.close()
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            conn.request("POST", "/api/v1/monitors", body, hdrs)
            r = conn.getresponse()
            data = r.read()
        if r.status != 201:
            errors.append(f"monitor {i}: HTTP {r.status}: {data[:300]!r}")
            return

threads = [threading.Thread(target=worker, args=(range(k, n, 4),)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
if errors:
    sys.exit("creation failed: " + errors[0])
PY
  echo "== N=$n: created in $((SECONDS - t0)) s; warm-up ${WARMUP_S} s, then ${WINDOW_S} s window" >&2
  sleep "$WARMUP_S"
  kill -0 "$ENGINE_PID" 2>/dev/null || { echo "engine died" >&2; tail -n 30 "$dir/engine.log" >&2; return 1; }

  local out
  out="$(python3 - "$ENGINE_PID" "$TARGET_PID" "$base" "$TOKEN" "$n" "$INTERVAL_S" "$WINDOW_S" "$CLK_TCK" <<'PY'
import collections, datetime, json, os, sys, time, urllib.request

pid, tpid, base, token, n, interval, window, tck = sys.argv[1:9]
n, interval, window, tck = int(n), int(interval), int(window), int(tck)

def ticks(path):
    with open(path) as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()
    return int(rest[11]) + int(rest[12])  # utime, stime (fields 14, 15)

def status_kib(key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0

def threads():
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            out[tid] = (name, ticks(f"/proc/{pid}/task/{tid}/stat"))
        except OSError:
            pass
    return out

def host_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)  # busy (minus idle, iowait), total

def metrics():
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    m = collections.defaultdict(float)
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, val = line.rsplit(" ", 1)
        m[name] = float(val)
    return m

def checks(m):
    return sum(v for k, v in m.items() if k.startswith("netpulse_checks_total{"))

m0, th0, hb0 = metrics(), threads(), host_busy()
c0, tc0, w0 = ticks(f"/proc/{pid}/stat"), ticks(f"/proc/{tpid}/stat"), time.monotonic()
rss = []
while time.monotonic() - w0 < window:
    time.sleep(1)
    rss.append(status_kib("VmRSS"))
c1, tc1, w1 = ticks(f"/proc/{pid}/stat"), ticks(f"/proc/{tpid}/stat"), time.monotonic()
m1, th1, hb1 = metrics(), threads(), host_busy()
hwm, threads_n = status_kib("VmHWM"), len(th1)
wall = w1 - w0

cpu = (c1 - c0) / tck / wall * 100
tcpu = (tc1 - tc0) / tck / wall * 100
host = (hb1[0] - hb0[0]) / max(1, hb1[1] - hb0[1]) * os.cpu_count() * 100
d = lambda k: m1.get(k, 0) - m0.get(k, 0)
done = checks(m1) - checks(m0)
bad = d('netpulse_checks_total{outcome="down"}') + d('netpulse_checks_total{outcome="error"}')
obs, exp = done / wall, n / interval
lag_n = d("netpulse_scheduler_dispatch_lag_ms_count")
lag = d("netpulse_scheduler_dispatch_lag_ms_sum") / lag_n if lag_n else 0
ib_n = d("netpulse_ingest_batch_ms_count")
ib = d("netpulse_ingest_batch_ms_sum") / ib_n if ib_n else 0
c2i_n = d("netpulse_check_to_ingest_ms_count")
c2i = d("netpulse_check_to_ingest_ms_sum") / c2i_n if c2i_n else 0

# Per-thread CPU in the window (tokio names workers and blocking-pool threads alike, so by tid).
per = collections.Counter()
for tid, (name, t1) in th1.items():
    per[f"{name}/{tid}"] = t1 - th0.get(tid, (name, 0))[1]
busy_threads = sum(1 for v in per.values() if v)
thread_txt = ", ".join(f"{k}={v / tck / wall * 100:.1f}%" for k, v in per.most_common(6) if v)

# Freshness: monitors whose last check is within 2 intervals of now.
req = urllib.request.Request(base + "/api/v1/monitors", headers={"Authorization": "Bearer " + token})
with urllib.request.urlopen(req, timeout=60) as r:
    data = json.load(r)["data"]
now = datetime.datetime.now(datetime.timezone.utc)
fresh = 0
for mon in data:
    t = (mon.get("status") or {}).get("last_checked_at")
    if t and (now - datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))).total_seconds() <= 2 * interval:
        fresh += 1

mib = lambda kib: kib / 1024
print("ROW", f"{n:>6} {obs:>9.1f} {exp:>7.1f} {obs / exp * 100:>5.0f}% {int(d('netpulse_checks_skipped_total')):>5} "
      f"{int(bad):>5} {cpu:>6.1f} {mib(sum(rss) / len(rss)):>8.1f} {mib(max(rss)):>7.1f} {mib(hwm):>7.1f} "
      f"{tcpu:>6.1f} {host:>6.0f}")
print("DETAIL", f"N={n}: window {wall:.1f} s, {int(done)} checks (expected {exp * wall:.0f}); "
      f"monitors checked within {2 * interval} s: {fresh}/{len(data)}; dispatch lag avg {lag:.1f} ms; "
      f"ingest {int(ib_n)} batches avg {ib:.1f} ms, check->commit avg {c2i:.1f} ms; "
      f"in flight now {int(m1.get('netpulse_checks_in_flight', 0))}; {threads_n} threads ({busy_threads} used CPU); "
      f"top threads: {thread_txt or 'none'}")
PY
)"
  ROWS+=("$(sed -n 's/^ROW //p' <<<"$out")")
  DETAILS+=("$(sed -n 's/^DETAIL //p' <<<"$out")")
  echo "== N=$n: $(sed -n 's/^ROW //p' <<<"$out")" >&2
  stop_pid "$ENGINE_PID"
  ENGINE_PID=""
  rm -rf "$dir/data"
}

for n in "${NS[@]}"; do
  run_one "$n"
done

# --- 6. report ----------------------------------------------------------------------------------
echo
echo "netpulse embedded engine: ${INTERVAL_S} s interval, warm-up ${WARMUP_S} s, window ${WINDOW_S} s, $(nproc) cores"
echo "CPU = % of one core; RSS in MiB; target = the separate target server's CPU; host = whole-machine busy (% of one core)"
printf '%6s %9s %7s %6s %5s %5s %6s %8s %7s %7s %6s %6s\n' \
  monitors "chk/s obs" exp ratio skip down "CPU%" "RSS avg" "RSS max" "HWM" target host
for row in "${ROWS[@]}"; do echo "$row"; done
for det in "${DETAILS[@]}"; do echo "  $det"; done
