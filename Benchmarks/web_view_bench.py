#!/usr/bin/env python3
"""Stepping throughput with metasimd's web view open on 4 sessions against without, in one run.

Starts a release `metasimd --http 127.0.0.1:PORT` on a private socket. Each round opens 4
sessions (one client process each, stepping as fast as it can with random actions) and measures
their summed environment steps per second twice, interleaved (ABBA over --repeat rounds, so the
machine's noise hits both alike):

  without   nobody looks: no WebSocket, no HTTP request
  with view every session watched as its page watches it: a WebSocket on /api/sessions/N/live
            read continuously, /api/sessions/N polled every 0.5 s and /api/sessions every 1 s,
            plus /metrics scraped every second (a Prometheus); all from a separate process

Target (printed, not an error): with view >= 0.95 x without (issue 32).

`make bench-web-view` (the release build, the peers' or any python with numpy). Results also go
to Benchmarks/results/web_view.json (written atomically).
"""
import argparse
import json
import multiprocessing as mp
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import numpy as np

from compare_peers import BenchError, REPO, find_metasim, fmt_rate, fmt_ratio, median, render_table
from results_file import write_atomic

sys.path.insert(0, str(REPO / "clients" / "python"))
sys.path.insert(0, str(REPO / "clients" / "python" / "tests"))
from metasim_client import Client  # noqa: E402
from devtools import WebSocket  # noqa: E402

SESSIONS = 4
TARGET = 0.95


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stepper(sock, world, batch, threads, steps, seed, ids, go, results):
    """One client process: opens a session, says its id, waits for `go`, steps, reports steps/s."""
    with Client(sock, client_name="web-view-bench") as c:
        s = c.open(world, batch=batch, threads=threads, seed=seed)
        rng = np.random.default_rng(seed)
        if s.discrete_actions:
            bank = [rng.integers(0, s.discrete_actions, size=batch, dtype=np.int32) for _ in range(64)]
        else:
            bank = [rng.uniform(s.action_low, s.action_high, size=(batch, s.action_size)).astype(np.float32) for _ in range(64)]
        for k in range(200):
            s.step(bank[k & 63])
        ids.put(s.id)
        go.wait()
        iterations = max(1, steps // batch)
        t0 = time.perf_counter()
        for k in range(iterations):
            s.step(bank[k & 63])
        results.put(iterations * batch / (time.perf_counter() - t0))
        s.close()


def viewer(base, ids, stop):
    """What 4 open session pages and a Prometheus do, until `stop` is set."""
    frames = [0] * len(ids)

    def live(k, session):
        ws = WebSocket(f"ws://{base[len('http://'):]}/api/sessions/{session}/live")
        ws.sock.settimeout(1)
        while not stop.is_set():
            try:
                ws.receive()
                frames[k] += 1
            except (socket.timeout, ConnectionError):
                if stop.is_set():
                    break
        ws.close()

    threads = [threading.Thread(target=live, args=(k, i), daemon=True) for k, i in enumerate(ids)]
    for t in threads:
        t.start()
    tick = 0
    while not stop.is_set():
        for i in ids:
            try:
                urllib.request.urlopen(f"{base}/api/sessions/{i}", timeout=10).read()
            except urllib.error.HTTPError as error:
                if error.code != 404:  # 404: its stepper finished and closed the session
                    raise
        if tick % 2 == 0:
            urllib.request.urlopen(f"{base}/api/sessions", timeout=10).read()
            urllib.request.urlopen(f"{base}/metrics", timeout=10).read()
        tick += 1
        stop.wait(0.5)
    for t in threads:
        t.join(timeout=5)
    return frames


def viewer_process(base, ids, stop, out):
    out.put(viewer(base, ids, stop))


def measure(sock, base, args, watched, seed):
    ctx = mp.get_context("spawn")
    ids, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    workers = [ctx.Process(target=stepper, args=(sock, args.world, args.batch, args.threads, args.steps, seed + k, ids, go, results))
               for k in range(SESSIONS)]
    for w in workers:
        w.start()
    session_ids = [ids.get(timeout=120) for _ in workers]
    stop, frames_out, view = ctx.Event(), ctx.Queue(), None
    if watched:
        view = ctx.Process(target=viewer_process, args=(base, session_ids, stop, frames_out))
        view.start()
        time.sleep(1.0)  # the WebSockets attached, the first polls done
    go.set()
    rates = [results.get(timeout=600) for _ in workers]
    for w in workers:
        w.join()
    frames = None
    if view:
        stop.set()
        frames = frames_out.get(timeout=60)
        view.join()
    return sum(rates), frames


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metasim", help="metasim binary (metasimd beside it; default .build/release/metasim)")
    ap.add_argument("--world", default="lunar-lander")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=80000, help="environment steps per session per measurement")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; each measures both sides (ABBA)")
    ap.add_argument("--output", default=str(REPO / "Benchmarks" / "results" / "web_view.json"))
    args = ap.parse_args()

    metasimd = find_metasim(args.metasim).parent / "metasimd"
    if not metasimd.is_file():
        raise BenchError(f"{metasimd} is missing (swift build -c release --product metasimd)")
    folder = tempfile.mkdtemp(prefix="msd-webbench-")
    sock, port = os.path.join(folder, "metasim.sock"), free_port()
    base = f"http://127.0.0.1:{port}"
    daemon = subprocess.Popen([str(metasimd), "--socket", sock, "--worlds", str(REPO / "worlds"), "--log-level", "warning",
                               "--policies", os.path.join(folder, "none"), "--saved-policies", os.path.join(folder, "saved"),
                               "--http", f"127.0.0.1:{port}"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/metrics", timeout=5).read()
            Client(sock).close()
            break
        except OSError:
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise BenchError("metasimd did not start: " + daemon.stderr.read().decode())
            time.sleep(0.05)
    without, with_view, frames = [], [], []
    try:
        for r in range(args.repeat):
            order = [False, True] if r % 2 == 0 else [True, False]
            for watched in order:
                sps, f = measure(sock, base, args, watched, seed=100 * r)
                (with_view if watched else without).append(sps)
                if f is not None:
                    frames.append(sum(f))
                print(f"round {r + 1}/{args.repeat}: {'with view' if watched else 'without'}: {fmt_rate(sps)} steps/s", file=sys.stderr)
    finally:
        daemon.send_signal(signal.SIGTERM)
        if daemon.wait(timeout=60) != 0:
            print(f"warning: metasimd exited with status {daemon.returncode}", file=sys.stderr)

    ratios = [w / b for w, b in zip(with_view, without)]
    ratio = median(ratios)
    print(render_table(["world", "batch/thr", "sessions", "without", "with view", "with/without", "pose frames (per round)"],
                       [[args.world, f"{args.batch}/{args.threads}", str(SESSIONS), fmt_rate(median(without)),
                         fmt_rate(median(with_view)), fmt_ratio(ratio), str(int(median(frames))) if frames else "-"]]))
    missed = [] if ratio >= TARGET else [f"with the view open: {ratio:.3f} x without (target >= {TARGET})"]
    print()
    print("targets: " + ("all met" if not missed else "MISSED:\n  " + "\n  ".join(missed)))
    write_atomic(args.output, {"machine": platform.node(), "cpus": os.cpu_count(), "world": args.world, "batch": args.batch,
                               "threads": args.threads, "sessions": SESSIONS, "steps": args.steps, "repeat": args.repeat,
                               "without_sps": without, "with_view_sps": with_view, "ratios": ratios, "ratio": ratio,
                               "pose_frames": frames, "missed": missed})


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
