"""Start and watch the servers that the Python benchmark drivers compare.

Every server listens on 127.0.0.1 only. Each started process is stopped
when the driver exits, also after an error.
"""

import atexit
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BENCH_DATA = Path(os.environ.get("MODVAULT_BENCH_DATA", REPO.parent / "bench-data"))
MODVAULT_BIN = Path(os.environ.get("MODVAULT_BIN", REPO / "target/release/modvault"))
# Built by benches/peers/build.sh.
GOPROXY_BIN = BENCH_DATA / "peers/goproxy"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

_started = []


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _stop_all():
    for process in reversed(_started):
        stop(process)


atexit.register(_stop_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process in _started:
        _started.remove(process)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(port, path="/", timeout=30.0):
    """Wait until GET path gets a response on 127.0.0.1:port; return the seconds waited."""
    started = time.monotonic()
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            connection.getresponse().read()
            connection.close()
            return time.monotonic() - started
        except OSError:
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"no HTTP response on 127.0.0.1:{port} after {timeout:.0f} s")
            time.sleep(0.002)


def pinned(command, cpus):
    """Prefix command with taskset, so that it runs on the CPUs in cpus (a taskset list such as "0"), if given."""
    return ["taskset", "-c", cpus] + command if cpus else command


def start_modvault(data_dir, upstream, port=None, binary=None, cpus=None):
    """Start modvault (binary, by default MODVAULT_BIN); return (process, port, seconds until /healthz responded).

    The checksum database is off: the generated modules are not in it.
    With cpus, it runs on those CPUs only (see pinned).
    """
    port = port or free_port()
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file = open(f"{data_dir}.log", "ab")
    command = [
        str(binary or MODVAULT_BIN), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir),
        "--upstream", upstream, "--sumdb", "off", "--log-level", "warn",
    ]
    started = time.monotonic()
    process = subprocess.Popen(pinned(command, cpus), stdout=log_file, stderr=subprocess.STDOUT)
    _started.append(process)
    wait_http(port, "/healthz")
    return process, port, time.monotonic() - started


def start_goproxy(cache_dir, upstream, binary=GOPROXY_BIN, cpus=None):
    """Start goproxy (github.com/goproxy/goproxy) with its dir cacher; return (process, port).

    upstream becomes goproxy's GOPROXY: a proxy URL list (file:// URLs work)
    or "off", in which case it serves only what its cache contains and
    responds with 404 to the rest. It never fetches directly (no "direct"
    entry), and the checksum database is off because the generated modules
    are not in it. With cpus, it runs on those CPUs only (see pinned).
    """
    port = free_port()
    cache_dir = Path(cache_dir)
    temp_dir = cache_dir.parent / f"{cache_dir.name}-tmp"
    cache_dir.mkdir(parents=True, exist_ok=True)
    temp_dir.mkdir(parents=True, exist_ok=True)
    environment = dict(os.environ, GOPROXY=upstream, GONOPROXY="", GOPRIVATE="", GOSUMDB="off", GONOSUMDB="")
    log_file = open(f"{cache_dir}.log", "ab")
    command = [
        str(binary), "server", "--address", f"127.0.0.1:{port}", "--cacher", "dir",
        "--cacher-dir", str(cache_dir), "--temp-dir", str(temp_dir),
    ]
    process = subprocess.Popen(pinned(command, cpus), stdout=log_file, stderr=subprocess.STDOUT, env=environment)
    _started.append(process)
    wait_http(port)
    return process, port


def start_nginx(root, prefix, cpus=None):
    """Serve root as static files with benches/lib/nginx.conf.in; return (process, port).

    With cpus, nginx runs on those CPUs only (see pinned), with one worker.
    """
    if shutil.which("nginx") is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
    port = free_port()
    prefix = Path(prefix)
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    template = (REPO / "benches/lib/nginx.conf.in").read_text()
    config = template.replace("@PREFIX@", str(prefix)).replace("@PORT@", str(port)).replace("@ROOT@", str(root))
    if cpus:
        config = config.replace("worker_processes auto;", "worker_processes 1;")
    (prefix / "nginx.conf").write_text(config)
    command = ["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "logs/error.log")]
    process = subprocess.Popen(pinned(command, cpus))
    _started.append(process)
    wait_http(port)
    return process, port


def parse_builds(entries):
    """Parse --modvault NAME=BINARY arguments into {name: path}."""
    builds = {}
    for entry in entries:
        name, separator, path = entry.partition("=")
        if not separator or not Path(path).is_file():
            raise SystemExit(f"--modvault {entry!r}: expected NAME=BINARY with an existing BINARY")
        builds[f"modvault-{name}"] = Path(path)
    return builds


def clone_store(data_dir, name):
    """Copy a modvault data directory for a second process: blobs as hard links, the index in full."""
    clone = data_dir.parent / f"{data_dir.name}-{name}"
    if clone.exists():
        subprocess.run(["rm", "-rf", str(clone)], check=True)
    subprocess.run(["cp", "-al", str(data_dir), str(clone)], check=True)
    subprocess.run(["rm", "-rf", str(clone / "index")], check=True)
    subprocess.run(["cp", "-r", str(data_dir / "index"), str(clone / "index")], check=True)
    return clone


def process_tree(pid):
    """Return pid and the PIDs of its children (nginx's workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = [pid]
    if children.exists():
        for child in children.read_text().split():
            found += process_tree(int(child))
    return found


def cpu_seconds(pid):
    """User plus system CPU time of pid and its children, in seconds."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def memory_kib(pid, field):
    """Read a Vm* field (VmRSS, VmHWM) of /proc/pid/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def get_each(port, paths):
    """GET every path once over one keep-alive connection, yielding (path, body); fail on any non-200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for path in paths:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} on port {port} returned {response.status}: {body[:200]!r}")
        yield path, body
    connection.close()


def fetch_all(port, paths):
    """GET every path once; return the bytes received."""
    return sum(len(body) for _, body in get_each(port, paths))


def machine_info():
    memory = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.split("\n")[1].split()[1]
    return {"cores": os.cpu_count(), "memory_gib": int(memory)}
