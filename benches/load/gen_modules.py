#!/usr/bin/env python3
"""Generate a module download folder for the load benchmarks.

The folder is laid out like GOMODCACHE/cache/download, so modvault can fill
from it with `--upstream file:///DIR` and nginx can serve it as static
files. It contains:

- small files: MODULES modules with VERSIONS versions each, every version
  with an .info (0.2-1 KiB, with an Origin block as the public proxies send)
  and a .mod (0.2-5 KiB of require lines), and an @v/list per module;
- zips from 10 KiB to 50 MiB, spread log-uniformly, for one version of some
  modules, plus LARGE_ZIPS zips of 20-50 MiB for the throughput test;
- one 100 MiB zip for the memory test.

Zip entries are stored (not deflated) random bytes, so each zip has exactly
the size asked for, plus a go.mod entry. Every path in a zip starts with
`<module>@<version>/`, as the module zip rules require.

Writes urls-small.txt, urls-zip.txt, urls-large.txt and url-huge.txt (paths
without a host) next to the download folder. The same seed gives the same
folder, so a finished folder is reused.
"""

import argparse
import json
import os
import random
import zipfile
from pathlib import Path

MODULES = 400
VERSIONS = 5
MIXED_ZIPS = 80
LARGE_ZIPS = 8
HUGE_ZIP_BYTES = 100 * 1024 * 1024


def escape(path):
    """Apply the module proxy's case encoding: `A` becomes `!a`."""
    return "".join("!" + c.lower() if c.isupper() else c for c in path)


def module_path(index):
    owner = ["BenchOrg", "acme", "Example-Labs", "tools"][index % 4]
    return f"github.com/{owner}/service-{index:04d}"


def version_name(index):
    return f"v1.{index}.{(index * 7) % 4}"


def info_body(rng, module, version):
    origin = {
        "VCS": "git",
        "URL": f"https://{module}",
        "Hash": "%040x" % rng.getrandbits(160),
        "Ref": f"refs/tags/{version}",
    }
    body = {"Version": version, "Time": "2024-03-%02dT10:00:00Z" % rng.randint(1, 28), "Origin": origin}
    text = json.dumps(body)
    target = rng.randint(200, 1024)
    if len(text) < target:
        body["Origin"]["Subdir"] = "x" * (target - len(text) - 14)
        text = json.dumps(body)
    return text.encode()


def mod_body(rng, module, modules):
    lines = [f"module {module}", "", "go 1.22", "", "require ("]
    target = rng.randint(200, 5 * 1024)
    while sum(len(line) + 1 for line in lines) < target:
        other = module_path(rng.randrange(modules))
        lines.append(f"\t{other} {version_name(rng.randrange(VERSIONS))} // indirect")
    lines.append(")")
    return ("\n".join(lines) + "\n").encode()


def write_zip(path, module, version, size, rng):
    prefix = f"{module}@{version}/"
    go_mod = f"module {module}\n\ngo 1.22\n".encode()
    remaining = max(size - 400, 1024)
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(prefix + "go.mod", go_mod)
        part = 0
        while remaining > 0:
            chunk = min(remaining, 8 * 1024 * 1024)
            archive.writestr(f"{prefix}testdata/blob{part:03d}.bin", rng.randbytes(chunk))
            remaining -= chunk + 140
            part += 1
    tmp.rename(path)


def generate(root, seed):
    rng = random.Random(seed)
    download = root / "download"
    small, zips, large = [], [], []

    for m in range(MODULES):
        module = module_path(m)
        folder = download / escape(module) / "@v"
        folder.mkdir(parents=True, exist_ok=True)
        versions = [version_name(v) for v in range(VERSIONS)]
        (folder / "list").write_text("\n".join(versions) + "\n")
        for version in versions:
            for ext, body in (("info", info_body(rng, module, version)), ("mod", mod_body(rng, module, MODULES))):
                (folder / f"{version}.{ext}").write_bytes(body)
                small.append(f"/{escape(module)}/@v/{version}.{ext}")

    low, high = 10 * 1024, 50 * 1024 * 1024
    sizes = [int(low * (high / low) ** (i / (MIXED_ZIPS - 1))) for i in range(MIXED_ZIPS)]
    sizes += [rng.randint(20 * 1024 * 1024, high) for _ in range(LARGE_ZIPS)]
    for i, size in enumerate(sizes):
        module = module_path(i)
        version = version_name(VERSIONS - 1)
        zip_path = download / escape(module) / "@v" / f"{version}.zip"
        if not zip_path.exists():
            write_zip(zip_path, module, version, size, rng)
        url = f"/{escape(module)}/@v/{version}.zip"
        (large if i >= MIXED_ZIPS else zips).append(url)

    huge_module = module_path(MODULES - 1)
    huge_version = version_name(0)
    huge = download / escape(huge_module) / "@v" / f"{huge_version}.zip"
    if not huge.exists():
        write_zip(huge, huge_module, huge_version, HUGE_ZIP_BYTES, rng)

    (root / "urls-small.txt").write_text("\n".join(small) + "\n")
    (root / "urls-zip.txt").write_text("\n".join(zips) + "\n")
    (root / "urls-large.txt").write_text("\n".join(large) + "\n")
    (root / "url-huge.txt").write_text(f"/{escape(huge_module)}/@v/{huge_version}.zip\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="output folder; the download folder goes in ROOT/download")
    parser.add_argument("--seed", type=int, default=20240301, help="random seed (default: %(default)s)")
    args = parser.parse_args()
    marker = args.root / "generated"
    if marker.exists():
        return
    args.root.mkdir(parents=True, exist_ok=True)
    generate(args.root, args.seed)
    marker.write_text(f"seed {args.seed}\n")


if __name__ == "__main__":
    main()
