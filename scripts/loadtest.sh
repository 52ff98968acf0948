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
  gatekeeper_full:$token gatekeeper_opaque:$key gatekeeper_opaque_uncached:$key
  gatekeeper_jwt_axum:$token gatekeeper_opaque_axum:$key"

for round in $(seq "$rounds"); do
  index=0
  for entry in $routes; do
    index=$((index + 1))
    route=${entry%%:*}
    credential=${entry#*:}
    result=$(wrk -t1 -c32 -d"${secs}s" --latency -H "Authorization: Bearer $credential" "$base/$route")
    non2xx=$(echo "$result" | awk '/Non-2xx/ {print $4}')
    [ -z "$non2xx" ] || { echo "$route answered non-2xx: $non2xx"; exit 1; }
    rps=$(echo "$result" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$result" | awk '$1=="50%" {print $2}')
    p99=$(echo "$result" | awk '$1=="99%" {print $2}')
    echo "$round $route $rps $p50 $p99 $index" >>"$results"
  done
done

echo
echo "wrk -t1 -c32, ${secs} s per route, $rounds rounds"
echo "ratio: requests/s over /bare's in the same round (median of the rounds); best: the route's"
echo "best round over bare's best round; p50/p99 of the route's median round"
printf '| %-28s | %12s | %9s | %9s | %8s | %8s |\n' route "requests/s" "vs. bare" "best" p50 p99
printf '| %-28s | %12s | %9s | %9s | %8s | %8s |\n' --- --- --- --- --- ---
sort -k6,6n -k3,3n "$results" | awk -v rounds="$rounds" '
  { key = $2; n[key]++; rps[key, n[key]] = $3; lat50[key, n[key]] = $4; lat99[key, n[key]] = $5
    byround[$1, key] = $3; if ($3 > best[key]) best[key] = $3; if (!(key in seen)) { seen[key] = 1; names[++count] = key } }
  END {
    for (k = 1; k <= count; k++) {
      route = names[k]; m = 0
      for (r = 1; r <= rounds; r++) if ((r, route) in byround) ratio[++m] = byround[r, route] / byround[r, "bare"]
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (ratio[j] < ratio[i]) { t = ratio[i]; ratio[i] = ratio[j]; ratio[j] = t }
      mid = int((n[route] + 1) / 2)
      printf "| %-28s | %12.0f | %8.2fx | %8.2fx | %8s | %8s |\n", route, rps[route, mid], ratio[int((m + 1) / 2)], best[route] / best["bare"], lat50[route, mid], lat99[route, mid]
    }
  }'
