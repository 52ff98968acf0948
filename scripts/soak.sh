#!/usr/bin/env bash
# A bounded soak: starts the quickstart (release build, manual clock, a free loopback port),
# runs examples/soak.rs against it for SECONDS (default 60) with 32 connections, prints the
# summary, stops the server. Exits non-zero on a wrong decision or a 5xx other than a 503 from
# the password-hashing bound (Basic logins and token requests may get one; nothing else may).
#
#   scripts/soak.sh [SECONDS]
#   SOAK_PROFILE=debug scripts/soak.sh 5     # reuse the debug build `cargo test` made (CI)
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_TO_RUN="${1:-60}"
PROFILE="${SOAK_PROFILE:-release}"
if [ "$PROFILE" = release ]; then
    cargo build --release --all-features --example quickstart --example soak
    DIR=target/release/examples
else
    cargo build --all-features --example quickstart --example soak
    DIR=target/debug/examples
fi

LOG="$(mktemp)"
"$DIR/quickstart" --addr 127.0.0.1:0 --manual-clock >"$LOG" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 100); do
    BASE="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$LOG" | head -n 1 || true)"
    [ -n "$BASE" ] && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$LOG"; echo "soak: the quickstart exited"; exit 1; }
    sleep 0.1
done
[ -n "$BASE" ] || { echo "soak: the quickstart did not start"; exit 1; }
echo "soak: quickstart ($PROFILE) pid $SERVER at $BASE; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
shift || true
"$DIR/soak" --base "$BASE" --secs "$SECONDS_TO_RUN" --connections 32 --pid "$SERVER" "$@"
