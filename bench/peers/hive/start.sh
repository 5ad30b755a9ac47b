#!/usr/bin/env bash
# Starts the Hive peer in the foreground on 127.0.0.1:$PORT (GraphQL at /graphql).
# Environment in: PORT, CATALOG_URL, FX_URL, INVENTORY_URL, REVIEWS_URL, INVENTORY_TOKEN,
# REVIEWS_API_KEY, CACHE=on|off. Base URLs and credentials are read by the gateway at run time
# ({env.X} templates in the supergraph), so the composed supergraph holds no secret.
set -euo pipefail
cd "$(dirname "$0")"
here="$(pwd)"
dest="$here/../../.peers/hive"

: "${PORT:?PORT is required}"
for v in CATALOG_URL FX_URL INVENTORY_URL REVIEWS_URL INVENTORY_TOKEN REVIEWS_API_KEY; do
  if [ -z "${!v:-}" ]; then echo "start.sh: $v is required" >&2; exit 2; fi
done
export CACHE="${CACHE:-off}"
case "$CACHE" in on|off) ;; *) echo "start.sh: CACHE must be on or off" >&2; exit 2 ;; esac

if [ ! -x "$dest/node_modules/.bin/hive-gateway" ]; then
  echo "start.sh: run install.sh first" >&2; exit 2
fi

# Generated files live in bench/.peers/hive/: configs are copied there so that their imports
# resolve against its node_modules; the supergraph is recomposed when an input changed.
cp mesh.config.ts gateway.config.ts "$dest/"
cd "$dest"
stamp="$(cat mesh.config.ts "$here"/openapi/*.yaml package-lock.json | sha256sum | cut -d' ' -f1)"
if [ ! -s supergraph.graphql ] || [ "$(cat supergraph.stamp 2>/dev/null)" != "$stamp" ]; then
  if ! node_modules/.bin/mesh-compose -o supergraph.$$.graphql >compose.log 2>&1; then
    cat compose.log >&2; exit 1
  fi
  mv supergraph.$$.graphql supergraph.graphql
  echo "$stamp" >supergraph.stamp
fi

export NODE_ENV=production   # "Set NODE_ENV to production" (docs: Resources Requirements)
exec node node_modules/@graphql-hive/gateway/dist/bin.js supergraph supergraph.graphql \
  --config-path gateway.config.ts --host 127.0.0.1 --port "$PORT" --fork 1
