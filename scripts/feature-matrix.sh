#!/usr/bin/env bash
# The feature matrix: the library builds without warnings with no features, with the defaults,
# and with each feature alone. `cargo check` of the library target only: dev targets (tests,
# examples) always have the issuer on through the crate's dev-dependency on itself, so they
# cannot show what a user with fewer features gets. Features are read from Cargo.toml's
# `[features]` table, so a new feature is checked without editing this script.
#
#   scripts/feature-matrix.sh            # everything
#   scripts/feature-matrix.sh basic      # the named features only (each alone)
#
# No cargo-hack: `cargo hack check --each-feature` does the same thing, and installing it costs
# CI a few minutes per run (2.5 min measured on a 2-core machine).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -gt 0 ]; then
    features=("$@")
else
    mapfile -t features < <(
        awk '/^\[features\]/ { on = 1; next }
             /^\[/ { on = 0 }
             on && /^[A-Za-z0-9_-]+[ \t]*=/ { sub(/[ \t]*=.*/, ""); print }' Cargo.toml |
            grep -vx default
    )
fi

failed=0
check() {
    local label="$1"
    shift
    local log
    log="$(mktemp)"
    # Warnings fail the run; cargo replays cached warnings, so a second run still sees them.
    if cargo check --lib --quiet "$@" 2>"$log" && ! grep -q '^warning' "$log"; then
        echo "ok    $label"
    else
        echo "FAIL  $label"
        cat "$log"
        failed=1
    fi
    rm -f "$log"
}

check "--no-default-features" --no-default-features
check "default features"
for feature in "${features[@]}"; do
    check "--features $feature (alone)" --no-default-features --features "$feature"
done
exit "$failed"
