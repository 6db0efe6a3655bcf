#!/usr/bin/env bash
# Prints the folder of the PostgreSQL server programs (initdb, postgres, pg_ctl), installing
# Debian's postgresql package first when they are missing (tests/database.rs starts a
# throw-away server on 127.0.0.1 with a temporary data directory). Usage: scripts/postgres.sh
set -euo pipefail
# Parallel tests call this at once: one installs, the others wait.
exec 9>/tmp/opencoll-apt-install.lock
flock 9
find_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}
bin="$(find_bin || true)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >&2
  bin="$(find_bin)"
fi
echo "$bin"
