#!/usr/bin/env bash
# Installs the Tailcall peer gateway into bench/.peers/tailcall/ (git-ignored). Idempotent; quiet
# on success; non-zero exit on failure.
#
# 1. Tailcall 1.6.14 from npm (@tailcallhq/core-linux-x64-gnu ships the prebuilt binary), with the
#    committed package.json + package-lock.json (exact version and integrity hash) via `npm ci`.
# 2. The binary needs glibc >= 2.39 (symbols GLIBC_2.38/2.39) and Debian 12 has 2.36, so Debian 13
#    (trixie) libc6 and libgcc-s1 are fetched with `apt-get download` against a private
#    sources.list/lists/cache (the system's apt state is not touched), unpacked with dpkg-deb into
#    a private root, and start.sh runs the binary through that root's dynamic loader.
set -euo pipefail
cd "$(dirname "$0")"
HERE=$PWD
PEER=$HERE/../../.peers/tailcall

TAILCALL_VERSION=1.6.14
# Debian 13 packages, pinned. deb.debian.org keeps only the current point release: if a pin is
# gone (a later trixie point release replaced it), the current version is taken with a warning
# and recorded in $PEER/VERSIONS.
LIBC6_VERSION=2.41-12+deb13u5
LIBGCC_VERSION=14.2.0-19
DEBIAN_MIRROR=http://deb.debian.org/debian   # the mirror /etc/apt/sources.list.d names
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg   # carries the trixie signing keys

BIN=$PEER/node_modules/@tailcallhq/core-linux-x64-gnu/bin/tailcall
ROOT=$PEER/glibc
LIBDIR=$ROOT/usr/lib/x86_64-linux-gnu
STAMP="tailcall=$TAILCALL_VERSION libc6=$LIBC6_VERSION libgcc-s1=$LIBGCC_VERSION"

mkdir -p "$PEER"
PEER=$(cd "$PEER" && pwd)
LOG=$PEER/install.log

fail() {
  echo "tailcall install: $*" >&2
  [ -s "$LOG" ] && tail -n 30 "$LOG" >&2
  exit 1
}

if [ -f "$PEER/.installed" ] && [ "$(cat "$PEER/.installed")" = "$STAMP" ] &&
  [ -x "$BIN" ] && [ -e "$LIBDIR/ld-linux-x86-64.so.2" ]; then
  exit 0
fi
: >"$LOG"
rm -f "$PEER/.installed"

command -v npm >/dev/null || fail "npm not found"
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || fail "apt-get/dpkg-deb not found"

# --- 1. Tailcall from npm ------------------------------------------------------------------------
cp "$HERE/package.json" "$HERE/package-lock.json" "$PEER/"
(cd "$PEER" && npm ci --no-audit --no-fund --loglevel=error) >>"$LOG" 2>&1 || fail "npm ci failed"
[ -x "$BIN" ] || fail "tailcall binary missing after npm ci: $BIN"

# --- 2. Debian 13 glibc into a private root --------------------------------------------------------
APT=$PEER/apt
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/debs"
echo "deb [signed-by=$KEYRING] $DEBIAN_MIRROR trixie main" >"$APT/sources.list"
APT_OPTS=(
  -o "Dir::Etc::SourceList=$APT/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$APT/lists"
  -o "Dir::State::Status=/dev/null"
  -o "Dir::Cache=$APT/cache"
  -o "APT::Architecture=amd64"
  -o "APT::Architectures::=amd64"
  -o "APT::Sandbox::User=root"
  # no AppStream metadata, no hooks the system's apt.conf.d runs after an update
  -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
  -o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
  -o "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false"
  -o "APT::Update::Post-Invoke-Success::="
  -o "APT::Update::Post-Invoke::="
)
apt-get -qq "${APT_OPTS[@]}" update >>"$LOG" 2>&1 || fail "apt-get update (private trixie lists) failed"

resolve() { # package pinned-version -> the version to download
  local pkg=$1 want=$2 cand
  if apt-cache "${APT_OPTS[@]}" show "$pkg=$want" >/dev/null 2>&1; then
    echo "$want"
    return
  fi
  cand=$(apt-cache "${APT_OPTS[@]}" policy "$pkg" | awk '/Candidate:/ {print $2}')
  [ -n "$cand" ] && [ "$cand" != "(none)" ] || fail "no trixie version of $pkg"
  echo "tailcall install: warning: $pkg $want is no longer on the mirror; using $cand" >&2
  echo "$cand"
}
LIBC6_GOT=$(resolve libc6 "$LIBC6_VERSION")
LIBGCC_GOT=$(resolve libgcc-s1 "$LIBGCC_VERSION")

rm -f "$APT/debs"/*.deb
(cd "$APT/debs" && apt-get -qq "${APT_OPTS[@]}" download "libc6=$LIBC6_GOT" "libgcc-s1=$LIBGCC_GOT") \
  >>"$LOG" 2>&1 || fail "apt-get download failed"

rm -rf "$ROOT.tmp"
mkdir -p "$ROOT.tmp"
for deb in "$APT/debs"/*.deb; do
  dpkg-deb -x "$deb" "$ROOT.tmp" >>"$LOG" 2>&1 || fail "dpkg-deb -x $deb failed"
done
rm -rf "$ROOT"
mv "$ROOT.tmp" "$ROOT"

# --- check --------------------------------------------------------------------------------------
for f in ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libgcc_s.so.1; do
  [ -e "$LIBDIR/$f" ] || fail "missing $LIBDIR/$f after unpacking"
done
got=$(TAILCALL_TRACKER=false "$LIBDIR/ld-linux-x86-64.so.2" --library-path "$LIBDIR" "$BIN" --version 2>>"$LOG") ||
  fail "tailcall does not run with the private glibc"
[ "$got" = "tailcall v$TAILCALL_VERSION" ] || fail "unexpected version: $got"

printf 'tailcall %s (npm @tailcallhq/core-linux-x64-gnu)\nlibc6 %s (Debian trixie)\nlibgcc-s1 %s (Debian trixie)\n' \
  "$TAILCALL_VERSION" "$LIBC6_GOT" "$LIBGCC_GOT" >"$PEER/VERSIONS"
echo "$STAMP" >"$PEER/.installed"
