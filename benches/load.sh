#!/usr/bin/env bash
# Load run over loopback with a real HTTP client (wrk): the same handler bare, behind the
# layer (HS256 JWT in the header), and behind the layer plus a grant check.
#
#   bash benches/load.sh [seconds per run, default 10]
#
# Needs wrk (apt-get install -y wrk). Bounded: each run lasts the given seconds; the server is
# stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)"; exit 1; }
cargo build --release --example load_target -q
out=$(mktemp)
./target/release/examples/load_target --addr 127.0.0.1:0 >"$out" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 50); do [ "$(wc -l <"$out")" -ge 2 ] && break; sleep 0.1; done
base=$(head -1 "$out" | awk '{print $3}')
token=$(sed -n 2p "$out")
printf '%-10s %12s %12s %12s\n' route "requests/s" "p50" "p99"
for route in bare jwt jwt_grant; do
  result=$(wrk -t1 -c32 -d"${secs}s" --latency -H "Authorization: Bearer $token" "$base/$route")
  rps=$(echo "$result" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$result" | awk '$1=="50%" {print $2}')
  p99=$(echo "$result" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$result" | awk '/Non-2xx/ {print $4}')
  [ -z "$non2xx" ] || { echo "$route answered non-2xx: $non2xx"; exit 1; }
  printf '%-10s %12s %12s %12s\n' "$route" "$rps" "$p50" "$p99"
done
