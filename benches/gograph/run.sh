#!/usr/bin/env bash
# The go command through modvault, from a clean module cache each run:
#   warm: `go mod download` of the pinned graph from a filled modvault
#         (upstream off) against GOPROXY=file:// on the same content, the
#         floor;
#   cold: the same from an empty modvault filling from a static upstream
#         (nginx on loopback serving that content) against the go command
#         talking to that nginx directly;
#   warm goproxy: the warm comparison with goproxy (github.com/goproxy/goproxy,
#         built by benches/peers/build.sh) in modvault's place, filled once
#         and then serving with GOPROXY=off. Skipped, with a message, when
#         its binary does not exist.
# Needs the data from fill.sh. The two commands of each comparison run in
# alternation (alternate.py), so that the machine's drift falls on both.
# Writes their times as JSON and a summary to $BENCH_DATA/results/. RUNS
# (default 10) sets the runs per command.
# The go command's module cache goes to CLIENT_CACHE, by default on the
# /dev/shm tmpfs: extracting and deleting it on disk made single runs vary
# from 2 to 10 s here, which hid what the proxy adds.
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"

GRAPH=$BENCH_DATA/gograph
RESULTS=$BENCH_DATA/results
RUNS=${RUNS:-10}
[ -f "$GRAPH/filled" ] || "$REPO/benches/gograph/fill.sh"
need_apt nginx:nginx-light
build_modvault
mkdir -p "$RESULTS"

download=$GRAPH/gomodcache/cache/download
instance=$REPO/benches/gograph/modvault-instance.sh
client_cache=${CLIENT_CACHE:-/dev/shm/modvault-bench-modcache}
[ -d /dev/shm ] || client_cache=${CLIENT_CACHE:-$GRAPH/client-modcache}
# The go command's environment for every measured run: a private module
# cache, no checksum database (go.sum, which pins every hash, is still
# checked), no toolchain switch.
export GOMODCACHE=$client_cache GOCACHE=$GRAPH/gocache GOENV=off GOSUMDB=off \
  GOTOOLCHAIN=local GOFLAGS=-mod=readonly
clean_cache="GOMODCACHE=$client_cache go clean -modcache"
cd "$GRAPH/prog"

log "warm: modvault (filled, upstream off) against file://"
warm_port=$(free_port)
"$instance" start "$warm_port" "$GRAPH/modvault-data" off
STARTED_PIDS+=("$(cat "/tmp/modvault-bench-$warm_port.pid")")
python3 "$REPO/benches/gograph/alternate.py" --runs "$RUNS" --out "$RESULTS/gograph-warm.json" \
  file "$clean_cache" "GOPROXY=file://$download go mod download" \
  modvault "$clean_cache" "GOPROXY=http://127.0.0.1:$warm_port go mod download"
"$instance" stop "$warm_port"

if [ -x "$GOPROXY_BIN" ]; then
  log "warm: goproxy (filled, GOPROXY=off) against file://"
  # goproxy caches a module version only when its upstream serves the .info,
  # the .mod and the .zip, but the download folder lacks some of them, so it
  # fills from a copy with stubs for the missing files.
  python3 "$REPO/benches/lib/goproxy_upstream.py" "$download" "$GRAPH/goproxy-upstream" >/dev/null
  rm -rf "$GRAPH/goproxy-cache"
  start_goproxy "$GRAPH/goproxy-cache" "file://$GRAPH/goproxy-upstream"
  go clean -modcache
  GOPROXY=http://127.0.0.1:$GOPROXY_PORT go mod download
  stop_pid "$GOPROXY_PID"
  # With GOPROXY=off, goproxy can send only what it cached in the pass above,
  # so a measured run that needs any other file fails.
  start_goproxy "$GRAPH/goproxy-cache" off
  python3 "$REPO/benches/gograph/alternate.py" --runs "$RUNS" --out "$RESULTS/gograph-warm-goproxy.json" \
    file "$clean_cache" "GOPROXY=file://$download go mod download" \
    goproxy "$clean_cache" "GOPROXY=http://127.0.0.1:$GOPROXY_PORT go mod download"
  stop_pid "$GOPROXY_PID"
else
  log "goproxy skipped: no binary at $GOPROXY_BIN (benches/peers/build.sh builds it)"
  [ -f "$BENCH_DATA/peers/build-error.txt" ] && log "its last build failed: $(cat "$BENCH_DATA/peers/build-error.txt")"
  rm -f "$RESULTS/gograph-warm-goproxy.json"
fi

log "cold: empty modvault filling from nginx against the go command on nginx"
start_nginx "$download" "$GRAPH/nginx"
cold_port=$(free_port)
cold_start="$instance start $cold_port $GRAPH/cold-modvault-data http://127.0.0.1:$NGINX_PORT fresh"
python3 "$REPO/benches/gograph/alternate.py" --runs "$RUNS" --out "$RESULTS/gograph-cold.json" \
  direct "$clean_cache" "GOPROXY=http://127.0.0.1:$NGINX_PORT go mod download" \
  modvault "$clean_cache; $cold_start" "GOPROXY=http://127.0.0.1:$cold_port go mod download"
"$instance" stop "$cold_port"
go clean -modcache

python3 - "$RESULTS" "$GRAPH/modules.txt" <<'PY' | tee "$RESULTS/gograph-summary.txt"
import json, os, sys
results, modules = sys.argv[1], sys.argv[2]
count = sum(1 for _ in open(modules))
ratios = {}
for name, floor, proxy in [("warm", "file", "modvault"), ("cold", "direct", "modvault"),
                           ("warm-goproxy", "file", "goproxy")]:
    path = f"{results}/gograph-{name}.json"
    if not os.path.exists(path):
        print(f"gograph {name}: skipped")
        continue
    data = json.load(open(path))
    runs = {r["command"]: r for r in data["results"]}
    base, ours = runs[floor]["median"], runs[proxy]["median"]
    ratios[name] = ours / base
    print(f"gograph {name}: {count} modules, median {floor} {base:.3f} s, "
          f"{proxy} {ours:.3f} s, ratio of medians {ours / base:.3f}, "
          f"median of paired ratios {data['paired_ratio_median']:.3f}")
if "warm-goproxy" in ratios:
    # Each proxy ran against its own file:// runs, so their ratios are compared.
    print(f"gograph warm, modvault's ratio to file:// over goproxy's: {ratios['warm'] / ratios['warm-goproxy']:.3f}")
PY
