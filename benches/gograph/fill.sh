#!/usr/bin/env bash
# Fills the go command benchmarks' data ONCE. Starts modvault on loopback
# with the machine's Go module proxy (the first http(s) entry of
# `go env GOPROXY`) as its upstream. Then the go command downloads the module
# graph of the program in this folder through it. Keeps in $BENCH_DATA/gograph:
#   modvault-data/  the filled modvault store (reused by the warm benchmark)
#   gomodcache/     the go command's module cache from that pass; its
#                   cache/download folder is the file:// floor and the
#                   content the cold benchmark's static upstream serves
#   prog/           go.mod, go.sum and main.go as downloaded
# Does nothing when the data exists: the Go module proxy is used for this one
# pass only, never for measurements.
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"

GRAPH=$BENCH_DATA/gograph
if [ -f "$GRAPH/filled" ]; then
  log "go module graph already filled in $GRAPH"
  exit 0
fi
command -v go >/dev/null || die "the go command is not on PATH"
upstream=$(machine_go_proxy) || true
[ -n "$upstream" ] || die "\`go env GOPROXY\` names no http(s) proxy to fill from"

build_modvault
rm -rf "$GRAPH/modvault-data" "$GRAPH/prog"
[ -d "$GRAPH/gomodcache" ] && GOMODCACHE=$GRAPH/gomodcache go clean -modcache
mkdir -p "$GRAPH/prog" "$GRAPH/modvault-data"
cp "$REPO/benches/gograph/go.mod" "$REPO/benches/gograph/main.go" "$GRAPH/prog/"
if [ -f "$REPO/benches/gograph/go.sum" ]; then
  cp "$REPO/benches/gograph/go.sum" "$GRAPH/prog/"
fi

start_modvault "$GRAPH/modvault-data" "$upstream"
log "filling modvault from the machine's Go module proxy (one pass)"
(
  cd "$GRAPH/prog"
  export GOMODCACHE=$GRAPH/gomodcache GOCACHE=$GRAPH/gocache GOENV=off \
    GOPROXY=http://127.0.0.1:$MODVAULT_PORT GOSUMDB=off GOTOOLCHAIN=local GOFLAGS=
  go mod tidy
  go mod download
  go list -m all >"$GRAPH/modules.txt"
)
stop_pid "$MODVAULT_PID"

log "$(wc -l <"$GRAPH/modules.txt") modules in the graph, $(du -sh "$GRAPH/modvault-data" | cut -f1) in modvault"
if [ ! -f "$REPO/benches/gograph/go.sum" ]; then
  cp "$GRAPH/prog/go.mod" "$GRAPH/prog/go.sum" "$REPO/benches/gograph/"
  log "pinned the graph: wrote benches/gograph/go.mod and go.sum"
fi
touch "$GRAPH/filled"
