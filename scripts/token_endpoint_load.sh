#!/usr/bin/env bash
# The token endpoint over loopback (issue 10: at least 2,000 tokens/s for clients whose secrets
# the issuer generated): the quickstart (release build) under wrk, 1 thread, 32 connections.
#
#   bash scripts/token_endpoint_load.sh [seconds per case per round, default 5] [rounds, default 3]
#
# Cases, in turn each round, on the same server:
#   metadata      GET /.well-known/oauth-authorization-server: the baseline, a JSON answer
#                 with no credential and no signature;
#   generated     POST /oauth/token for a client created through the admin API, whose secret
#                 the issuer generated (kept as a SHA-256 digest, compared in constant time);
#   chosen        POST /oauth/token for demo-app, whose secret a person chose (argon2, under the
#                 hashing bound: past it 503 with Retry-After, counted apart).
# Prints 2xx/s, p50, p99 and the 2xx rate's ratio to metadata's of the same round. Needs wrk
# (apt-get install -y wrk). Bounded: 3 cases x rounds x seconds; the server listens on
# 127.0.0.1 only and is stopped at the end. Client and server share the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
rounds=${2:-3}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)"; exit 1; }
cargo build --release --example quickstart -q
out=$(mktemp)
lua=$(mktemp --suffix=.lua)
./target/release/examples/quickstart --addr 127.0.0.1:0 >"$out" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$out" "$lua"' EXIT
for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.1; done
base=$(head -1 "$out" | grep -o 'http://[^ ]*' | head -1)

form() { curl -s -X POST "$base/oauth/token" -d "grant_type=client_credentials&client_id=$1&client_secret=$2"; }
admin=$(form admin-console admin-console-secret | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
created=$(curl -s -X POST "$base/admin/clients" -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' -d '{"client_id":"load-app","scopes":["orders:read"]}')
secret=$(echo "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
form load-app "$secret" | grep -q access_token || { echo "the generated client got no token"; exit 1; }

cat >"$lua" <<'LUA'
wrk.method = "POST"
wrk.body = os.getenv("TOKEN_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA

run() { # case url [lua]
  local result
  if [ -n "${3:-}" ]; then
    result=$(TOKEN_BODY="$4" wrk -t1 -c32 -d"${secs}s" --latency -s "$3" "$2")
  else
    result=$(wrk -t1 -c32 -d"${secs}s" --latency "$2")
  fi
  local total non2xx p50 p99
  total=$(echo "$result" | awk '/requests in/ {print $1}')
  non2xx=$(echo "$result" | awk '/Non-2xx/ {print $5}')
  p50=$(echo "$result" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$result" | awk '$1 == "99%" {print $2}')
  echo "$1 $(( (total - ${non2xx:-0}) / secs )) ${non2xx:-0} $p50 $p99"
}

printf '%-10s %6s %10s %10s %8s %8s %8s\n' round case "2xx/s" "non-2xx" p50 p99 "× meta"
for round in $(seq "$rounds"); do
  meta=$(run metadata "$base/.well-known/oauth-authorization-server")
  gen=$(run generated "$base/oauth/token" "$lua" "grant_type=client_credentials&client_id=load-app&client_secret=$secret")
  chosen=$(run chosen "$base/oauth/token" "$lua" "grant_type=client_credentials&client_id=demo-app&client_secret=demo-app-secret")
  m=$(echo "$meta" | awk '{print $2}')
  for line in "$meta" "$gen" "$chosen"; do
    echo "$line" | awk -v r="$round" -v m="$m" '{printf "%-10s %6s %10s %10s %8s %8s %8.3f\n", r, $1, $2, $3, $4, $5, $2 / m}'
  done
done
