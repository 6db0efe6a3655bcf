#!/usr/bin/env bash
# Installs (once) a headless LibreOffice Calc from Debian when `soffice` is missing, and prints
# the soffice path. The PDF generator tests use it to print spreadsheets to PDF the way
# publishers do. Needs root (apt-get) the first time. Usage: scripts/libreoffice.sh
set -euo pipefail
# Parallel tests call this at once: one installs, the others wait (apt holds its own lock and
# would fail the others).
exec 9>/tmp/opencoll-apt-install.lock
flock 9
if ! command -v soffice >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "soffice is missing and installing it needs root: apt-get install libreoffice-calc-nogui" >&2
    exit 1
  fi
  # calc-nogui is the smallest variant that prints spreadsheets (no X11, no Java)
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    libreoffice-calc-nogui >&2
fi
command -v soffice
