#!/usr/bin/env bash
# Builds goproxy (github.com/goproxy/goproxy, the version pinned in go.mod
# here) into $BENCH_DATA/peers/goproxy, for benches/load/run.py and
# benches/gograph/run.sh to measure beside modvault. The modules come from the go command's configured module
# proxy (`go env GOPROXY`) and are checked against go.sum. Does nothing when
# a binary of the pinned version is already there.
#
# `go install github.com/goproxy/goproxy/cmd/goproxy@VERSION` is not used,
# because it also requests the module's version list (@v/list) to report
# deprecations. The module proxy of the machine these benchmarks were
# written on responded to that request with 403 Forbidden, although it
# served the pinned version itself. Building the tool named by go.mod's
# `tool` directive requests only the pinned versions.
#
# On failure, prints why, writes the go command's output to
# $BENCH_DATA/peers/build.log and its last lines to
# $BENCH_DATA/peers/build-error.txt (which the benchmarks print when they
# skip goproxy), and exits with status 1.
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"

PEERS=$BENCH_DATA/peers
BIN=$PEERS/goproxy
mkdir -p "$PEERS"
rm -f "$PEERS/build.log"
cd "$REPO/benches/peers"

fail() {
  printf '%s\n' "$1" >"$PEERS/build-error.txt"
  [ -f "$PEERS/build.log" ] && tail -n 5 "$PEERS/build.log" >>"$PEERS/build-error.txt"
  log "error: $1"
  [ -f "$PEERS/build.log" ] && tail -n 20 "$PEERS/build.log" >&2
  log "the benchmarks skip goproxy until $BIN exists"
  exit 1
}

command -v go >/dev/null || fail "the go command is not on PATH, so goproxy cannot be built"
version=$(awk '$1 == "github.com/goproxy/goproxy" { print $2 }' go.mod)
[ -n "$version" ] || fail "benches/peers/go.mod does not require github.com/goproxy/goproxy"

if [ -x "$BIN" ] && [ "$("$BIN" --version 2>/dev/null)" = "goproxy version $version" ]; then
  log "goproxy $version already built at $BIN"
  rm -f "$PEERS/build-error.txt"
  exit 0
fi

# Prints the go command's output with every proxy URL of `go env GOPROXY`
# replaced by "<GOPROXY>", so that the files written here do not record the
# machine's proxy.
redact_proxies() {
  local script=() url
  for url in $(go env GOPROXY | tr ',|' '  '); do
    case $url in http://* | https://*) script+=(-e "s|${url%/}|<GOPROXY>|g") ;; esac
  done
  if [ ${#script[@]} -eq 0 ]; then cat; else sed "${script[@]}"; fi
}

log "building goproxy $version through the go command's module proxy (go env GOPROXY)"
# GOTOOLCHAIN=local: build with the installed go command instead of
# downloading the toolchain that a dependency's go.mod might request.
if ! GOTOOLCHAIN=local go build -trimpath -o "$BIN.tmp" github.com/goproxy/goproxy/cmd/goproxy 2>&1 |
  redact_proxies >"$PEERS/build.log"; then
  rm -f "$BIN.tmp"
  fail "building github.com/goproxy/goproxy/cmd/goproxy@$version failed; the go command's output follows"
fi
mv "$BIN.tmp" "$BIN"
rm -f "$PEERS/build-error.txt"
log "built $("$BIN" --version) at $BIN"
