#!/usr/bin/env bash
# Prepares the headless browser the portal tests drive, then prints two lines: the Chromium
# binary and the node_modules folder holding puppeteer-core and axe-core.
# - Chromium from Debian (installed when missing, as root or with sudo);
# - puppeteer-core and axe-core from npm, versions pinned in tests/browser/package.json and
#   package-lock.json, installed once in ~/.cache/opencoll-browser (puppeteer-core downloads
#   no browser).
# Usage: scripts/browser.sh
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
exec 9>/tmp/opencoll-apt-install.lock
flock 9
chromium="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$chromium" ]; then
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
  chromium="$(command -v chromium)"
fi
cache="${OPENCOLL_BROWSER_CACHE:-$HOME/.cache/opencoll-browser}"
mkdir -p "$cache"
if ! cmp -s "$here/tests/browser/package-lock.json" "$cache/package-lock.json" || [ ! -d "$cache/node_modules/axe-core" ]; then
  cp "$here/tests/browser/package.json" "$here/tests/browser/package-lock.json" "$cache/"
  (cd "$cache" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
echo "$chromium"
echo "$cache/node_modules"
