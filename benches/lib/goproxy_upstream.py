#!/usr/bin/env python3
"""Make a module folder that goproxy (github.com/goproxy/goproxy) can fill its cache from.

goproxy v0.21.0 caches a module version only after its upstream served the
.info, the .mod and the .zip of that version, and responds with 404 for
all three otherwise. The benchmarks' folders lack some of them. The load
benchmark's generated folder has zips for only a few versions. A
GOMODCACHE/cache/download folder contains only the files that the go
command fetched, often a .info or a .mod without a zip.

This copies SOURCE to DEST as hard links and adds a stub for each missing
file of a version that has at least one: a .info with the Version only, a
.mod with the module directive only (or the zip's go.mod), and a zip that
contains only the .mod as go.mod. The go command never requests the stubs in
these benchmarks, since it requests only files that SOURCE has.

usage: goproxy_upstream.py SOURCE DEST
"""

import argparse
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

EXTENSIONS = (".info", ".mod", ".zip")


def unescape(escaped):
    """Undo the module proxy's case encoding: `!a` becomes `A`."""
    return re.sub(r"!([a-z])", lambda match: match.group(1).upper(), escaped)


def go_mod_from_zip(zip_file, prefix):
    """Return the go.mod at the module root of zip_file, or None when it has none."""
    with zipfile.ZipFile(zip_file) as archive:
        try:
            return archive.read(prefix + "go.mod")
        except KeyError:
            return None


def add_stubs(version_dir, module):
    """Write the missing .info, .mod and .zip of every version in version_dir (an @v folder); return how many."""
    versions = sorted({file.name[: -len(file.suffix)] for file in version_dir.iterdir() if file.suffix in EXTENSIONS})
    written = 0
    for escaped_version in versions:
        version = unescape(escaped_version)
        prefix = f"{module}@{version}/"
        info, mod, zip_file = (version_dir / (escaped_version + extension) for extension in EXTENSIONS)
        if not info.exists():
            info.write_text(json.dumps({"Version": version}))
            written += 1
        if not mod.exists():
            go_mod = go_mod_from_zip(zip_file, prefix) if zip_file.exists() else None
            mod.write_bytes(go_mod or f"module {module}\n".encode())
            written += 1
        if not zip_file.exists():
            with zipfile.ZipFile(zip_file, "w") as archive:
                archive.writestr(prefix + "go.mod", mod.read_bytes())
            written += 1
    return written


def make_upstream(source, dest):
    """Copy source to dest as hard links and add the stubs; return the number of stub files written."""
    if dest.exists():
        shutil.rmtree(dest)
    subprocess.run(["cp", "-al", str(source), str(dest)], check=True)
    written = 0
    for version_dir in sorted(dest.rglob("@v")):
        module = unescape(str(version_dir.parent.relative_to(dest)))
        written += add_stubs(version_dir, module)
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="module folder laid out like GOMODCACHE/cache/download")
    parser.add_argument("dest", type=Path, help="folder to create; an existing one is replaced")
    args = parser.parse_args()
    written = make_upstream(args.source, args.dest)
    print(f"{args.dest}: {written} stub files added")


if __name__ == "__main__":
    main()
