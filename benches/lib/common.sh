# Shared helpers for the benchmark scripts; source this file, do not run it.
#
# Every server these scripts start listens on 127.0.0.1 only, and every
# load generator targets those servers only.

# Heavy artefacts (stores, module caches, 100 MB zips) live outside the
# repository: in $MODVAULT_BENCH_DATA, by default a bench-data folder beside
# the checkout.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_DATA=${MODVAULT_BENCH_DATA:-$(dirname "$REPO")/bench-data}
MODVAULT_BIN=${MODVAULT_BIN:-$REPO/target/release/modvault}
# Built by benches/peers/build.sh.
GOPROXY_BIN=$BENCH_DATA/peers/goproxy
mkdir -p "$BENCH_DATA"

# PIDs of the servers started by this script, stopped on exit.
STARTED_PIDS=()

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

stop_started() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  STARTED_PIDS=()
}
trap stop_started EXIT

# Prints a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until http://127.0.0.1:PORT/PATH responds, for at most 30 s.
wait_http() {
  local port=$1 path=${2:-}
  local deadline=$((SECONDS + 30))
  until curl -s -o /dev/null "http://127.0.0.1:$port/$path"; do
    [ $SECONDS -lt $deadline ] || die "no HTTP response on 127.0.0.1:$port after 30 s"
    sleep 0.05
  done
}

# Installs the Debian packages named as arguments when their commands are
# missing; each argument is COMMAND:PACKAGE.
need_apt() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]} with apt-get"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
}

# Installs oha (a load generator with a fixed-rate mode) from crates.io.
need_oha() {
  command -v oha >/dev/null && return 0
  [ -x "$HOME/.cargo/bin/oha" ] && { PATH=$HOME/.cargo/bin:$PATH; return 0; }
  log "installing oha with cargo install"
  cargo install --locked oha >/dev/null
  PATH=$HOME/.cargo/bin:$PATH
}

build_modvault() {
  if [ "${MODVAULT_SKIP_BUILD:-}" = 1 ]; then
    [ -x "$MODVAULT_BIN" ] || die "MODVAULT_SKIP_BUILD=1 but $MODVAULT_BIN does not exist"
    return 0
  fi
  log "cargo build --release"
  (cd "$REPO" && cargo build --release --quiet)
}

# Starts modvault on a free port with the data directory $1 and the upstream
# list $2; sets MODVAULT_PORT and MODVAULT_PID. Logs go to $1.log.
start_modvault() {
  local data_dir=$1 upstream=$2
  MODVAULT_PORT=$(free_port)
  "$MODVAULT_BIN" serve --listen "127.0.0.1:$MODVAULT_PORT" --data-dir "$data_dir" \
    --upstream "$upstream" --log-level warn >"$data_dir.log" 2>&1 &
  MODVAULT_PID=$!
  STARTED_PIDS+=("$MODVAULT_PID")
  wait_http "$MODVAULT_PORT" healthz
}

stop_pid() {
  local pid=$1 kept=() p
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${STARTED_PIDS[@]}"; do
    [ "$p" = "$pid" ] || kept+=("$p")
  done
  STARTED_PIDS=("${kept[@]}")
}

# Starts nginx on a free port, serving the directory $1 as static files with
# the prefix $2 and the config from nginx.conf.in. Sets NGINX_PORT and
# NGINX_PID.
start_nginx() {
  local root=$1 prefix=$2
  NGINX_PORT=$(free_port)
  mkdir -p "$prefix/logs" "$prefix/tmp"
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@PORT@|$NGINX_PORT|g" -e "s|@ROOT@|$root|g" \
    "$REPO/benches/lib/nginx.conf.in" >"$prefix/nginx.conf"
  nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" &
  NGINX_PID=$!
  STARTED_PIDS+=("$NGINX_PID")
  wait_http "$NGINX_PORT"
}

# Starts goproxy (github.com/goproxy/goproxy) on a free port with its dir
# cacher in $1 and $2 as its GOPROXY: a proxy URL list (file:// URLs work)
# or "off", in which case it serves only what its cache contains. It never
# fetches directly (no "direct" entry) and checks no checksum database.
# Sets GOPROXY_PORT and GOPROXY_PID. Logs go to $1.log.
start_goproxy() {
  local cache_dir=$1 upstream=$2
  GOPROXY_PORT=$(free_port)
  mkdir -p "$cache_dir" "$cache_dir-tmp"
  GOPROXY=$upstream GONOPROXY='' GOPRIVATE='' GOSUMDB=off GONOSUMDB='' \
    "$GOPROXY_BIN" server --address "127.0.0.1:$GOPROXY_PORT" --cacher dir \
    --cacher-dir "$cache_dir" --temp-dir "$cache_dir-tmp" >>"$cache_dir.log" 2>&1 &
  GOPROXY_PID=$!
  STARTED_PIDS+=("$GOPROXY_PID")
  wait_http "$GOPROXY_PORT"
}

# Prints the first http(s) entry of the machine's `go env GOPROXY`.
machine_go_proxy() {
  go env GOPROXY | tr ',|' '\n\n' | grep -E '^https?://' | head -n 1
}
