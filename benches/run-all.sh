#!/usr/bin/env bash
# Runs every modvault benchmark and prints the summaries that
# benches/README.md's results table is made from. Heavy data goes to
# $MODVAULT_BENCH_DATA (default: a bench-data folder beside the checkout);
# the results go to its results/ folder. Takes about 30 minutes on 2 cores,
# more on the first run, which generates the data and fills modvault once
# from the machine's Go module proxy (benches/gograph/fill.sh).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$REPO"

need_apt wrk:wrk nginx:nginx-light curl:curl
need_oha
build_modvault
# The load and go command benchmarks measure goproxy beside modvault when it
# builds, and print why they skip it when it does not.
benches/peers/build.sh || log "goproxy could not be built; the benchmarks below skip it"
# Every step measures a copy of this one build, even if the checkout is
# rebuilt meanwhile.
cp "$MODVAULT_BIN" "$BENCH_DATA/modvault-measured"
export MODVAULT_BIN=$BENCH_DATA/modvault-measured MODVAULT_SKIP_BUILD=1
RESULTS=$BENCH_DATA/results
mkdir -p "$RESULTS"
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' (src/ modified)')"
  echo "cores: $(nproc), memory: $(free -g | awk '/^Mem:/ {print $2}') GiB"
} | tee "$RESULTS/machine.txt"

log "criterion micro benchmarks"
MODVAULT_BENCH_DATA=$BENCH_DATA cargo bench --bench module --bench hash --bench store 2>&1 |
  tee "$RESULTS/criterion.txt"

log "hit path under load"
python3 benches/load/run.py | tee "$RESULTS/load-summary.txt"

log "memory and startup"
python3 benches/memory/run.py | tee "$RESULTS/memory-summary.txt"

log "the go command, warm and cold"
benches/gograph/run.sh
