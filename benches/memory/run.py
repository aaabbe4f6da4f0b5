#!/usr/bin/env python3
"""Memory and startup of modvault, with nginx measured the same way.

- Startup: time from exec until /healthz responds, and resident memory
  (VmRSS) a second later, with the store of 100 000 versions that
  `cargo bench --bench store` builds, next to the same for an empty store.
- Peak memory: VmHWM while 200 clients (curl, each limited to --client-rate)
  download the 100 MiB zip of the load benchmark at once, for modvault and
  for nginx serving the same file (nginx: master plus workers).

`--modvault NAME=BINARY` adds another modvault build to the download test.
Needs the load benchmark's data (benches/load/run.py fills it). Writes
$BENCH_DATA/results/memory.json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import servers  # noqa: E402


def ensure_version_store():
    store = servers.BENCH_DATA / "store-100k"
    if not (store / "complete").exists():
        servers.log("building the store of 100 000 versions (cargo bench --bench store)")
        environment = dict(os.environ, MODVAULT_BENCH_POPULATE_ONLY="1",
                           MODVAULT_BENCH_DATA=str(servers.BENCH_DATA))
        subprocess.run(["cargo", "bench", "--bench", "store"], cwd=servers.REPO, env=environment, check=True)
    return store


def measure_startup(data_dir, runs):
    """Start modvault `runs` times on data_dir; return median seconds to ready and VmRSS in KiB."""
    seconds, rss = [], []
    for _ in range(runs):
        process, _, ready_after = servers.start_modvault(data_dir, "off")
        time.sleep(1)
        rss.append(servers.memory_kib(process.pid, "VmRSS"))
        seconds.append(ready_after)
        servers.stop(process)
    return {"startup_s": statistics.median(seconds), "rss_kib": statistics.median(rss),
            "startup_s_all": seconds}


def tree_memory_kib(pid, field):
    return sum(servers.memory_kib(member, field) for member in servers.process_tree(pid))


def concurrent_downloads(pid, port, path, clients, rate, expected_bytes):
    """Run `clients` rate-limited curl downloads of path at once; return the server's peak memory."""
    rss_before = tree_memory_kib(pid, "VmRSS")
    url = f"http://127.0.0.1:{port}{path}"
    with tempfile.TemporaryDirectory() as scratch:
        processes = []
        for index in range(clients):
            output = open(Path(scratch) / f"{index}.size", "w")
            processes.append(subprocess.Popen(
                ["curl", "-s", "-o", "/dev/null", "--limit-rate", rate, "-w", "%{http_code} %{size_download}", url],
                stdout=output))
        peak_rss = rss_before
        while any(process.poll() is None for process in processes):
            peak_rss = max(peak_rss, tree_memory_kib(pid, "VmRSS"))
            time.sleep(0.05)
        results = [(Path(scratch) / f"{index}.size").read_text().split() for index in range(clients)]
    complete = sum(1 for status, size in results if status == "200" and int(size) == expected_bytes)
    return {
        "clients": clients,
        "complete_downloads": complete,
        "rss_before_kib": rss_before,
        "peak_rss_polled_kib": peak_rss,
        "vmhwm_kib": tree_memory_kib(pid, "VmHWM"),
    }


def main():
    parser = argparse.ArgumentParser(description="modvault's memory and startup time")
    parser.add_argument("--clients", type=int, default=200, help="concurrent downloads (default: %(default)s)")
    parser.add_argument("--client-rate", default="4M", help="curl --limit-rate per client (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=5, help="startups per store (default: %(default)s)")
    parser.add_argument("--modvault", action="append", default=[], metavar="NAME=BINARY",
                        help="also measure this modvault build in the download test (repeatable)")
    args = parser.parse_args()
    builds = servers.parse_builds(args.modvault)

    load = servers.BENCH_DATA / "load"
    if not (load / "modvault-filled").exists():
        sys.exit("the load benchmark's data is missing: run benches/load/run.py first")
    report = {"machine": servers.machine_info(), "settings": vars(args)}

    store = ensure_version_store()
    with tempfile.TemporaryDirectory() as empty:
        report["startup_empty_store"] = measure_startup(Path(empty) / "data", args.runs)
    report["startup_100k_versions"] = measure_startup(store, args.runs)

    huge_path = (load / "url-huge.txt").read_text().strip()
    huge_bytes = (load / "download" / huge_path.lstrip("/")).stat().st_size
    modvault, modvault_port, _ = servers.start_modvault(load / "modvault-data", "off")
    nginx, nginx_port = servers.start_nginx(load / "download", load / "nginx")
    systems = [("modvault", modvault, modvault_port), ("nginx", nginx, nginx_port)]
    for name, binary in builds.items():
        data_dir = servers.clone_store(load / "modvault-data", name)
        process, port, _ = servers.start_modvault(data_dir, "off", binary=binary)
        systems.append((name, process, port))
    for name, process, port in systems:
        servers.fetch_all(port, [huge_path])
        servers.log(f"{args.clients} concurrent downloads of {huge_bytes} bytes from {name}")
        report[f"downloads_{name}"] = concurrent_downloads(
            process.pid, port, huge_path, args.clients, args.client_rate, huge_bytes)

    results = servers.BENCH_DATA / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "memory.json").write_text(json.dumps(report, indent=2) + "\n")

    for key in ["startup_empty_store", "startup_100k_versions"]:
        entry = report[key]
        print(f"{key}: ready after {entry['startup_s'] * 1000:.0f} ms, VmRSS {entry['rss_kib'] / 1024:.1f} MiB")
    for name, _, _ in systems:
        entry = report[f"downloads_{name}"]
        print(f"{name}, {entry['clients']} concurrent 100 MiB downloads: peak VmHWM {entry['vmhwm_kib'] / 1024:.1f} MiB "
              f"(RSS before {entry['rss_before_kib'] / 1024:.1f} MiB), {entry['complete_downloads']} complete")


if __name__ == "__main__":
    main()
