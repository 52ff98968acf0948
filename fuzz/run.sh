#!/usr/bin/env bash
# Builds every fuzz target once (coverage-instrumented, stable toolchain) and runs each for a
# bounded time.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 30 s, every target)
#
# No nightly and no cargo-fuzz needed: the flags below are the ones `cargo fuzz build
# --sanitizer none` passes (SanitizerCoverage for libFuzzer, plus debug assertions and overflow
# checks), all stable. Where cargo-fuzz is installed, `cargo fuzz run --sanitizer none TARGET`
# from the repository root works on the same package.
#
# Each target starts from its committed seeds (fuzz/corpus/TARGET, read only) and writes what
# it discovers to fuzz/corpus-run/TARGET (not committed). A crash stops that target, leaves
# the input in fuzz/artifacts/TARGET/, prints how to reproduce it, and makes the script exit
# non-zero after the other targets have run.
set -euo pipefail
cd "$(dirname "$0")"

SECONDS_PER_TARGET="${1:-30}"
shift || true
ALL_TARGETS=(credential_head basic_payload layer_request jwt_verify jwt_claims token_endpoint grant_admin account_admin)
if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

HOST="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 -Cllvm-args=-sanitizer-coverage-stack-depth \
 -Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
 --cfg fuzzing -Cdebug-assertions -Coverflow-checks"

start=$(date +%s)
# --target keeps RUSTFLAGS off build scripts and proc macros (as cargo-fuzz does).
cargo build --release --locked --target "$HOST" --bins
built=$(date +%s)
echo "fuzz: built ${#ALL_TARGETS[@]} targets in $((built - start)) s"

BIN="target/$HOST/release"
failed=()
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus-run/$t" "artifacts/$t"
    echo "fuzz: $t for ${SECONDS_PER_TARGET} s"
    # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: a leak or a blow-up.
    # -jobs are not used: the machine has 2 cores shared with everything else.
    if ! "$BIN/$t" "corpus-run/$t" "corpus/$t" \
        -dict=dict.txt \
        -max_total_time="$SECONDS_PER_TARGET" \
        -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -artifact_prefix="artifacts/$t/" \
        -print_final_stats=1 2>"artifacts/$t/log.txt"; then
        failed+=("$t")
        tail -n 60 "artifacts/$t/log.txt"
        echo "fuzz: $t FAILED; reproduce with: fuzz/$BIN/$t fuzz/artifacts/$t/<crash-file>"
    else
        grep -E "^stat::(number_of_executed_units|new_units_added|peak_rss_mb)" "artifacts/$t/log.txt" \
            | sed "s/^/fuzz: $t /" || true
        grep -E "cov: [0-9]+" "artifacts/$t/log.txt" | tail -n 1 | sed "s/^/fuzz: $t /" || true
    fi
done
done_at=$(date +%s)
echo "fuzz: ran ${#TARGETS[@]} targets in $((done_at - built)) s (build and run: $((done_at - start)) s)"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: failed: ${failed[*]}"
    exit 1
fi
echo "fuzz: ${#TARGETS[@]} passed, 0 failed"
