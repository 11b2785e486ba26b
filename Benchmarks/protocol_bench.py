#!/usr/bin/env python3
"""Stepping over metasimd's socket against in-process stepping and EnvPool, in one run.

Starts a release `metasimd` on a private socket, then for every case (world x batch/threads) runs,
back to back and --repeat times (interleaved, so the machine's noise hits every side alike):

  in-process     `metasim client bench`: a WorldBatch in the client process, same world, batch,
                 threads, seed and actions (the figure the socket is measured against)
  Swift socket   the same process stepping a daemon session through MetaSimClient, in blocks of
                 100 batch steps alternating with the in-process ones (ABBA), so that the two
                 see the same machine; their ratio is the run's in-process time over its socket time
  Python socket  this script stepping a daemon session through clients/python (numpy actions)
  Python gym     the same through gymnasium.make_vec("metasim/<world>") (MetaSimVectorEnv: the
                 Gymnasium VectorEnv adapter, with its info dicts), as a Gymnasium user steps it
  EnvPool        ../shared/peers/bench.py: EnvPool with the same batch and threads
  echo           a raw Unix-socket echo of a step's request and reply sizes (the floor of a
                 round trip), sleeping in recv and looking before sleeping (as the daemon and
                 the clients wait), and a protocol ping through the daemon

Targets (printed, not an error):
  batch 16 / 2 threads:  Swift socket >= 0.9 x in-process;  Python socket >= EnvPool
  batch 1 / 1 thread:    round trip <= 2 x echo + the step's own cost (the echo that waits as
                         the clients do: sleeping, or looking with --spin-us)

Run under the peers' python (numpy, envpool): `make bench-protocol`. Results also go to
Benchmarks/results/protocol.json (written atomically).
"""
import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from compare_peers import (BenchError, PEERS_DIR, REPO, find_metasim, fmt_rate, fmt_ratio, median,
                           render_table, run_json)
from results_file import write_atomic

sys.path.insert(0, str(REPO / "clients" / "python"))
from metasim_client import Client  # noqa: E402

# (metasim world, EnvPool id, continuous)
CASES = [("lunar-lander", "LunarLander-v3", True), ("bipedal-walker", "BipedalWalker-v3", False)]
CONFIGS = [(1, 1), (16, 2)]
SOCKET_VS_IN_PROCESS = 0.9
RTT_BUDGET = 1.0


def timed_steps(step, bank, batch, steps):
    """Environment steps per second of ``step`` over a bank of 64 action batches, after a warm-up."""
    iterations = max(1, steps // batch)
    for k in range(min(200, iterations)):
        step(bank[k & 63])
    t0 = time.perf_counter()
    for k in range(iterations):
        step(bank[k & 63])
    return iterations * batch / (time.perf_counter() - t0)


def python_client_sps(sock, world, batch, threads, steps, spin, seed=0):
    """Steps per second of the Python client, random actions drawn up front (64 batches)."""
    with Client(sock, client_name="protocol-bench", spin=spin) as c:
        s = c.open(world, batch=batch, threads=threads, seed=seed)
        rng = np.random.default_rng(seed)
        if s.discrete_actions:
            bank = [rng.integers(0, s.discrete_actions, size=batch, dtype=np.int32) for _ in range(64)]
        else:
            bank = [rng.uniform(s.action_low, s.action_high, size=(batch, s.action_size)).astype(np.float32)
                    for _ in range(64)]
        sps = timed_steps(s.step, bank, batch, steps)
        s.close()
    return sps


def gymnasium_vector_sps(sock, world, batch, threads, steps, spin, seed=0):
    """Steps per second through gymnasium.make_vec (the adapter), the same action bank."""
    import gymnasium
    client = Client(sock, spin=spin)  # passed in, so the adapter leaves closing it to us
    envs = gymnasium.make_vec(f"metasim/{world}", num_envs=batch, client=client, threads=threads, seed=seed)
    envs.action_space.seed(seed)
    bank = [envs.action_space.sample() for _ in range(64)]
    envs.reset(seed=seed)
    sps = timed_steps(envs.step, bank, batch, steps)
    envs.close()
    client.close()
    return sps


def start_daemon(metasimd, sock):
    proc = subprocess.Popen([str(metasimd), "--socket", sock, "--worlds", str(REPO / "worlds"), "--log-level", "warning"],
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        try:
            Client(sock).close()
            return proc
        except (FileNotFoundError, ConnectionRefusedError):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError("metasimd did not start: " + proc.stderr.read().decode())
            time.sleep(0.02)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metasim", help="metasim binary (default .build/release/metasim)")
    ap.add_argument("--steps", type=int, default=40000, help="environment steps per measurement")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--spin-us", type=int, default=0,
                    help="microseconds the clients look for each reply before sleeping (0, their default: sleep at once)")
    ap.add_argument("--output", default=str(REPO / "Benchmarks" / "results" / "protocol.json"))
    args = ap.parse_args()

    metasim = find_metasim(args.metasim)
    metasimd = metasim.parent / "metasimd"
    if not metasimd.is_file():
        raise BenchError(f"{metasimd} is missing (swift build -c release --product metasimd)")
    folder = tempfile.mkdtemp(prefix="msd-bench-")
    sock = os.path.join(folder, "metasim.sock")
    daemon = start_daemon(metasimd, sock)
    runs = {}
    try:
        for r in range(args.repeat):
            for world, env, continuous in CASES:
                for batch, threads in CONFIGS:
                    key = (world, batch, threads)
                    row = runs.setdefault(key, {"swift": [], "python": [], "gym": [], "envpool": []})
                    row["swift"].append(run_json([str(metasim), "client", "bench", "--socket", sock, "--worlds",
                                                  str(REPO / "worlds"), "--world", world, "--batch", str(batch),
                                                  "--threads", str(threads), "--steps", str(args.steps), "--repeat", "1",
                                                  "--spin-microseconds", str(args.spin_us), "--json"], REPO, 600))
                    row["python"].append(python_client_sps(sock, world, batch, threads, args.steps, args.spin_us * 1e-6))
                    row["gym"].append(gymnasium_vector_sps(sock, world, batch, threads, args.steps, args.spin_us * 1e-6))
                    cmd = [sys.executable, str(PEERS_DIR / "bench.py"), "--env", env, "--impl", "envpool",
                           "--num-envs", str(batch), "--threads", str(threads), "--steps", str(args.steps)]
                    if continuous:
                        cmd.append("--continuous")
                    row["envpool"].append(run_json(cmd, REPO, 600)["steps_per_second"])
                    print(f"run {r + 1}/{args.repeat}: {world} batch {batch}: done", file=sys.stderr)
    finally:
        daemon.send_signal(signal.SIGTERM)
        status = daemon.wait(timeout=60)
        if status != 0:
            print(f"warning: metasimd exited with status {status}", file=sys.stderr)

    rows, results, missed = [], [], []
    for (world, batch, threads), row in runs.items():
        sw = row["swift"]
        inproc = median([x["in_process_steps_per_second"] for x in sw])
        swift = median([x["socket_steps_per_second"] for x in sw])
        ratio = median([x["socket_over_in_process"] for x in sw])
        python = median(row["python"])
        envpool = median(row["envpool"])
        py_vs_envpool = median([p / e for p, e in zip(row["python"], row["envpool"])])
        gym = median(row["gym"])
        gym_vs_envpool = median([p / e for p, e in zip(row["gym"], row["envpool"])])
        rtt = median([x["round_trip_microseconds"] for x in sw])
        echo = median([x["echo_round_trip_microseconds"] for x in sw])
        looking_echo = median([x["looking_echo_round_trip_microseconds"] for x in sw])
        step = median([x["step_microseconds"] for x in sw])
        ping = median([x["ping_round_trip_microseconds"] for x in sw])
        budget = median([x["round_trip_budget_ratio"] for x in sw])
        rows.append([world, f"{batch}/{threads}", fmt_rate(inproc), fmt_rate(swift), fmt_ratio(ratio), fmt_rate(python),
                     fmt_rate(gym), fmt_rate(envpool), fmt_ratio(py_vs_envpool), fmt_ratio(gym_vs_envpool),
                     f"{rtt:.1f}", f"{step:.1f}", f"{echo:.1f}", f"{looking_echo:.1f}", f"{ping:.1f}", fmt_ratio(budget)])
        results.append({"world": world, "batch": batch, "threads": threads, "in_process_sps": inproc, "swift_socket_sps": swift,
                        "swift_over_in_process": ratio, "python_socket_sps": python, "envpool_sps": envpool,
                        "python_over_envpool": py_vs_envpool, "gymnasium_vector_sps": gym,
                        "gymnasium_vector_over_envpool": gym_vs_envpool, "round_trip_us": rtt, "step_us": step,
                        "echo_us": echo, "looking_echo_us": looking_echo, "ping_us": ping, "round_trip_budget_ratio": budget})
        if batch == 16 and ratio < SOCKET_VS_IN_PROCESS:
            missed.append(f"{world} batch 16: socket {ratio:.2f} x in-process (target >= {SOCKET_VS_IN_PROCESS})")
        if batch == 16 and py_vs_envpool < 1:
            missed.append(f"{world} batch 16: Python client {py_vs_envpool:.2f} x EnvPool (target >= 1)")
        if batch == 1 and budget > RTT_BUDGET:
            missed.append(f"{world} batch 1: round trip {budget:.2f} x (2 echo + step, the echo waiting as the client does) (target <= 1)")
    print(render_table(["world", "batch/thr", "in-process", "Swift socket", "sock/in-proc", "Python socket", "Python gym",
                        "EnvPool", "Py/EnvPool", "gym/EnvPool", "rtt µs", "step µs", "echo µs", "look echo µs", "ping µs", "rtt/(2echo+step)"], rows))
    print()
    print("targets: " + ("all met" if not missed else "MISSED:\n  " + "\n  ".join(missed)))
    write_atomic(args.output, {"machine": platform.node(), "cpus": os.cpu_count(), "steps": args.steps,
                               "repeat": args.repeat, "spin_us": args.spin_us, "results": results, "missed": missed})


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
