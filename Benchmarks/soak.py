#!/usr/bin/env python3
"""Soak: does metasimd's memory stay flat under a constant load? (issue 27, item 7)

Starts `.build/release/metasimd` on a private socket and runs, for --duration seconds:
- a constant set of --steppers client processes, each with one session stepping continuously
  (random actions, auto-reset; a pause of --step-pause seconds between steps);
- one churn process that every --churn-interval seconds connects, opens --churn-sessions extra
  sessions, steps them, sends a large ping (--ping-bytes; every fifth churn the largest ping a
  16 MiB frame holds) and closes everything again.
Every --sample-interval seconds it reads the daemon's VmRSS (/proc/PID/status), its open file
descriptors (/proc/PID/fd) and its threads. After --warmup seconds it fits a least-squares line
to RSS over time and reports the slope in MB/min with a 95 % interval (normal approximation; the
samples are autocorrelated, so the interval is optimistic), plus the fd count at start and end.
The churn's large sessions and pings make short RSS peaks, so it also reports two slopes that
they move less: Theil-Sen (the median of pairwise slopes) and the least-squares slope of each
minute's lowest RSS (the resident floor).

Target (printed, not an error): RSS slope within +-1 MB/min after warm-up.

With --burst-frames N it first sends N mutated frames (random byte flips, truncations, length
and kind changes of valid requests, among them pings of up to 16 MiB and opens of 256
bipedal-walkers; one in six is sent unchanged) over fresh connections, as a fuzzer would, and reports the
RSS before and after the burst (--duration 0: the burst alone).

--env KEY=VALUE (repeatable) sets the daemon's environment, e.g. MALLOC_ARENA_MAX=8 to compare
allocator settings. Results go to Benchmarks/results/soak.json. `make bench-soak`.
"""
import argparse
import math
import multiprocessing as mp
import os
import random
import signal
import struct
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

STEPPER_WORLDS = [("lunar-lander", 16), ("bipedal-walker", 16), ("cartpole", 64), ("track-racer", 8),
                  ("point-nav", 32), ("valley-car", 32)]
CHURN_WORLDS = ["lunar-lander", "bipedal-walker", "cartpole", "point-nav", "valley-car", "track-racer"]
MAX_PING = (16 << 20) - 12
HEADER = struct.Struct("<IHHII")


def actions_bank(s, rng, batch):
    if s.discrete_actions:
        return [rng.integers(0, s.discrete_actions, size=batch, dtype=np.int32) for _ in range(32)]
    return [rng.uniform(s.action_low, s.action_high, size=(batch, s.action_size)).astype(np.float32) for _ in range(32)]


def stepper(sock, world, batch, seed, pause, stop, counts, index):
    with Client(sock, client_name="soak-stepper") as c:
        s = c.open(world, batch=batch, seed=seed)
        bank = actions_bank(s, np.random.default_rng(seed), batch)
        k = 0
        while not stop.is_set():
            s.step(bank[k & 31])
            k += 1
            if k % 100 == 0:
                counts[index] = k
            if pause:
                time.sleep(pause)
        counts[index] = k


def churn(sock, interval, sessions, ping_bytes, seed, stop, counts, index, idle_since):
    rng = random.Random(seed)
    n = 0
    while not stop.is_set():
        idle_since.value = 0.0  # sessions beyond the constant set are open
        with Client(sock, client_name="soak-churn") as c:
            opened = []
            for j in range(sessions):
                world = rng.choice(CHURN_WORLDS)
                s = c.open(world, batch=rng.choice([16, 64, 256]), seed=rng.randrange(1 << 31))
                opened.append((s, actions_bank(s, np.random.default_rng(n * 7 + j), s.count)))
            for s, bank in opened:
                for k in range(50):
                    s.step(bank[k & 31])
            size = MAX_PING if n % 5 == 4 else ping_bytes
            if size:
                c.ping(bytes(size))
            for s, _ in opened:
                s.close()
        idle_since.value = time.monotonic()  # back to the constant set (closed, connection gone)
        n += 1
        counts[index] = n
        stop.wait(interval)


def valid_frames(rng):
    """Requests a fuzzer starts from: (kind, meta bytes, data)."""
    return [
        (2, b"", bytes(rng.randrange(64))),
        (2, b"", bytes(rng.choice([1 << 16, 1 << 20, 4 << 20, MAX_PING]))),
        (17, b'{"world":"bipedal-walker","batch":256,"seed":2}', b""),
        (3, b"", b""),
        (16, b"", b""),
        (17, b'{"world":"lunar-lander","batch":4,"seed":1}', b""),
        (17, b'{"world":"cartpole","batch":2,"threads":1,"auto_reset":true}', b""),
        (18, b'{"session":1}', b""),
        (19, b'{"session":1}', bytes(32)),
        (20, b'{"session":1,"task_seed":3}', b""),
        (21, b'{"session":1}', b""),
        (22, b'{"session":1}', b""),
    ]


def mutate(rng, kind, meta, data):
    frame = bytearray(HEADER.pack(12 + len(meta) + len(data), kind, 0, rng.randrange(1, 1 << 16), len(meta)) + meta + data)
    for _ in range(rng.randrange(0, 6)):  # one in six goes out unchanged
        op = rng.randrange(6)
        if op == 0 and frame:
            frame[rng.randrange(len(frame))] = rng.randrange(256)
        elif op == 1 and len(frame) > 4:
            del frame[rng.randrange(4, len(frame)):]
        elif op == 2 and len(frame) >= 4:
            struct.pack_into("<I", frame, 0, rng.choice([0, 5, 11, 12, len(frame) - 4, len(frame) + 100, 1 << 24, 0xFFFFFFFF]))
        elif op == 3 and len(frame) >= 6:
            struct.pack_into("<H", frame, 4, rng.randrange(64))
        elif op == 4 and len(frame) >= 16:
            struct.pack_into("<I", frame, 12, rng.choice([0, 1, len(meta) + 1, 1 << 20, 0xFFFFFFFF]))
        elif op == 5:
            pos = rng.randrange(len(frame) + 1)
            frame[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
    return bytes(frame)


def burst(sock, frames, seed):
    """Sends `frames` mutated frames, reconnecting whenever the daemon closes the connection."""
    rng = random.Random(seed)
    sent = 0
    while sent < frames:
        try:
            with Client(sock, client_name="soak-burst", timeout=5.0) as c:
                base = valid_frames(rng)
                for _ in range(rng.randrange(1, 40)):
                    c.sock.sendall(mutate(rng, *rng.choice(base)))
                    sent += 1
                c.sock.settimeout(0.05)
                try:
                    while c.sock.recv(1 << 16):
                        pass
                except (TimeoutError, OSError):
                    pass
        except (OSError, ConnectionError, TimeoutError):
            sent += 1
    return sent


def proc_status(pid):
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, threads, len(os.listdir(f"/proc/{pid}/fd"))


def fit(times, values):
    """Least-squares slope of values (MB) over times (minutes) and its 95 % half-width."""
    n = len(times)
    if n < 3:
        return float("nan"), float("nan")
    t = np.asarray(times)
    y = np.asarray(values)
    tm, ym = t.mean(), y.mean()
    sxx = ((t - tm) ** 2).sum()
    slope = ((t - tm) * (y - ym)).sum() / sxx
    residual = y - (ym + slope * (t - tm))
    se = math.sqrt((residual ** 2).sum() / (n - 2) / sxx)
    return float(slope), float(1.96 * se)


def theil_sen(times, values):
    """Median of the pairwise slopes: robust to the churn's short RSS peaks."""
    t = np.asarray(times)
    y = np.asarray(values)
    i, j = np.triu_indices(len(t), 1)
    keep = t[j] != t[i]
    return float(np.median((y[j] - y[i])[keep] / (t[j] - t[i])[keep])) if keep.any() else float("nan")


def floor_slope(times, values, window=1.0):
    """Least-squares slope of the lowest RSS in each `window` minutes (the resident floor)."""
    t = np.asarray(times)
    y = np.asarray(values)
    bins = np.floor((t - t[0]) / window)
    ft = [float(t[bins == b].mean()) for b in np.unique(bins)]
    fy = [float(y[bins == b].min()) for b in np.unique(bins)]
    return fit(ft, fy)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metasimd", default=str(REPO / ".build" / "release" / "metasimd"))
    ap.add_argument("--duration", type=float, default=600, help="seconds of soak (default 10 minutes)")
    ap.add_argument("--warmup", type=float, default=120, help="seconds left out of the slope")
    ap.add_argument("--steppers", type=int, default=4, help="connections stepping continuously")
    ap.add_argument("--step-pause", type=float, default=0.002, help="seconds between a stepper's steps")
    ap.add_argument("--churn-interval", type=float, default=2.0)
    ap.add_argument("--churn-sessions", type=int, default=2)
    ap.add_argument("--ping-bytes", type=int, default=4 << 20)
    ap.add_argument("--sample-interval", type=float, default=5.0)
    ap.add_argument("--settle", type=float, default=1.4,
                    help="a settled sample waits this long after the churn closed everything (the daemon trims after 1 s)")
    ap.add_argument("--burst-frames", type=int, default=0, help="mutated frames sent before the soak")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the daemon's environment")
    ap.add_argument("--require-clean-exit", action="store_true",
                    help="fail unless the daemon exits 0 after SIGTERM with no sanitizer report (make leaks)")
    ap.add_argument("--output", default=str(REPO / "Benchmarks" / "results" / "soak.json"))
    args = ap.parse_args()
    if not Path(args.metasimd).is_file():
        sys.exit(f"{args.metasimd} is missing (swift build -c release --product metasimd)")
    env = dict(os.environ)
    for kv in args.env:
        k, _, v = kv.partition("=")
        env[k] = v
    result = {"duration_s": args.duration, "warmup_s": args.warmup, "steppers": args.steppers,
              "step_pause_s": args.step_pause, "churn_interval_s": args.churn_interval,
              "churn_sessions": args.churn_sessions, "ping_bytes": args.ping_bytes, "env": args.env}
    with tempfile.TemporaryDirectory(prefix="mssoak-") as tmp:
        sock, log = str(Path(tmp) / "d.sock"), Path(tmp) / "stderr"
        with open(log, "wb") as err:
            daemon = subprocess.Popen([args.metasimd, "--socket", sock, "--worlds", str(REPO / "worlds"),
                                       "--log-level", "warning"], stderr=err, env=env)
        workers = []
        stop = mp.Event()
        try:
            wait_until_serving(sock, daemon, log)
            pid = daemon.pid
            start_rss, _, start_fds = proc_status(pid)
            result["start"] = {"rss_mb": start_rss / 1e6, "fds": start_fds}
            print(f"metasimd {pid}: RSS {start_rss / 1e6:.1f} MB, {start_fds} fds at start", flush=True)
            if args.burst_frames:
                t0 = time.monotonic()
                sent = burst(sock, args.burst_frames, 27)
                time.sleep(3)  # the daemon trims a second after the last close
                rss, threads, fds = proc_status(pid)
                result["burst"] = {"frames": sent, "seconds": time.monotonic() - t0, "rss_before_mb": start_rss / 1e6,
                                   "rss_after_mb": rss / 1e6, "fds_after": fds, "threads_after": threads}
                print(f"burst: {sent} mutated frames in {time.monotonic() - t0:.0f} s: RSS {start_rss / 1e6:.1f} -> "
                      f"{rss / 1e6:.1f} MB, {fds} fds, {threads} threads; daemon "
                      + ("alive" if daemon.poll() is None else f"DEAD ({daemon.returncode})"), flush=True)
            if args.duration > 0:
                counts = mp.Array("q", args.steppers + 1)
                idle_since = mp.Value("d", 0.0)
                for i in range(args.steppers):
                    world, batch = STEPPER_WORLDS[i % len(STEPPER_WORLDS)]
                    workers.append(mp.Process(target=stepper, args=(sock, world, batch, i + 1, args.step_pause, stop, counts, i)))
                workers.append(mp.Process(target=churn, args=(sock, args.churn_interval, args.churn_sessions,
                                                              args.ping_bytes, 99, stop, counts, args.steppers, idle_since)))
                for w in workers:
                    w.start()
                t0 = time.monotonic()
                samples = []
                while True:
                    elapsed = time.monotonic() - t0
                    if daemon.poll() is not None:
                        sys.exit(f"metasimd exited ({daemon.returncode}): " + log.read_text()[-2000:])
                    if any(w.exitcode not in (None, 0) for w in workers):
                        sys.exit("a client process failed (see its traceback above)")
                    rss, threads, fds = proc_status(pid)
                    sample = {"t_s": elapsed, "rss_mb": rss / 1e6, "fds": fds, "threads": threads}
                    # The same at the constant session set: once the churn has closed everything
                    # and the daemon has had `--settle` s to give it back (up to 3 s of waiting).
                    wait_until = time.monotonic() + 3
                    while time.monotonic() < wait_until:
                        idle = idle_since.value
                        if idle > 0 and time.monotonic() - idle >= args.settle:
                            settled, _, _ = proc_status(pid)
                            if idle_since.value == idle:  # no churn began while reading
                                sample["settled_t_s"] = time.monotonic() - t0
                                sample["settled_rss_mb"] = settled / 1e6
                                break
                        time.sleep(0.05)
                    samples.append(sample)
                    if len(samples) % 12 == 1:
                        print(f"{elapsed:6.0f} s  RSS {rss / 1e6:7.1f} MB  fds {fds:3}  threads {threads:3}  "
                              f"steps {sum(counts[:args.steppers])}  churns {counts[args.steppers]}", flush=True)
                    if elapsed >= args.duration:
                        break
                    time.sleep(min(args.sample_interval, max(0.0, args.duration - elapsed)))
                stop.set()
                for w in workers:
                    w.join(timeout=30)
                later = [s for s in samples if s["t_s"] >= args.warmup]
                minutes, rss_mb = [s["t_s"] / 60 for s in later], [s["rss_mb"] for s in later]
                slope, half = fit(minutes, rss_mb)
                robust = theil_sen(minutes, rss_mb)
                floor, floor_half = floor_slope(minutes, rss_mb)
                steady = [s for s in later if "settled_rss_mb" in s]
                settled_slope, settled_half = fit([s["settled_t_s"] / 60 for s in steady], [s["settled_rss_mb"] for s in steady])
                result.update({
                    "samples": samples, "steps": sum(counts[:args.steppers]), "churns": counts[args.steppers],
                    "rss_slope_mb_per_min": slope, "rss_slope_95_half_width": half,
                    "rss_theil_sen_slope_mb_per_min": robust,
                    "rss_floor_slope_mb_per_min": floor, "rss_floor_slope_95_half_width": floor_half,
                    "settled_samples": len(steady), "settled_rss_slope_mb_per_min": settled_slope,
                    "settled_rss_slope_95_half_width": settled_half,
                    "settled_rss_min_mb": min(s["settled_rss_mb"] for s in steady) if steady else None,
                    "settled_rss_max_mb": max(s["settled_rss_mb"] for s in steady) if steady else None,
                    "rss_after_warmup_min_mb": min(s["rss_mb"] for s in later) if later else None,
                    "rss_after_warmup_max_mb": max(s["rss_mb"] for s in later) if later else None,
                    "fds_start": samples[0]["fds"], "fds_end": samples[-1]["fds"],
                })
                time.sleep(1)
                rss, threads, fds = proc_status(pid)
                result["after_clients_closed"] = {"rss_mb": rss / 1e6, "fds": fds, "threads": threads}
                print(f"steps {result['steps']}, churns {result['churns']}; RSS after warm-up "
                      f"{result['rss_after_warmup_min_mb']:.1f}-{result['rss_after_warmup_max_mb']:.1f} MB; "
                      f"slope {slope:+.2f} +- {half:.2f} MB/min over {len(later)} samples "
                      f"(Theil-Sen {robust:+.2f}; per-minute floor {floor:+.2f} +- {floor_half:.2f}); "
                      f"fds {samples[0]['fds']} -> {samples[-1]['fds']} (all clients gone: {fds}, RSS {rss / 1e6:.1f} MB)")
                if steady:
                    print(f"at the constant session set (churn closed, {args.settle} s to settle): RSS "
                          f"{result['settled_rss_min_mb']:.1f}-{result['settled_rss_max_mb']:.1f} MB; slope "
                          f"{settled_slope:+.2f} +- {settled_half:.2f} MB/min over {len(steady)} samples")
                print("target: RSS slope within +-1 MB/min after warm-up at the constant session set: "
                      + ("met" if steady and abs(settled_slope) <= 1 else "MISSED"))
                print("(all samples, churn peaks included: " + ("within" if abs(slope) <= 1 else "outside") + " +-1 MB/min)")
        finally:
            stop.set()
            for w in workers:
                if w.is_alive():
                    w.terminate()
                    w.join(timeout=5)
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
            text = log.read_text(errors="replace")
        result["exit_status"] = daemon.returncode
        report = [line for line in text.splitlines() if "Sanitizer" in line or line.startswith("SUMMARY")]
        result["sanitizer_report"] = report
    write_atomic(args.output, result)
    print(f"metasimd exited with status {daemon.returncode}" + (": " + "\n".join(report[:20]) if report else ""))
    if args.require_clean_exit and (daemon.returncode != 0 or report):
        print(text[-20000:], file=sys.stderr)
        sys.exit("metasimd did not exit cleanly (see its log above)")


if __name__ == "__main__":
    main()
