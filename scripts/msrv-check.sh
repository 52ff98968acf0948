#!/usr/bin/env bash
# The MSRV as far as one stable toolchain can check it (no other toolchain can be fetched here):
#   1. every package the library resolves to (all features, the locked versions) declares a
#      `rust-version` no newer than ours, or none;
#   2. clippy's `incompatible_msrv` lint (on by default, reading `rust-version`) finds no use of
#      a standard-library API stabilised after it — `cargo clippy -D warnings` in .ci/run runs
#      it, and this script asks for it explicitly on the library with all features.
# Language features newer than the MSRV are not caught here; `cargo +1.88 check --all-features`
# where 1.88 can be installed does that (README.md, "Minimum Rust version").
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --all-features --locked --filter-platform "$(rustc -vV | sed -n 's/^host: //p')" |
    python3 -c '
import json, sys
meta = json.load(sys.stdin)
ids = {n["id"] for n in meta["resolve"]["nodes"]}
root = meta["resolve"]["root"]
pkgs = {p["id"]: p for p in meta["packages"]}
ours = pkgs[root]["rust_version"]
def key(v): return tuple(int(x) for x in (v.split(".") + ["0", "0"])[:3])
# Only what the library itself needs: follow normal and build dependencies from the root.
need, todo = set(), [root]
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
while todo:
    i = todo.pop()
    if i in need: continue
    need.add(i)
    for d in nodes[i]["deps"]:
        if any(k["kind"] in (None, "build") for k in d["dep_kinds"]):
            todo.append(d["pkg"])
bad = [(pkgs[i]["name"], pkgs[i]["version"], pkgs[i]["rust_version"]) for i in need
       if i != root and pkgs[i].get("rust_version") and key(pkgs[i]["rust_version"]) > key(ours)]
print(f"msrv: {len(need) - 1} packages under tower-gatekeeper (rust-version {ours}), all features")
for name, version, rv in sorted(bad):
    print(f"msrv: {name} {version} needs rust {rv}, newer than {ours}")
sys.exit(1 if bad else 0)
'
cargo clippy --lib --all-features --quiet -- -D clippy::incompatible_msrv
