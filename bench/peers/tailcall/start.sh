#!/usr/bin/env bash
# Starts Tailcall in the foreground: renders config.graphql.tmpl into bench/.peers/tailcall/ and
# `exec`s the private glibc's dynamic loader with the tailcall binary, so the caller's PID is the
# gateway process itself (its /proc/PID/comm reads "ld-linux-x86-64").
#
# Environment in: PORT, CATALOG_URL, FX_URL, INVENTORY_URL, REVIEWS_URL, INVENTORY_TOKEN (a bearer
# token the caller fetched: Tailcall cannot run the OAuth2 client-credentials flow),
# REVIEWS_API_KEY, CACHE=on|off (default off). Tailcall reads the URLs and secrets itself at run
# time through `{{.env.*}}` templates; the rendered file holds neither.
set -euo pipefail
cd "$(dirname "$0")"
HERE=$PWD
PEER=$HERE/../../.peers/tailcall
LIBDIR=$PEER/glibc/usr/lib/x86_64-linux-gnu
BIN=$PEER/node_modules/@tailcallhq/core-linux-x64-gnu/bin/tailcall

[ -x "$BIN" ] && [ -e "$LIBDIR/ld-linux-x86-64.so.2" ] || {
  echo "tailcall start: not installed; run $HERE/install.sh" >&2
  exit 1
}
: "${PORT:?PORT is required}" "${CATALOG_URL:?}" "${FX_URL:?}" "${INVENTORY_URL:?}" "${REVIEWS_URL:?}"
: "${INVENTORY_TOKEN:?}" "${REVIEWS_API_KEY:?}"
export CATALOG_URL FX_URL INVENTORY_URL REVIEWS_URL INVENTORY_TOKEN REVIEWS_API_KEY
CACHE=${CACHE:-off}

# @cache(maxAge) is in milliseconds. Ages as Switchyard's entity caches (switchyard.toml): products
# and searches 300 s, rates 3600 s, stock 5 s (the inventory says max-age=5), reviews 300 s.
case "$CACHE" in
  on)
    c_catalog='@cache(maxAge: 300000)'
    c_fx='@cache(maxAge: 3600000)'
    c_stock='@cache(maxAge: 5000)'
    c_reviews='@cache(maxAge: 300000)'
    ;;
  off) c_catalog='' c_fx='' c_stock='' c_reviews='' ;;
  *)
    echo "tailcall start: CACHE must be on or off, not '$CACHE'" >&2
    exit 2
    ;;
esac
case "$PORT" in '' | *[!0-9]*)
  echo "tailcall start: PORT must be a number" >&2
  exit 2
  ;;
esac

CONFIG=$PEER/config.cache-$CACHE.port-$PORT.graphql
sed -e "s/@@PORT@@/$PORT/" \
  -e "s/@@CACHE_CATALOG@@/$c_catalog/" \
  -e "s/@@CACHE_FX@@/$c_fx/" \
  -e "s/@@CACHE_STOCK@@/$c_stock/" \
  -e "s/@@CACHE_REVIEWS@@/$c_reviews/" \
  "$HERE/config.graphql.tmpl" >"$CONFIG.tmp"
mv "$CONFIG.tmp" "$CONFIG"

export TAILCALL_TRACKER=false TC_TRACKER=false # else it sends usage events (both spellings are read)
# Tailcall logs every upstream request at INFO (41 lines per storefront query); its own
# benchmarks (tailcallhq/graphql-benchmarks) run with TAILCALL_LOG_LEVEL=error. Override to see them.
export TAILCALL_LOG_LEVEL=${TAILCALL_LOG_LEVEL:-error}
exec "$LIBDIR/ld-linux-x86-64.so.2" --library-path "$LIBDIR" "$BIN" start "$CONFIG"
