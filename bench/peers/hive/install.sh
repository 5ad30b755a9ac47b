#!/usr/bin/env bash
# Installs the Hive peer (pinned in package.json / package-lock.json) into bench/.peers/hive/.
# Idempotent: `npm ci` runs only when the lock file changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")"
here="$(pwd)"
dest="$here/../../.peers/hive"
mkdir -p "$dest"

if [ -x "$dest/node_modules/.bin/hive-gateway" ] && cmp -s package-lock.json "$dest/package-lock.json" \
  && cmp -s package.json "$dest/package.json"; then
  exit 0
fi

cp package.json package-lock.json "$dest/"
cd "$dest"
log="$(mktemp)"
# --ignore-scripts: the only install scripts in the tree are protobufjs' version notices.
if ! npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log" "$dest/package-lock.json"
  exit 1
fi
rm -f "$log"
