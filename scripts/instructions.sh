#!/usr/bin/env bash
# Instructions per request for cases of benches/compare.rs, counted by callgrind: steady on a
# busy machine, where timings are not. Each case runs twice under callgrind, with 0 and with N
# requests after the same setup and warm-up; the difference over N is its cost per request.
#
#   bash scripts/instructions.sh [N] [case ...]      (default N=20000; default cases below)
#
# Setup differs a little from run to run (aws-lc's jitter entropy, random hash seeds): with
# N = 4000 identical runs differed by up to 500 instructions per request, with N = 20000 by
# about 150.
#
# Needs valgrind (apt-get install -y valgrind). Builds the bench once (release, line tables).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
shift || true
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
  cases=(bare tower_http_bearer opaque_minimal gatekeeper_fixed_principal
    handwritten_hs256 jwt_authorizer_hs256 gatekeeper_hs256_cached gatekeeper_hs256_fresh
    gatekeeper_full_pipeline_cached gatekeeper_api_key_cached gatekeeper_opaque_bearer_cached)
fi
export CARGO_PROFILE_BENCH_DEBUG=line-tables-only
bin=$(cargo bench --bench compare --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*compare[^"]*\)".*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "could not build benches/compare.rs" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count() { # case requests -> total instructions
  local skip=()
  [ "$1" = bare ] || skip=(COMPARE_SKIP_BARE=1)
  env COMPARE=repeat COMPARE_CASES="$1" COMPARE_N="$2" "${skip[@]}" \
    valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$bin" >/dev/null 2>"$tmp/err" || {
    echo "case $1 failed:" >&2
    grep -m 3 -E "panicked|^[0-9]{3} " "$tmp/err" >&2 || tail -n 5 "$tmp/err" >&2
    exit 1
  }
  sed -n 's/^summary: //p' "$tmp/out"
}
for c in "${cases[@]}"; do
  grep -q "\"$c\"" benches/compare.rs || { echo "no case named $c in benches/compare.rs" >&2; exit 1; }
done
printf '| case | instructions / request | vs. bare |\n| --- | --- | --- |\n'
base=
for c in "${cases[@]}"; do
  a=$(count "$c" 0)
  b=$(count "$c" "$n")
  per=$(( (b - a) / n ))
  [ -n "$base" ] || base=$per
  printf '| %s | %d | %s× |\n' "$c" "$per" "$(echo "scale=2; $per / $base" | bc)"
done
