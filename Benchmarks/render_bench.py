#!/usr/bin/env python3
"""An rgb_array frame of lunar-lander over metasimd's socket against Gymnasium's own rgb_array
render of LunarLander-v3, in one run.

Starts a release `metasimd` on a private socket, then alternates, --repeat times (so that the
machine's noise hits both sides alike):

  metasim    gymnasium.make("metasim/lunar-lander", render_mode="rgb_array") through the Python
             client: each env.render() is a `render` request; the daemon draws the session's
             instance with cairo (600 x 400) and sends the RGB bytes; the client returns them as an
             (400, 600, 3) uint8 array
  Gymnasium  gymnasium.make("LunarLander-v3", continuous=True, render_mode="rgb_array"): each
             env.render() draws with pygame and returns a (400, 600, 3) uint8 array

Both sides step the same way between frames (random actions, a new episode when one ends) and
time env.render() alone, frame for frame in turn (one side's frame, then the other's), --frames
frames a round after a warm-up. A round's ratio is metasim's mean frame time over Gymnasium's (its
ratio of medians is printed too); the target is a median ratio over the rounds <= 1 (ours costs no
more).
A frame's cost on our side includes the scene of a new episode (built once per episode, on its
first frame), the request, the drawing, the 720,000 bytes over the socket and the array.

Run under the peers' python (gymnasium[box2d] with pygame): `make bench-render`. Results go to
Benchmarks/results/render.json (written atomically).
"""
import argparse
import os
import platform
import signal
import statistics
import sys
import tempfile
import time

import numpy as np

from compare_peers import BenchError, REPO
from protocol_bench import start_daemon
from results_file import write_atomic

sys.path.insert(0, str(REPO / "clients" / "python"))
import gymnasium  # noqa: E402
from metasim_client import MetaSimEnv  # noqa: E402

TARGET = 1.0


class Side:
    """One environment stepped with random actions between frames (a new episode when one ends)."""

    def __init__(self, env, seed):
        self.env = env
        env.action_space.seed(seed)
        env.reset(seed=seed)

    def frame_time(self):
        """Steps once, then times env.render()."""
        _, _, terminated, truncated, _ = self.env.step(self.env.action_space.sample())
        if terminated or truncated:
            self.env.reset()
        t0 = time.perf_counter()
        frame = self.env.render()
        seconds = time.perf_counter() - t0
        if frame.shape != (400, 600, 3) or frame.dtype != np.uint8:
            raise BenchError(f"a frame of shape {frame.shape}, dtype {frame.dtype}")
        return seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metasimd", default=str(REPO / ".build" / "release" / "metasimd"),
                    help="the daemon binary (default .build/release/metasimd: a release build)")
    ap.add_argument("--frames", type=int, default=500, help="frames timed a round, on each side")
    ap.add_argument("--repeat", type=int, default=5, help="rounds")
    ap.add_argument("--output", default=str(REPO / "Benchmarks" / "results" / "render.json"))
    args = ap.parse_args()
    if args.frames < 1 or args.repeat < 1:
        raise BenchError("--frames and --repeat must be at least 1")

    metasimd = args.metasimd
    if not (os.path.isfile(metasimd) and os.access(metasimd, os.X_OK)):
        raise BenchError(f"{metasimd} is missing (swift build -c release --product metasimd)")
    folder = tempfile.mkdtemp(prefix="msd-render-bench-")
    sock = os.path.join(folder, "metasim.sock")
    daemon = start_daemon(metasimd, sock)
    rounds = []
    try:
        ours = Side(MetaSimEnv("lunar-lander", socket=sock, render_mode="rgb_array"), 1)
        theirs = Side(gymnasium.make("LunarLander-v3", continuous=True, render_mode="rgb_array"), 1)
        # Warm-up: pygame's first surface, the daemon's first scene and buffers.
        for _ in range(50):
            ours.frame_time()
            theirs.frame_time()
        for r in range(args.repeat):
            # Frame for frame, one side then the other: both see the same machine.
            m, g = [], []
            for _ in range(args.frames):
                m.append(ours.frame_time())
                g.append(theirs.frame_time())
            row = {"metasim_mean_us": 1e6 * statistics.fmean(m), "metasim_median_us": 1e6 * statistics.median(m),
                   "gymnasium_mean_us": 1e6 * statistics.fmean(g), "gymnasium_median_us": 1e6 * statistics.median(g)}
            row["ratio"] = row["metasim_mean_us"] / row["gymnasium_mean_us"]
            row["median_ratio"] = row["metasim_median_us"] / row["gymnasium_median_us"]
            rounds.append(row)
            print(f"round {r + 1}: metasim {row['metasim_mean_us']:8.1f} us/frame (median {row['metasim_median_us']:.1f}), "
                  f"Gymnasium {row['gymnasium_mean_us']:8.1f} us/frame (median {row['gymnasium_median_us']:.1f}), "
                  f"ratio of means {row['ratio']:.2f}, of medians {row['median_ratio']:.2f}", flush=True)
        ours.env.close()
        theirs.env.close()
    finally:
        daemon.send_signal(signal.SIGTERM)
        status = daemon.wait(timeout=30)
        if status != 0:
            print(f"warning: metasimd exited with status {status}", file=sys.stderr)
    ratios = [row["ratio"] for row in rounds]
    median_ratio = statistics.median(ratios)
    of_medians = [row["median_ratio"] for row in rounds]
    print(f"ratio of per-frame medians: median {statistics.median(of_medians):.2f}, range {min(of_medians):.2f}-{max(of_medians):.2f}")
    verdict = "ok" if median_ratio <= TARGET else "FAIL"
    print(f"metasim / Gymnasium frame time: median {median_ratio:.2f}, range {min(ratios):.2f}-{max(ratios):.2f} "
          f"over {len(ratios)} rounds of {args.frames} frames (target <= {TARGET:.2f}): {verdict}")
    result = {"benchmark": "render", "frames": args.frames, "repeat": args.repeat, "rounds": rounds,
              "median_ratio": median_ratio, "min_ratio": min(ratios), "max_ratio": max(ratios), "target": TARGET,
              "met": median_ratio <= TARGET, "gymnasium": gymnasium.__version__, "metasimd": str(metasimd),
              "machine": platform.machine(), "cpus": os.cpu_count(), "loadavg": os.getloadavg()}
    write_atomic(args.output, result)
    print(f"results: {args.output}")


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
