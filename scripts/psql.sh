#!/usr/bin/env bash
# Prints the path of the psql client, installing Debian's postgresql-client first when it is
# missing (the `opencoll serve` tests drive psql). Usage: scripts/psql.sh
set -euo pipefail
# Parallel tests call this at once: one installs, the others wait (apt holds its own lock and
# would fail the others).
exec 9>/tmp/opencoll-apt-install.lock
flock 9
if ! command -v psql >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql-client >&2
fi
command -v psql
