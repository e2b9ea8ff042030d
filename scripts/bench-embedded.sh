#!/usr/bin/env bash
# bench-embedded.sh — idle CPU and memory of the embedded engine under a steady monitor load.
#
# What it measures
#   Each run "N@I" starts a fresh `netpulse serve` (the `dist` build, as deployed, empty temp data dir, random
#   free port) with N HTTP monitors at an I-second interval against a local target server on
#   127.0.0.1 (N = 0: no monitors, the idle engine). The target runs as a SEPARATE process
#   (python3 asyncio), so its CPU is not counted. After a warm-up (default 40 s) the engine
#   process is sampled once a second for a window (default 60 s):
#     CPU s/1k = Δ(utime+stime of /proc/PID/stat) / CLK_TCK per 1,000 checks done in the window:
#               the cost per check, which a busy machine inflates less than wall-clock figures.
#     CPU %   = the same CPU time / wall seconds × 100 (percent of ONE core).
#     RSS     = VmRSS of /proc/PID/status, averaged and maxed over the window;
#               HWM = VmHWM (peak RSS since start, including monitor creation).
#     lag p99 = from the target's side: per monitor, how much later than its earliest arrival
#               in the window (on the I-second grid) each request arrived; p99 over all.
#     B/check = bytes stored per check, measured with dbstat after a graceful stop: the
#               check_results table and its indexes per row, plus the hourly rollup's bytes
#               per row spread over the 3600/I checks one rollup row holds at steady state.
#               The keys of the narrow layout (result_monitors, result_origins: one row per
#               monitor and per region/worker) are shown apart, per monitor, in the details.
#     checks  = Δ sum(netpulse_checks_total) over the window from /metrics, shown per
#               second next to the expected rate N / I; "skip" is the Δ of
#               netpulse_checks_skipped_total (checker saturated) and "down" the Δ of
#               checks with outcome down/error (should be 0: the target always answers 200).
#     floor   = the same checks' least possible cost on this machine: right after the engine's window
#               (engine stopped), a minimal C client (compiled here with cc -O2) makes the same
#               number of requests per second for 20 s against the same target — blocking
#               connect, one GET, read to EOF, close, nothing else — and its own CPU seconds per
#               1,000 are shown. Most of it is the kernel's loopback TCP (both ends' packets are
#               processed in the sender's context); "CPU s/1k" minus "floor" is the engine's own
#               cost per check. "-" when no C compiler is found.
#     load    = the 1-minute load average at the end of the window (2 cores: above ~2 the
#               machine was busy and the figures are noisier; rerun then).
#
# How to read it
#   Issue #21 goals: ≤ 0.12 CPU s per 1,000 checks at 50 checks/s (1000@20) and ≤ 0.08 at
#   ~200/s (2000@10); RSS ≤ 15 MiB idle, ≤ 20 MiB at 100 monitors, ≤ 40 at 1,000, < 100 at
#   10,000; ≤ 120 bytes stored per check; idle CPU ≈ 0. "chk/s obs" should match "exp"
#   within a few percent; a lower value means checks are late or skipped. "host" is how busy
#   the whole machine was (all cores, % of one core). The per-thread line shows where the
#   engine's CPU went (tokio workers vs. the blocking SQLite pool, etc.).
#
# Usage
#   scripts/bench-embedded.sh [RUN ...]      RUN = N or N@I, e.g. scripts/bench-embedded.sh 0 1000@20;
#     wN@I (e.g. w1000@20): the same checks made by a regional worker instead — the engine serves
#     region "bench" through its gateway (a CA made in the run's data dir), one netpulse-worker
#     checks the monitors, and the row's CPU, RSS and threads are the WORKER's, per result the
#     engine stored (netpulse_results_ingested_total); the engine's own CPU is in the details.
#   default runs: 0 100@20 1000@20 10000@20 2000@10 (idle, the three sizes, ~200 checks/s)
#   env: BENCH_RUNS="0 1000@20"  BENCH_WARMUP_S=40  BENCH_WINDOW_S=60  BENCH_INTERVAL_S=20 (for N)
#        BENCH_SKIP_BUILD=1 (use the existing target/dist/netpulse; CARGO_TARGET_DIR honoured)
#        BENCH_WORKER_BIN=path (the worker for wN@I runs; default next to BENCH_BIN's engine)
#        BENCH_BIN=path (measure that binary instead, e.g. a copy of an older build; implies no build)
#        BENCH_PERF=1 (perf record the window; top 15 self-time frames in the details)
#        BENCH_PERF_ARGS="--call-graph dwarf" (more perf record options)
#        BENCH_FLOOR_S=20 (seconds of the floor client per run; 0 = skip it)
#        BENCH_KEEP=1 (keep the temp dir with engine/target logs and perf data for inspection)
#        BENCH_COLD=1 (drop the engine binary's pages from the page cache before each start)
#   Memory: the details line splits the resident set (smaps) into the binary's text, its
#   read-only pages, its written pages (relocated data), mimalloc's arena, glibc's heap (SQLite),
#   thread stacks and other libraries. How much of the binary is resident depends on the page
#   cache as much as on the code run: the kernel maps the cached pages around a faulting one
#   (fault-around; more with large page-cache folios), so a binary just built or copied shows
#   more resident text than the same binary started cold; compare builds with BENCH_COLD=1.
#   Only 127.0.0.1 is contacted. Every wait is bounded; everything started is killed on exit.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BENCH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/dist/netpulse}"

read -r -a RUNS <<<"${BENCH_RUNS:-0 100@20 1000@20 10000@20 2000@10}"
if (($# > 0)); then RUNS=("$@"); fi
WARMUP_S="${BENCH_WARMUP_S:-40}"
WINDOW_S="${BENCH_WINDOW_S:-60}"
INTERVAL_S="${BENCH_INTERVAL_S:-20}"
for v in "$WARMUP_S" "$WINDOW_S" "$INTERVAL_S"; do
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "not a positive integer: $v" >&2; exit 2; }
done
for v in "${RUNS[@]}"; do
  [[ "$v" =~ ^w?[0-9]+(@[1-9][0-9]*)?$ ]] || { echo "not N, N@I or wN@I: $v" >&2; exit 2; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/netpulse-bench.XXXXXX")"
TARGET_PID=""
ENGINE_PID=""
PERF_PID=""

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
  stop_pid "$PERF_PID"
  stop_pid "$WORKER_PID"
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
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 && -z "${BENCH_BIN:-}" ]]; then
  echo "building the engine and worker as deployed (cargo build --profile dist -p netpulse-engine -p netpulse-checker)…" >&2
  (cd "$ROOT" && cargo build --profile dist -p netpulse-engine -p netpulse-checker) >"$WORK/build.log" 2>&1 || {
    tail -n 30 "$WORK/build.log" >&2
    exit 1
  }
fi
[[ -x "$BIN" ]] || { echo "missing $BIN" >&2; exit 1; }
WORKER_BIN="${BENCH_WORKER_BIN:-$(dirname "$BIN")/netpulse-worker}"
WORKER_PID=""

# --- 2. target server (separate process) --------------------------------------------------------
# asyncio rather than ThreadingHTTPServer: one thread per connection at 500 conn/s (10k monitors)
# would itself eat a core of a 2-core box. Answers any request with 200 "ok" and closes.
# It notes when each /m/<i> request arrived: GET /__reset starts a window, GET /__lag?interval=S
# answers the lag percentiles of that window (see "lag" above); /floor is the floor client's.
# These three are not counted.
python3 -u - "$WORK/target.port" >"$WORK/target.log" 2>&1 <<'PY' &
import asyncio, collections, json, sys, time

RESP = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
arrivals = collections.defaultdict(list)

def lag(interval):
    lags = []
    for times in arrivals.values():
        if len(times) < 2:
            continue
        t0 = times[0]
        offs = [t - t0 - round((t - t0) / interval) * interval for t in times]
        low = min(offs)
        lags.extend((o - low) * 1000 for o in offs)
    lags.sort()
    pick = lambda q: round(lags[min(len(lags) - 1, int(q * len(lags)))], 1) if lags else None
    return {"n": len(lags), "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": lags[-1] if lags else None}

async def handle(reader, writer):
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        now = time.monotonic()
        path = head.split(b" ", 2)[1].decode()
        if path.startswith("/m/"):
            arrivals[path].append(now)
            writer.write(RESP)
        elif path == "/floor":
            writer.write(RESP)
        else:
            if path == "/__reset":
                arrivals.clear()
                body = b"{}"
            else:
                body = json.dumps(lag(float(path.rsplit("=", 1)[1]))).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n%s" % (len(body), body))
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
curl -fsS --max-time 5 "http://127.0.0.1:$TARGET_PORT/m/probe" >/dev/null
echo "target server: pid $TARGET_PID on 127.0.0.1:$TARGET_PORT" >&2

# The floor client (see "floor" above): what connect + one request + close cost by themselves.
FLOOR_S="${BENCH_FLOOR_S:-20}"
[[ "$FLOOR_S" =~ ^[0-9]+$ ]] || { echo "BENCH_FLOOR_S: not a non-negative integer: $FLOOR_S" >&2; exit 2; }
FLOOR_BIN=""
if ((FLOOR_S > 0)) && command -v cc >/dev/null; then
  cat >"$WORK/floor.c" <<'C'
/* floor PORT RATE SECS: RATE requests per second for SECS seconds to 127.0.0.1:PORT, each on a
   fresh blocking connection (connect, GET /floor, read to EOF, close); prints this process's
   CPU seconds (user + system) per 1,000 requests and how many were answered. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc != 4) return 2;
  int port = atoi(argv[1]);
  double rate = atof(argv[2]);
  long n = (long)(rate * atof(argv[3])), answered = 0;
  if (rate <= 0 || n <= 0) return 2;
  long step = (long)(1e9 / rate);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  const char *req = "GET /floor HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: floor\r\n\r\n";
  char buf[4096];
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  for (long i = 0; i < n; i++) {
    t.tv_nsec += step;
    while (t.tv_nsec >= 1000000000L) { t.tv_sec++; t.tv_nsec -= 1000000000L; }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0 && write(s, req, strlen(req)) > 0) {
      ssize_t r, got = 0;
      while ((r = read(s, buf, sizeof buf)) > 0) got += r;
      if (got > 0) answered++;
    }
    if (s >= 0) close(s);
  }
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  double cpu = u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
  printf("%.3f %ld %ld\n", cpu / n * 1000, answered, n);
  return 0;
}
C
  if cc -O2 -o "$WORK/floor" "$WORK/floor.c" 2>"$WORK/floor.log"; then FLOOR_BIN="$WORK/floor"; fi
fi

# floor_of RATE: the floor client's CPU s per 1,000 at RATE per second, or "-".
floor_of() {
  local rate="$1" out
  if [[ -z "$FLOOR_BIN" ]] || ! awk -v r="$rate" 'BEGIN { exit !(r >= 1) }'; then
    echo "-"
    return
  fi
  out="$("$FLOOR_BIN" "$TARGET_PORT" "$rate" "$FLOOR_S" 2>/dev/null || true)"
  read -r per answered total <<<"$out"
  if [[ -n "$per" && "$answered" == "$total" ]]; then echo "$per"; else echo "-"; fi
}

TOKEN="np_bench_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
CLK_TCK="$(getconf CLK_TCK)"
ROWS=()
DETAILS=()

# --- 3–5. one run per N@I ------------------------------------------------------------------------
run_one() {
  local n="${1%@*}" interval="$INTERVAL_S" dir="$WORK/run-$1" base="" i mode=engine gw_port="" regions='["local"]'
  [[ "$1" == *@* ]] && interval="${1#*@}"
  if [[ "$n" == w* ]]; then
    mode=worker n="${n#w}" regions='["bench"]'
  fi
  local label="${1%@*}"
  mkdir -p "$dir"
  local gateway_env=()
  if [[ "$mode" == worker ]]; then
    [[ -x "$WORKER_BIN" ]] || { echo "missing $WORKER_BIN (set BENCH_WORKER_BIN)" >&2; return 1; }
    gw_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    { NETPULSE_STORAGE__DATA_DIR="$dir/data" "$BIN" ca init &&
      NETPULSE_STORAGE__DATA_DIR="$dir/data" "$BIN" ca issue --region bench --name w1 --engine "127.0.0.1:$gw_port"; } \
      >"$dir/ca.log" 2>&1 || { cat "$dir/ca.log" >&2; return 1; }
    gateway_env=(NETPULSE_GATEWAY__ENABLED=true NETPULSE_GATEWAY__REGIONS='["bench"]'
      NETPULSE_GATEWAY__LISTEN="127.0.0.1:$gw_port")
  fi
  if [[ "${BENCH_COLD:-0}" == 1 ]]; then # the binary's pages out of the page cache: a start as after a boot
    python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$BIN"
  fi
  echo "== $label@$interval: starting engine" >&2
  env "${gateway_env[@]}" NETPULSE_HTTP__LISTEN=127.0.0.1:0 \
    NETPULSE_STORAGE__DATA_DIR="$dir/data" \
    NETPULSE_ADMIN_TOKEN="$TOKEN" \
    NETPULSE_LOG__LEVEL=warn \
    NETPULSE_MONITORS__MIN_INTERVAL_S="$interval" \
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
  local measured="$ENGINE_PID"
  if [[ "$mode" == worker ]]; then
    "$WORKER_BIN" --engine "127.0.0.1:$gw_port" --bundle "$dir/data/ca/workers/bench-w1" \
      --buffer-dir "$dir/worker-buffer" >"$dir/worker.log" 2>&1 &
    WORKER_PID=$!
    measured="$WORKER_PID"
  fi

  echo "== $label@$interval: creating $n monitors (pid $ENGINE_PID, $base)" >&2
  local t0=$SECONDS
  python3 - "$base" "$TOKEN" "$n" "$TARGET_PORT" "$interval" "$regions" <<'PY'
import http.client, json, sys, threading, time, urllib.parse

base, token, n, tport, interval = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
regions = json.loads(sys.argv[6])
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
        body = json.dumps({"name": f"bench-{i}", "kind": "http", "regions": regions,
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
  echo "== $label@$interval: created in $((SECONDS - t0)) s; warm-up ${WARMUP_S} s, then ${WINDOW_S} s window" >&2
  sleep "$WARMUP_S"
  kill -0 "$ENGINE_PID" 2>/dev/null || { echo "engine died" >&2; tail -n 30 "$dir/engine.log" >&2; return 1; }
  if [[ -n "$WORKER_PID" ]] && ! kill -0 "$WORKER_PID" 2>/dev/null; then
    echo "worker died" >&2
    tail -n 30 "$dir/worker.log" >&2
    return 1
  fi
  curl -fsS --max-time 5 "http://127.0.0.1:$TARGET_PORT/__reset" >/dev/null
  if [[ "${BENCH_PERF:-0}" == 1 ]]; then
    # shellcheck disable=SC2086 # BENCH_PERF_ARGS is a list of perf options, e.g. "--call-graph dwarf"
    perf record -F 999 ${BENCH_PERF_ARGS:-} -p "$measured" -o "$dir/perf.data" -- sleep "$WINDOW_S" >"$dir/perf.log" 2>&1 &
    PERF_PID=$!
  fi

  local out
  out="$(python3 - "$measured" "$TARGET_PID" "$base" "$TOKEN" "$n" "$interval" "$WINDOW_S" "$CLK_TCK" "$TARGET_PORT" \
    "$mode" "$ENGINE_PID" "$label" <<'PY'
import collections, datetime, json, os, sys, time, urllib.request

pid, tpid, base, token, n, interval, window, tck, tport, mode, epid, label = sys.argv[1:13]
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
    if mode == "worker":  # the engine stores what the worker checked; it runs no checks itself
        return m.get("netpulse_results_ingested_total", 0)
    return sum(v for k, v in m.items() if k.startswith("netpulse_checks_total{"))

def resident_parts():
    """Where the resident memory sits (smaps), in MiB: the binary's own file pages (text r-x;
    read-only data r--, including the relocation tables ld.so reads at start), the binary's
    written pages (relocated read-only data, .data, .bss: anonymous once written), mimalloc's
    arena (anonymous mappings of 1 MiB or more), glibc's heap ([heap] and its per-thread arenas,
    64 MiB-aligned: SQLite allocates there), thread stacks (a mapping just above its guard page),
    other small anonymous mappings, other files (libc, libm, ld.so)."""
    exe = os.path.realpath(f"/proc/{pid}/exe")
    parts, maps = collections.Counter(), []
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                maps.append({"lo": lo, "hi": hi, "perms": head[1], "name": head[5] if len(head) > 5 else ""})
            elif head[0] in ("Rss:", "Anonymous:"):
                maps[-1][head[0]] = int(head[1])
    for prev, m in zip([None] + maps, maps):
        name, rss, anon = m["name"], m.get("Rss:", 0), m.get("Anonymous:", 0)
        if name == exe:
            kind = "text" if m["perms"] == "r-xp" else ("written" if anon else "ro")
            parts["bin " + kind] += rss
        elif name == "[heap]" or (not name and m["lo"] % (64 << 20) == 0):
            parts["glibc heap"] += rss
        elif name.startswith("[stack") or (not name and prev and prev["hi"] == m["lo"]
                                           and prev["perms"] == "---p" and not prev["name"]
                                           and prev["hi"] - prev["lo"] <= 64 << 10):
            parts["stacks"] += rss
        elif not name:
            parts["arena" if m["hi"] - m["lo"] >= 1 << 20 else "small anon"] += rss
        else:
            parts["libs"] += rss
    order = ["bin text", "bin ro", "bin written", "arena", "glibc heap", "stacks", "small anon", "libs"]
    return ", ".join(f"{k} {parts[k] / 1024:.1f}" for k in order if parts[k])

m0, th0, hb0 = metrics(), threads(), host_busy()
c0, tc0, w0 = ticks(f"/proc/{pid}/stat"), ticks(f"/proc/{tpid}/stat"), time.monotonic()
e0 = ticks(f"/proc/{epid}/stat")
rss = []
while time.monotonic() - w0 < window:
    time.sleep(1)
    rss.append(status_kib("VmRSS"))
c1, tc1, w1 = ticks(f"/proc/{pid}/stat"), ticks(f"/proc/{tpid}/stat"), time.monotonic()
e1 = ticks(f"/proc/{epid}/stat")
m1, th1, hb1 = metrics(), threads(), host_busy()
hwm, threads_n = status_kib("VmHWM"), len(th1)
load = os.getloadavg()[0]
wall = w1 - w0

cpu_s = (c1 - c0) / tck
cpu = cpu_s / wall * 100
tcpu = (tc1 - tc0) / tck / wall * 100
host = (hb1[0] - hb0[0]) / max(1, hb1[1] - hb0[1]) * os.cpu_count() * 100
d = lambda k: m1.get(k, 0) - m0.get(k, 0)
done = checks(m1) - checks(m0)
per_k = f"{cpu_s / done * 1000:.3f}" if done else "-"
bad = d('netpulse_checks_total{outcome="down"}') + d('netpulse_checks_total{outcome="error"}')
obs, exp = done / wall, n / interval
ib_n = d("netpulse_ingest_batch_ms_count")
ib = d("netpulse_ingest_batch_ms_sum") / ib_n if ib_n else 0
with urllib.request.urlopen(f"http://127.0.0.1:{tport}/__lag?interval={interval}", timeout=60) as r:
    lag = json.load(r)
lag_p99 = f"{lag['p99_ms']:.1f}" if lag["p99_ms"] is not None else "-"

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
skip = "-" if mode == "worker" else int(d('netpulse_checks_skipped_total'))
bad = "-" if mode == "worker" else int(bad)
engine_note = ""
if mode == "worker":
    engine_note = (f"the engine (gateway, ingest) beside it: {(e1 - e0) / tck:.2f} CPU s, "
                   f"{(e1 - e0) / tck / done * 1000 if done else 0:.3f} per 1,000 results; ")
print("ROW", f"{label:>6} {interval:>4} {obs:>9.1f} {exp:>7.1f} {skip:>5} "
      f"{bad:>5} {per_k:>8} FLOOR {cpu:>6.2f} {mib(sum(rss) / len(rss)):>8.1f} {mib(max(rss)):>7.1f} {mib(hwm):>7.1f} "
      f"{lag_p99:>8} BYTES {load:>5.2f} {host:>5.0f}")
print("DETAIL", f"{label}@{interval}: window {wall:.1f} s, {int(done)} checks (expected {exp * wall:.0f}), "
      f"{cpu_s:.2f} CPU s; {engine_note}monitors checked within {2 * interval} s: {fresh}/{len(data)}; "
      f"target-side lag p50 {lag['p50_ms']} ms, p99 {lag['p99_ms']} ms, max {lag['max_ms'] and round(lag['max_ms'], 1)} ms "
      f"over {lag['n']} requests; ingest {int(ib_n)} batches avg {ib:.1f} ms; "
      f"{threads_n} threads ({busy_threads} used CPU); top threads: {thread_txt or 'none'}; "
      f"resident (MiB): {resident_parts()}")
PY
)"
  if [[ -n "$PERF_PID" ]]; then
    wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=""
  fi
  stop_pid "$WORKER_PID"
  WORKER_PID=""
  stop_pid "$ENGINE_PID"
  ENGINE_PID=""
  local floor
  floor="$(floor_of "$(awk -v n="$n" -v i="$interval" 'BEGIN { printf "%.3f", n / i }')")"
  local bytes
  bytes="$(python3 - "$dir/data" "$interval" <<'PY'
import glob, sqlite3, sys

files = glob.glob(sys.argv[1] + "/*.db")
interval = int(sys.argv[2])
if not files:
    print("- no database")
    sys.exit()
c = sqlite3.connect(f"file:{files[0]}?mode=ro", uri=True)
def size(table):
    names = [table] + [r[0] for r in c.execute("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?", (table,))]
    marks = ",".join("?" * len(names))
    return c.execute(f"SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN ({marks})", names).fetchone()[0]
rows = c.execute("SELECT count(*) FROM check_results").fetchone()[0]
hours = c.execute("SELECT count(*) FROM uptime_hourly").fetchone()[0]
if not rows:
    print("- no results")
    sys.exit()
raw = size("check_results") / rows
hourly = size("uptime_hourly") / max(1, hours) / (3600 / interval)
# The narrow layout's keys (one row per monitor and per region/worker, not per check).
keyed = [t for t in ("result_monitors", "result_origins")
         if c.execute("SELECT 1 FROM sqlite_schema WHERE name = ?", (t,)).fetchone()]
monitors = c.execute("SELECT count(*) FROM result_monitors").fetchone()[0] if keyed else 0
keys = f"; result keys {sum(size(t) for t in keyed) / max(1, monitors):.0f} B per monitor" if keyed else ""
print(f"{raw + hourly:.0f} raw {raw:.0f} B/row over {rows} rows + hourly rollup {hourly:.1f} B/check at steady state{keys}")
PY
)"
  local out_row
  out_row="$(sed -n 's/^ROW //p' <<<"$out")"
  out_row="${out_row/FLOOR/$(printf '%5s' "$floor")}"
  ROWS+=("${out_row/BYTES/$(printf '%7s' "${bytes%% *}")}")
  DETAILS+=("$(sed -n 's/^DETAIL //p' <<<"$out"); stored per check: ${bytes#* }")
  if [[ -s "$dir/perf.data" ]]; then
    DETAILS+=("$label@$interval perf, top 15 frames by self time:")
    DETAILS+=("$( (perf report -i "$dir/perf.data" --stdio --no-children -F overhead,sym 2>/dev/null || true) \
      | { grep -v -e '^#' -e '^$' || true; } | head -n 15 | sed 's/^/    /')")
  fi
  echo "== $label@$interval: ${ROWS[-1]}" >&2
  rm -rf "$dir/data"
}

for run in "${RUNS[@]}"; do
  run_one "$run"
done

# --- 6. report ----------------------------------------------------------------------------------
echo
echo "netpulse embedded engine ${BENCH_BIN:+$BENCH_BIN }at $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC'):" \
  "warm-up ${WARMUP_S} s, window ${WINDOW_S} s, $(nproc) cores"
echo "CPU s/1k = CPU seconds per 1,000 checks; floor = a minimal C client's for the same requests; CPU% of one core; RSS in MiB; lag p99 in ms (target side);"
echo "B/chk = bytes stored per check; load = 1-min load average; host = whole-machine busy (% of one core)"
printf '%6s %4s %9s %7s %5s %5s %8s %5s %6s %8s %7s %7s %8s %7s %5s %5s\n' \
  monitors int "chk/s obs" exp skip down "CPU s/1k" floor "CPU%" "RSS avg" "RSS max" "HWM" "lag p99" "B/chk" load host
for row in "${ROWS[@]}"; do echo "$row"; done
for det in "${DETAILS[@]}"; do echo "  $det"; done
