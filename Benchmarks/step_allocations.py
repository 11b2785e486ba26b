#!/usr/bin/env python3
"""Heap allocations of the release metasimd per step and per episode reset.

Builds alloc_counter.c (an interposed malloc that counts every call and writes the count on
SIGUSR1) with `cc`, starts `.build/release/metasimd` with it preloaded on a private socket, and
for every case opens a session through the Python client, warms it up (3,000 batch steps with
random actions and auto-reset), then reads the daemon's count before and after each of --samples
single batch steps. Steps in which no episode ended must allocate nothing; a step in which
episodes ended also rebuilds those instances' worlds for their next episodes, and the allocations
per reset are reported. Twenty pairs of reads with nothing requested in between check that the
daemon allocates nothing on its own meanwhile.

Target (printed, not an error): no allocation in a step without a reset.

Run with any python that has numpy: `make bench-allocations`.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "clients" / "python"))
from metasim_client import Client  # noqa: E402

sys.path.insert(0, str(HERE))
from daemon_start import wait_until_serving  # noqa: E402
from results_file import write_atomic  # noqa: E402

CASES = [("lunar-lander", 16, 1), ("lunar-lander", 16, 2), ("bipedal-walker", 16, 2), ("point-nav", 16, 1),
         ("track-racer", 16, 2), ("cartpole", 16, 1)]


class Counter:
    """The preloaded daemon's allocation count, read through SIGUSR1 and its stderr."""

    def __init__(self, proc, log):
        self.proc, self.log = proc, log

    def read(self):
        before = self.log.stat().st_size
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            text = self.log.read_bytes()[before:].decode(errors="replace")
            for line in text.split("\n")[:-1]:  # complete lines only
                fields = line.split()
                if len(fields) == 2 and fields[0] == "ALLOCATIONS":
                    return int(fields[1])
            time.sleep(0.005)
        raise RuntimeError("the daemon did not report its allocations")


def measure(sock, counter, world, batch, threads, samples):
    with Client(sock, client_name="step-allocations") as c:
        s = c.open(world, batch=batch, threads=threads, seed=0)
        rng = np.random.default_rng(0)
        if s.discrete_actions:
            bank = [rng.integers(0, s.discrete_actions, size=batch, dtype=np.int32) for _ in range(64)]
        else:
            bank = [rng.uniform(s.action_low, s.action_high, size=(batch, s.action_size)).astype(np.float32)
                    for _ in range(64)]
        for k in range(3000):
            s.step(bank[k & 63])
        # The daemon on its own between two reads (nothing requested): what a sample's reads add.
        idle = []
        for _ in range(20):
            start = counter.read()
            idle.append(counter.read() - start)
        plain, with_reset, resets = [], [], 0
        for k in range(samples):
            start = counter.read()
            ended = len(s.step(bank[k & 63]).ended_index)
            n = counter.read() - start
            if ended:
                with_reset.append(n)
                resets += ended
            else:
                plain.append(n)
        s.close()
    return {"world": world, "batch": batch, "threads": threads, "idle_max": max(idle),
            "steps_without_reset": len(plain), "max_allocations_without_reset": max(plain) if plain else None,
            "allocating_steps_without_reset": sum(1 for n in plain if n),
            "steps_with_reset": len(with_reset), "resets": resets,
            "allocations_per_reset": sum(with_reset) / resets if resets else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metasimd", default=str(REPO / ".build" / "release" / "metasimd"))
    ap.add_argument("--samples", type=int, default=400, help="batch steps counted one by one per case")
    ap.add_argument("--output", default=str(REPO / "Benchmarks" / "results" / "allocations.json"))
    args = ap.parse_args()
    if not Path(args.metasimd).is_file():
        sys.exit(f"{args.metasimd} is missing (swift build -c release --product metasimd)")
    with tempfile.TemporaryDirectory(prefix="msalloc-") as tmp:
        lib = Path(tmp) / "alloc_counter.so"
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(lib), str(HERE / "alloc_counter.c")], check=True)
        sock, log = str(Path(tmp) / "d.sock"), Path(tmp) / "stderr"
        with open(log, "wb") as err:
            proc = subprocess.Popen([args.metasimd, "--socket", sock, "--worlds", str(REPO / "worlds"), "--log-level", "warning"],
                                    stderr=err, env=dict(os.environ, LD_PRELOAD=str(lib)))
        try:
            wait_until_serving(sock, proc, log)
            counter = Counter(proc, log)
            counter.read()  # the counter is loaded
            results = []
            for world, batch, threads in CASES:
                r = measure(sock, counter, world, batch, threads, args.samples)
                results.append(r)
                per_reset = f"{r['allocations_per_reset']:.1f}" if r["resets"] else "-"
                print(f"{world:15} batch {batch}/{threads} thr: steps without a reset: {r['steps_without_reset']}, "
                      f"{r['allocating_steps_without_reset']} allocated, at most {r['max_allocations_without_reset']}; steps with one: {r['steps_with_reset']} "
                      f"({r['resets']} resets, {per_reset} allocations per reset); reads alone: at most {r['idle_max']}",
                      flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    write_atomic(args.output, {"samples": args.samples, "results": results})
    missed = [r for r in results if r["max_allocations_without_reset"] != 0 or r["idle_max"] != 0]
    print("target: no allocation in a step without a reset: " + ("met" if not missed else
          "MISSED: " + ", ".join(f"{r['world']} {r['batch']}/{r['threads']}" for r in missed)))


if __name__ == "__main__":
    main()
