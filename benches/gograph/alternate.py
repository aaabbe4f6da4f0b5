#!/usr/bin/env python3
"""Times two shell commands in alternation: A, B, A, B, ...

On a shared machine, the speed drifts over a minute. Running all of A's
runs and then all of B's puts that drift into the ratio. Alternating puts
each run of B next to a run of A, so both runs of a pair meet about the
same load.
Each run is preceded by its prepare command (not timed). The output is JSON
in the shape of hyperfine's --export-json (results: command, median, times),
plus the median of the per-pair ratios B/A.

usage: alternate.py --runs N --out FILE NAME_A PREPARE_A COMMAND_A NAME_B PREPARE_B COMMAND_B
"""

import argparse
import json
import statistics
import subprocess
import sys
import time


def timed(prepare, command):
    """Run `prepare`, then return the seconds that `command` takes."""
    subprocess.run(prepare, shell=True, check=True, stdout=subprocess.DEVNULL)
    started = time.perf_counter()
    subprocess.run(command, shell=True, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", required=True)
    parser.add_argument("spec", nargs=6, metavar="ARG")
    args = parser.parse_args()
    name_a, prepare_a, command_a, name_b, prepare_b, command_b = args.spec

    timed(prepare_a, command_a)
    timed(prepare_b, command_b)
    times_a, times_b = [], []
    for run in range(args.runs):
        times_a.append(timed(prepare_a, command_a))
        times_b.append(timed(prepare_b, command_b))
        print(f"  run {run + 1}: {name_a} {times_a[-1]:.3f} s, {name_b} {times_b[-1]:.3f} s", file=sys.stderr)

    ratios = [b / a for a, b in zip(times_a, times_b)]
    result = {
        "results": [
            {"command": name_a, "median": statistics.median(times_a), "times": times_a},
            {"command": name_b, "median": statistics.median(times_b), "times": times_b},
        ],
        "paired_ratio_median": statistics.median(ratios),
    }
    with open(args.out, "w") as out:
        json.dump(result, out, indent=1)


if __name__ == "__main__":
    main()
