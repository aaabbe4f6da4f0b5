#!/usr/bin/env python3
"""Hit path under load: modvault against nginx serving the same files, and goproxy.

Generates the module folder (gen_modules.py) and fills modvault from it once
through `--upstream file:///DIR`. Then it restarts modvault with the
upstream off, so that every response is a hit, starts nginx on the same
folder, and measures both in the same run, alternating the servers each
round. `--modvault NAME=BINARY` adds other modvault builds to the same run,
for example one with a proposed change.

goproxy (github.com/goproxy/goproxy, built by benches/peers/build.sh) is
measured in the same rounds when its binary exists, and skipped with a
message when it does not. It fills its dir cache once from the same folder
through a file:// GOPROXY, then serves it with GOPROXY=off, so that every
response it sends comes from its cache. It measures:

- small files (.info and .mod): requests/s and p50/p99 latency with wrk at
  full load, without Accept-Encoding and with `Accept-Encoding: gzip` (which
  the go command's HTTP client sends), and p99 with oha at half of nginx's
  peak rate (without Accept-Encoding);
- large zips (20-50 MiB): MB/s with wrk;
- small files again, with every server restarted alone on the first CPU
  and wrk (one thread per remaining CPU) on the others, so that the load
  generator takes no CPU from the server. This needs at least 2 CPUs.

Also records each server's CPU time per request, which is less noisy than
the rates on a shared machine. Writes $BENCH_DATA/results/load.json.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import goproxy_upstream  # noqa: E402
import servers  # noqa: E402

HERE = Path(__file__).resolve().parent
LUA = HERE / "paths.lua"


def run_wrk(server, paths_file, connections, seconds, headers=(), cpus=None):
    """Run wrk against one server; return its totals plus rates and CPU time.

    With cpus, wrk runs on those CPUs only, with one thread per CPU.
    """
    cpu_before = servers.cpu_seconds(server["pid"])
    threads = f"-t{len(cpus.split(','))}" if cpus else "-t2"
    command = ["wrk", threads, f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA)]
    for header in headers:
        command += ["-H", header]
    command += [f"http://127.0.0.1:{server['port']}", "--", str(paths_file)]
    output = subprocess.run(servers.pinned(command, cpus), capture_output=True, text=True, check=True).stdout
    cpu = servers.cpu_seconds(server["pid"]) - cpu_before
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    if result["errors"]:
        servers.log(f"warning: {result['errors']} failed requests or non-2xx answers on port {server['port']}")
    seconds_run = result["duration_us"] / 1e6
    result["requests_per_s"] = result["requests"] / seconds_run
    result["mb_per_s"] = result["bytes"] / seconds_run / 1e6
    result["bytes_per_request"] = result["bytes"] / max(result["requests"], 1)
    result["server_cpu_us_per_request"] = cpu * 1e6 / max(result["requests"], 1)
    return result


def run_oha_at_rate(server, urls_file, rate, seconds):
    """Run oha at a fixed rate, correcting for coordinated omission; return latencies in µs."""
    command = [
        "oha", "--no-tui", "--output-format", "json", "-z", f"{seconds}s", "-c", "64",
        "-q", str(int(rate)), "--latency-correction", "-H", "Accept-Encoding: identity",
        "--urls-from-file", str(urls_file),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    report = json.loads(output)
    percentiles = report["latencyPercentiles"]
    statuses = report.get("statusCodeDistribution", {})
    return {
        "requests_per_s": report["summary"]["requestsPerSec"],
        "p50_us": percentiles["p50"] * 1e6,
        "p99_us": percentiles["p99"] * 1e6,
        "non_200": sum(count for code, count in statuses.items() if code != "200"),
        "errors": sum(report.get("errorDistribution", {}).values()),
    }


def fill_modvault(root):
    """Fill modvault once from the generated folder; keep the store for later runs."""
    data_dir = root / "modvault-data"
    marker = root / "modvault-filled"
    if marker.exists():
        return data_dir
    if data_dir.exists():
        subprocess.run(["rm", "-rf", str(data_dir)], check=True)
    process, port, _ = servers.start_modvault(data_dir, f"file://{root / 'download'}")
    paths = []
    for name in ["urls-small.txt", "urls-zip.txt", "urls-large.txt", "url-huge.txt"]:
        paths += (root / name).read_text().split()
    servers.log(f"filling modvault with {len(paths)} files")
    total = servers.fetch_all(port, paths)
    servers.stop(process)
    marker.write_text(f"{len(paths)} files, {total} bytes\n")
    return data_dir


def fill_goproxy(root, binary):
    """Fill goproxy's dir cache once with every measured file; keep the cache for later runs.

    goproxy's upstream is a hard-linked copy of the generated folder with a
    stub zip for each version without one (goproxy_upstream.py), because
    goproxy caches a version only when its upstream serves all three files.
    Requesting a version's .info makes goproxy fetch and cache its .info,
    .mod and .zip.
    """
    cache_dir = root / "goproxy-cache"
    marker = root / "goproxy-filled"
    if marker.exists():
        return cache_dir
    upstream = root / "goproxy-upstream"
    if cache_dir.exists():
        subprocess.run(["rm", "-rf", str(cache_dir)], check=True)
    stubs = goproxy_upstream.make_upstream(root / "download", upstream)
    process, port = servers.start_goproxy(cache_dir, f"file://{upstream}", binary)
    paths = (root / "urls-small.txt").read_text().split() + (root / "urls-large.txt").read_text().split()
    servers.log(f"filling goproxy with {len(paths)} files, from the generated folder plus {stubs} stub files")
    total = servers.fetch_all(port, paths)
    servers.stop(process)
    subprocess.run(["rm", "-rf", str(upstream)], check=True)
    marker.write_text(f"{len(paths)} files, {total} bytes\n")
    return cache_dir


def check_goproxy_bytes(port, download, paths):
    """Compare goproxy's responses with the generated files; raise RuntimeError on the first difference.

    .mod and .zip responses must match byte for byte. goproxy rewrites an
    .info to contain only Version and Time, so those two fields are compared.
    """
    for path, body in servers.get_each(port, paths):
        expected = (download / path.lstrip("/")).read_bytes()
        if path.endswith(".info"):
            served, stored = json.loads(body), json.loads(expected)
            matches = (served["Version"], served["Time"]) == (stored["Version"], stored["Time"])
        else:
            matches = body == expected
        if not matches:
            raise RuntimeError(f"goproxy's response for {path} differs from {download / path.lstrip('/')}")


def goproxy_skip_reason(binary):
    """Return why goproxy cannot be measured, or None when its binary exists."""
    if binary.is_file():
        return None
    reason = f"no goproxy binary at {binary} (benches/peers/build.sh builds it)"
    build_error = servers.BENCH_DATA / "peers/build-error.txt"
    if binary == servers.GOPROXY_BIN and build_error.exists():
        reason += ". The last build failed: " + " / ".join(build_error.read_text().split("\n")).strip(" /")
    return reason


def median_of(rounds, key):
    return statistics.median(result[key] for result in rounds)


def start_all(starts, paths, cpus=None):
    """Start every server, read every path once through each, and return {name: {process, pid, port}}."""
    systems = {}
    for name, start in starts.items():
        process, port = start(cpus)
        systems[name] = {"process": process, "pid": process.pid, "port": port}
        servers.log(f"reading every file once through {name}")
        servers.fetch_all(port, paths)
    return systems


def compare(label, systems, measure, rounds):
    """Run measure(server) for every system, alternating, and summarise the medians."""
    results = {name: [] for name in systems}
    for round_index in range(rounds):
        for name, server in systems.items():
            result = measure(server)
            servers.log(f"{label} round {round_index + 1} {name}: "
                        + ", ".join(f"{k} {v:.4g}" for k, v in result.items() if isinstance(v, float)))
            results[name].append(result)
    summary = {}
    for name, rounds_of_system in results.items():
        keys = [k for k, v in rounds_of_system[0].items() if isinstance(v, (int, float))]
        summary[name] = {key: median_of(rounds_of_system, key) for key in keys}
    return summary


def main():
    parser = argparse.ArgumentParser(description="modvault's hit path under load, against nginx and goproxy")
    parser.add_argument("--seconds", type=int, default=10, help="length of each measurement (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per system; medians are reported (default: %(default)s)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections for small files (default: %(default)s)")
    parser.add_argument("--modvault", action="append", default=[], metavar="NAME=BINARY",
                        help="also measure this modvault build, on a copy of the store (repeatable)")
    parser.add_argument("--goproxy", type=Path, default=servers.GOPROXY_BIN, metavar="BINARY",
                        help="goproxy binary to measure; goproxy is skipped when it does not exist "
                             "(default: %(default)s)")
    args = parser.parse_args()
    builds = servers.parse_builds(args.modvault)

    root = servers.BENCH_DATA / "load"
    subprocess.run([sys.executable, str(HERE / "gen_modules.py"), str(root)], check=True)
    data_dir = fill_modvault(root)
    download = root / "download"

    # How to start each server, on given CPUs or on all of them.
    starts = {
        "nginx": lambda cpus=None: servers.start_nginx(download, root / "nginx", cpus=cpus),
        "modvault": lambda cpus=None: servers.start_modvault(data_dir, "off", cpus=cpus)[:2],
    }
    for name, binary in builds.items():
        clone = servers.clone_store(data_dir, name)
        starts[name] = lambda cpus=None, clone=clone, binary=binary: servers.start_modvault(
            clone, "off", binary=binary, cpus=cpus)[:2]
    small = root / "urls-small.txt"
    large = root / "urls-large.txt"
    skipped = {}
    goproxy_skipped = goproxy_skip_reason(args.goproxy)
    if goproxy_skipped:
        servers.log(f"goproxy skipped: {goproxy_skipped}")
        skipped["goproxy"] = goproxy_skipped
    else:
        # With GOPROXY=off, goproxy can respond with 200 only from its cache.
        cache_dir = fill_goproxy(root, args.goproxy)
        starts["goproxy"] = lambda cpus=None: servers.start_goproxy(cache_dir, "off", args.goproxy, cpus=cpus)
    systems = start_all(starts, small.read_text().split() + large.read_text().split())
    if "goproxy" in systems:
        servers.log("checking that goproxy serves the generated files from its cache")
        check_goproxy_bytes(systems["goproxy"]["port"], download, small.read_text().split() + large.read_text().split())

    report = {"machine": servers.machine_info(), "settings": vars(args), "skipped": skipped}
    report["small_files"] = compare(
        "small files", systems,
        lambda server: run_wrk(server, small, args.connections, args.seconds), args.rounds)
    report["small_files_gzip"] = compare(
        "small files, gzip accepted", systems,
        lambda server: run_wrk(server, small, args.connections, args.seconds, ["Accept-Encoding: gzip"]),
        args.rounds)
    report["large_zips"] = compare(
        "large zips", systems, lambda server: run_wrk(server, large, 8, args.seconds), args.rounds)

    half_rate = report["small_files"]["nginx"]["requests_per_s"] / 2
    with tempfile.TemporaryDirectory() as scratch:
        for name, server in systems.items():
            server["urls"] = Path(scratch) / f"{name}.txt"
            server["urls"].write_text("".join(
                f"http://127.0.0.1:{server['port']}{path}\n" for path in small.read_text().split()))
        report["half_rate"] = compare(
            f"small files at {half_rate:.0f} requests/s", systems,
            lambda server: run_oha_at_rate(server, server["urls"], half_rate, args.seconds),
            args.rounds)
    report["half_rate_target_requests_per_s"] = half_rate

    # The same small-file test with each server alone on one CPU and wrk on
    # the others, so that the load generator takes no CPU from the server.
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        skipped["small files on one CPU"] = "needs at least 2 CPUs"
    elif shutil.which("taskset") is None:
        skipped["small files on one CPU"] = "taskset is not installed (Debian package util-linux)"
    else:
        server_cpu, wrk_cpus = str(cpus[0]), ",".join(str(cpu) for cpu in cpus[1:])
        for server in systems.values():
            servers.stop(server["process"])
        servers.log(f"restarting every server on CPU {server_cpu}, with wrk on CPU {wrk_cpus}")
        systems = start_all(starts, small.read_text().split(), server_cpu)
        report["small_files_one_core"] = compare(
            f"small files, server on CPU {server_cpu}", systems,
            lambda server: run_wrk(server, small, args.connections, args.seconds, cpus=wrk_cpus), args.rounds)

    results = servers.BENCH_DATA / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "load.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print_summary(report)


def print_summary(report):
    """Print one line per system and test, with its ratio to nginx, then modvault's ratio to goproxy."""
    tests = [
        ("small files", "small_files", "requests_per_s", "req/s"),
        ("small files, gzip accepted", "small_files_gzip", "requests_per_s", "req/s"),
        ("large zips", "large_zips", "mb_per_s", "MB/s"),
        (f"small files at {report['half_rate_target_requests_per_s']:.0f} req/s", "half_rate",
         "requests_per_s", "req/s reached"),
    ]
    if "small_files_one_core" in report:
        tests.append(("small files, server alone on one CPU", "small_files_one_core", "requests_per_s", "req/s"))
    for label, key, rate, unit in tests:
        nginx = report[key]["nginx"]
        for name, result in report[key].items():
            line = (f"{label:<40} {name:<18} {result[rate]:>9.0f} {unit}, p50 {result['p50_us'] / 1000:.2f} ms, "
                    f"p99 {result['p99_us'] / 1000:.2f} ms")
            if "server_cpu_us_per_request" in result:
                line += f", server CPU {result['server_cpu_us_per_request']:.1f} µs/request"
            if key != "half_rate":
                line += f", ratio to nginx {result[rate] / nginx[rate]:.2f}"
            print(line)

    for name, reason in report["skipped"].items():
        print(f"{name} skipped: {reason}")
    if "goproxy" not in report["small_files"]:
        return
    for label, key, rate, unit in tests:
        if key == "half_rate":
            continue
        ratio = report[key]["modvault"][rate] / report[key]["goproxy"][rate]
        target = ", target >= 3" if key in ("small_files", "small_files_one_core") else ""
        print(f"{label:<40} modvault / goproxy {ratio:.2f} ({unit}{target})")
    # goproxy sends an .info with Version and Time only, so its small-file
    # responses carry fewer bytes than modvault's and nginx's.
    small = report["small_files"]
    print(f"{'small files, mean bytes per response':<40} goproxy {small['goproxy']['bytes_per_request']:.0f}, "
          f"modvault {small['modvault']['bytes_per_request']:.0f}, nginx {small['nginx']['bytes_per_request']:.0f}"
          " (headers included)")


if __name__ == "__main__":
    main()
