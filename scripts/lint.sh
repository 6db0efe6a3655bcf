#!/usr/bin/env bash
# The dependency lint, run by CI before the tests; needs no build (cargo metadata only), a few
# seconds once scripts/lint-tools.sh has installed its tools:
#  1. cargo-shear: no unused dependency in any Cargo.toml of the workspace (a dependency used
#     only by tests, benches or examples belongs in [dev-dependencies]). A true false positive
#     goes in that crate's `[package.metadata.cargo-shear] ignored = ["name"]`, with a comment
#     saying why. Unlinked source files are reported as warnings.
#  2. cargo-deny, with deny.toml: licenses, bans (duplicate versions only warn) and sources
#     (crates.io only). Its advisories check is not run: see [advisories] in deny.toml.
# Both run even if the first fails; the exit status is non-zero if either found a problem.
# Cargo.lock must be up to date (--locked). Usage: scripts/lint.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bin="$(scripts/lint-tools.sh)"
status=0

echo "lint: unused dependencies (cargo-shear)"
"$bin/cargo-shear" --locked || status=1

echo "lint: cargo deny check bans licenses sources"
"$bin/cargo-deny" --workspace --locked check bans licenses sources || status=1

if [ "$status" -ne 0 ]; then
  echo "lint: FAILED" >&2
else
  echo "lint: ok"
fi
exit "$status"
