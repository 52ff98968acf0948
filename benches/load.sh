#!/usr/bin/env bash
# Kept for old instructions: the loopback comparison now lives in scripts/loadtest.sh.
#
#   bash benches/load.sh [seconds per route per round] [rounds]
exec bash "$(dirname "$0")/../scripts/loadtest.sh" "$@"
