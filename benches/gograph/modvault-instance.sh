#!/usr/bin/env bash
# Starts or stops one modvault from hyperfine's --prepare step, which runs in
# its own shell: `start PORT DATA_DIR UPSTREAM [fresh]` (with `fresh`, the
# data directory is emptied first) and `stop PORT`. The PID is
# kept in /tmp/modvault-bench-PORT.pid. The checksum database is off, as for
# the go command in these runs: the loopback upstream does not serve one,
# and the go command still checks every download against go.sum.
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
trap - EXIT

command=$1 port=$2
pid_file=/tmp/modvault-bench-$port.pid
stop() {
  [ -f "$pid_file" ] || return 0
  local pid
  pid=$(cat "$pid_file")
  kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
  rm -f "$pid_file"
}

case $command in
  start)
    data_dir=$3 upstream=$4
    stop
    if [ "${5:-}" = fresh ]; then
      rm -rf "$data_dir"
    fi
    mkdir -p "$data_dir"
    "$MODVAULT_BIN" serve --listen "127.0.0.1:$port" --data-dir "$data_dir" \
      --upstream "$upstream" --sumdb off --log-level warn >>"$data_dir.log" 2>&1 &
    echo $! >"$pid_file"
    wait_http "$port" healthz
    ;;
  stop) stop ;;
  *) die "usage: $0 start PORT DATA_DIR UPSTREAM [fresh] | stop PORT" ;;
esac
