#!/usr/bin/env bash
# Builds opencoll with the fixes of patches/ applied to its dependencies (issues 20 and 21):
# fixes written for upstream projects and not in a release on crates.io yet, each measured
# or tested in patches/README.md. The default build does not use them.
#
# Usage: scripts/patched-deps.sh [CARGO BUILD ARGS...]
#        (default: --profile bench-fast --bin opencoll)
# Result: TARGET/PROFILE/opencoll-patched (TARGET: $CARGO_TARGET_DIR, else ./target).
#
# patches/NAME-VERSION/*.patch apply to the crate NAME at VERSION, which must be the version
# in Cargo.lock. The crate's source is unpacked from cargo's download cache (fetched first if
# needed) into ~/.cache/opencoll-patched (OPENCOLL_PATCHED_DIR to change it), patched there,
# and given to cargo as `patch.crates-io` on its command line; Cargo.lock is put back as it
# was afterwards. The binary of the same name in the profile's folder is replaced by the
# patched build until the next ordinary build.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${OPENCOLL_PATCHED_DIR:-$HOME/.cache/opencoll-patched}
args=("$@")
if [ ${#args[@]} -eq 0 ]; then
    args=(--profile bench-fast --bin opencoll)
fi
cargo_home=${CARGO_HOME:-$HOME/.cargo}
mkdir -p "$work"

config=()
for dir in patches/*/; do
    crate=$(basename "$dir")
    name=${crate%-*}
    version=${crate##*-}
    if ! grep -A1 "^name = \"$name\"$" Cargo.lock | grep -qx "version = \"$version\""; then
        echo "Cargo.lock has no $name $version: port patches/$crate to the locked version" >&2
        exit 1
    fi
    src=$work/$crate
    stamp=$(cat "$dir"*.patch | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$src/.opencoll-patches" 2>/dev/null)" != "$stamp" ]; then
        archive=$(ls "$cargo_home"/registry/cache/*/"$crate.crate" 2>/dev/null | head -1 || true)
        if [ -z "$archive" ]; then
            cargo fetch --locked
            archive=$(ls "$cargo_home"/registry/cache/*/"$crate.crate" | head -1)
        fi
        rm -rf "$src"
        tar xzf "$archive" -C "$work"
        for p in "$dir"*.patch; do
            patch --quiet --forward -p1 -d "$src" < "$p"
        done
        echo "$stamp" > "$src/.opencoll-patches"
        echo "patched $crate in $src"
    fi
    config+=(--config "patch.crates-io.$name.path=\"$src\"")
done

# cargo records the patched sources in Cargo.lock: keep the committed one
lock=$(mktemp)
cp Cargo.lock "$lock"
trap 'cp "$lock" Cargo.lock; rm -f "$lock"' EXIT
cargo build "${config[@]}" "${args[@]}"

target=${CARGO_TARGET_DIR:-target}
profile=dev
for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[$i]} in
        --profile) profile=${args[$((i + 1))]} ;;
        --profile=*) profile=${args[$i]#--profile=} ;;
        --release | -r) profile=release ;;
    esac
done
# cargo's folder for the dev profile is debug/
[ "$profile" = dev ] && profile=debug
# only a binary this build linked (the arguments may have built something else)
if [ "$target/$profile/opencoll" -nt "$lock" ]; then
    cp "$target/$profile/opencoll" "$target/$profile/opencoll-patched"
    echo "built $target/$profile/opencoll-patched"
    echo "note: $target/$profile/opencoll is this patched build too, until the next ordinary build" >&2
elif [ -f "$target/$profile/opencoll-patched" ]; then
    echo "opencoll was not relinked: $target/$profile/opencoll-patched is the last patched build's"
else
    echo "these arguments built no opencoll binary in $target/$profile (another --target-dir or --target?)" >&2
fi
