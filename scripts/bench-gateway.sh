#!/usr/bin/env bash
# How many concurrent mTLS worker connections one engine holds, and the handshake cost.
#
# Builds release binaries, starts `netpulse serve` with the gateway on (temp data dir,
# `netpulse ca init`, one worker certificate), then `gateway_conns` opens N connections per
# round from one process (each long-polls /v1/lease like an idle worker), holds them, and
# reports handshakes/s, p50/p99 handshake time, connections alive after the hold, and the
# engine's RSS and CPU. Loopback only; stops by itself and removes the temp dir.
#
#   scripts/bench-gateway.sh                        # N = 2000, 5000, 10000; 30 s hold
#   CONNS=20000 HOLD=10 scripts/bench-gateway.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS="${CONNS:-2000,5000,10000}"
HOLD="${HOLD:-30}"
PARALLEL="${PARALLEL:-64}"
GW_PORT="${GW_PORT:-18443}"
HTTP_PORT="${HTTP_PORT:-18080}"

# Each side needs one descriptor per connection (plus some): raise the soft limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "open files limit: $(ulimit -n); cores: $(nproc)"

cargo build --release -q -p netpulse-engine --bin netpulse --example gateway_conns
bin="${CARGO_TARGET_DIR:-target}/release"

dir="$(mktemp -d)"
engine=""
cleanup() {
  if [[ -n "$engine" ]]; then kill "$engine" 2>/dev/null || true; wait "$engine" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

cat >"$dir/netpulse.toml" <<TOML
[http]
listen = "127.0.0.1:$HTTP_PORT"
[storage]
data_dir = "$dir/data"
[gateway]
enabled = true
listen = "127.0.0.1:$GW_PORT"
regions = ["bench"]
lease_wait_ms = 20000
TOML

"$bin/netpulse" ca -c "$dir/netpulse.toml" init >/dev/null
"$bin/netpulse" ca -c "$dir/netpulse.toml" issue --region bench --name bench-1 --out "$dir/bundle" >/dev/null
RUST_LOG=error "$bin/netpulse" serve -c "$dir/netpulse.toml" >"$dir/engine.log" 2>&1 &
engine=$!
for _ in $(seq 100); do
  (echo >"/dev/tcp/127.0.0.1/$GW_PORT") 2>/dev/null && break
  sleep 0.2
done
(echo >"/dev/tcp/127.0.0.1/$GW_PORT") 2>/dev/null || { cat "$dir/engine.log"; echo "gateway did not start"; exit 1; }

rounds=$(tr ',' '\n' <<<"$CONNS" | wc -l)
timeout $((rounds * (HOLD + 330) + 30)) "$bin/examples/gateway_conns" --addr "127.0.0.1:$GW_PORT" \
  --bundle "$dir/bundle" --engine-pid "$engine" --connections "$CONNS" --hold-secs "$HOLD" --parallel "$PARALLEL"
if grep -qiE "panic|error" "$dir/engine.log"; then
  echo "engine log (errors):"; grep -iE "panic|error" "$dir/engine.log" | head -20
fi
