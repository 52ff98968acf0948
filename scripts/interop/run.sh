#!/usr/bin/env bash
# Runs real OAuth clients (openid-client on Node, Authlib on Python) against the quickstart,
# once with each quickstart config (HS256, RS256). By hand, not in CI: it needs Node >= 20,
# Python >= 3.9 and the npm and PyPI registries. Results are recorded in docs/getting-started.md.
#
#   scripts/interop/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

[ -d node_modules/openid-client ] || npm install --no-audit --no-fund --silent
[ -x .venv/bin/python ] || { python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt; }

cargo build --quiet --manifest-path "$root/Cargo.toml" --example quickstart
bin="$root/target/debug/examples/quickstart"

pid=""
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi; }
trap stop EXIT

for config in examples/quickstart.toml examples/quickstart-rs256.toml; do
    out="$(mktemp)"
    (cd "$root" && exec "$bin" --addr 127.0.0.1:0 --config "$config") >"$out" &
    pid=$!
    base=""
    for _ in $(seq 1 100); do
        base="$(head -n 1 "$out" | grep -o 'http://[0-9.:]*' || true)"
        [ -n "$base" ] && break
        sleep 0.1
    done
    [ -n "$base" ] || { echo "the quickstart did not start" >&2; exit 1; }
    echo "== $config at $base"
    node openid_client.mjs "$base"
    .venv/bin/python authlib_client.py "$base"
    stop
    rm -f "$out"
done
echo "interop: every client passed with every config"
