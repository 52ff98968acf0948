#!/usr/bin/env bash
# The loopback comparison: examples/load_target.rs (release build, one server worker) under wrk
# (1 thread, 32 connections), every route in turn, for a few rounds; prints requests/s, p50,
# p99 and the ratio to /bare of the same round (median over the rounds).
#
#   bash scripts/loadtest.sh [seconds per route per round, default 5] [rounds, default 3]
#
# Needs wrk (apt-get install -y wrk). Bounded: routes x rounds x seconds in total (11 routes,
# 3 rounds, 5 s: under 3 minutes); the server listens on 127.0.0.1 only and is stopped at the
# end. Client and server share the machine: compare ratios, not absolute figures.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
rounds=${2:-3}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)"; exit 1; }
cargo build --release --example load_target -q
out=$(mktemp)
results=$(mktemp)
./target/release/examples/load_target --addr 127.0.0.1:0 >"$out" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$out" "$results"' EXIT
for _ in $(seq 100); do [ "$(wc -l <"$out")" -ge 3 ] && break; sleep 0.1; done
base=$(head -1 "$out" | awk '{print $3}')
token=$(sed -n 2p "$out")
key=$(sed -n 3p "$out")

# route and the bearer credential it is sent
routes="bare:$token tower_http:$token opaque_minimal:$key jwt_authorizer:$token
  jsonwebtoken:$token handwritten:$token gatekeeper_jwt:$token gatekeeper_jwt_uncached:$token
  gatekeeper_full:$token gatekeeper_opaque:$key gatekeeper_opaque_uncached:$key"

for round in $(seq "$rounds"); do
  for entry in $routes; do
    route=${entry%%:*}
    credential=${entry#*:}
    result=$(wrk -t1 -c32 -d"${secs}s" --latency -H "Authorization: Bearer $credential" "$base/$route")
    non2xx=$(echo "$result" | awk '/Non-2xx/ {print $4}')
    [ -z "$non2xx" ] || { echo "$route answered non-2xx: $non2xx"; exit 1; }
    rps=$(echo "$result" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$result" | awk '$1=="50%" {print $2}')
    p99=$(echo "$result" | awk '$1=="99%" {print $2}')
    echo "$round $route $rps $p50 $p99" >>"$results"
  done
done

echo
echo "wrk -t1 -c32, ${secs} s per route, $rounds rounds; ratio: requests/s over /bare's in the same round (median)"
printf '| %-28s | %12s | %8s | %8s | %9s |\n' route "requests/s" p50 p99 "vs. bare"
printf '| %-28s | %12s | %8s | %8s | %9s |\n' --- --- --- --- ---
awk '
  { r[$1" "$2] = $3; p50[$2] = $4; p99[$2] = $5; rps[$2] = rps[$2] " " $3; order[NR] = $2; rounds[$1] = 1 }
  END {
    n = 0; for (i = 1; i <= NR; i++) if (!(order[i] in seen)) { seen[order[i]] = 1; names[++n] = order[i] }
    for (k = 1; k <= n; k++) {
      route = names[k]; m = 0
      for (round in rounds) if ((round" "route) in r) ratios[++m] = r[round" "route] / r[round" bare"]
      # median of the ratios and of the rates
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (ratios[j] < ratios[i]) { t = ratios[i]; ratios[i] = ratios[j]; ratios[j] = t }
      split(substr(rps[route], 2), v, " "); c = length(v)
      for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
      printf "| %-28s | %12.0f | %8s | %8s | %8.2fx |\n", route, v[int((c + 1) / 2)], p50[route], p99[route], ratios[int((m + 1) / 2)]
    }
  }' "$results"
