#!/usr/bin/env python3
"""metasim against its peers (Gymnasium, EnvPool) in one run, with the speed and memory targets.

For every case (world x config) it runs, back to back, `metasim bench ... --json` and the matching
peer benchmarks (/work/shared/peers/bench.py under the peers' venv python), repeats the whole
sequence --repeat times (interleaved: the machine's noise hits all sides alike) and prints medians:

  metasim steps/s      full step (actions, physics, sensing, reward, termination, observation, auto-reset)
  raw Box2D steps/s    the same actions and resets with Box2D stepping only
  full/raw             cost of a full step relative to the raw step (median of the per-run ratios)
  Gymnasium            one Gymnasium environment (Python, pybox2d 2.3)
  EnvPool              EnvPool with the same batch size and thread count (C++, Box2D 2.4.1)
  x Gym, x EnvPool     metasim steps/s over the peer's, median of the per-repeat (paired) ratios

Targets (missed targets are printed, not an error; the exit status is non-zero only on errors):
  batch 1 / 1 thread:   metasim >= 3 x Gymnasium (single environment)
  batch 16 / 2 threads: metasim >= 2 x EnvPool (16 environments, 2 threads)
  every case:           full/raw <= 1.15
  memory:               1000 live lunar-lander instances, process resident set <= 256 MiB

Standard library only. See Benchmarks/README.md.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import write_atomic

REPO = Path(__file__).resolve().parent.parent
PEERS_DIR = REPO.parent / "shared" / "peers"     # /work/shared/peers here; <clone>/../shared/peers in CI
DEFAULT_VENV = Path(os.environ.get("PEERS_VENV") or "/tmp/metasim-peers")

# (metasim world, peer environment id, continuous actions, required)
CASES = [
    ("lunar-lander", "LunarLander-v3", True, True),
    ("lunar-lander-discrete", "LunarLander-v3", False, False),   # only if the world exists
    ("bipedal-walker", "BipedalWalker-v3", False, True),
]
CONFIGS = [(1, 1), (16, 2)]        # (batch, threads)

SINGLE_VS_GYM = 3.0                # batch 1 / 1 thread: >= 3 x Gymnasium single env
BATCH_VS_ENVPOOL = 2.0             # batch 16 / 2 threads: >= 2 x EnvPool 16 envs 2 threads
MAX_OVERHEAD = 1.15                # full / raw
MEMORY_INSTANCES = 1000
MEMORY_LIMIT_MIB = 256.0


class BenchError(Exception):
    pass


def run_json(cmd, cwd, timeout):
    """Runs a command that prints one JSON object (its last non-empty stdout line) and returns it."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"timed out after {timeout} s: {' '.join(map(str, cmd))}")
    except OSError as e:
        raise BenchError(f"cannot run {cmd[0]}: {e}")
    if p.returncode != 0:
        raise BenchError(f"exit status {p.returncode}: {' '.join(map(str, cmd))}\n{p.stderr.strip()}")
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    try:
        out = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise BenchError(f"no JSON output from: {' '.join(map(str, cmd))}\nstdout: {p.stdout.strip()}\n"
                         f"stderr: {p.stderr.strip()}")
    out["_wall_seconds"] = round(time.perf_counter() - t0, 3)
    return out


def find_metasim(explicit):
    if explicit:
        p = Path(explicit)
        if not p.is_absolute() and not p.exists():
            p = REPO / explicit
        if not (p.is_file() and os.access(p, os.X_OK)):
            raise BenchError(f"--metasim {explicit}: not an executable file")
        return p.absolute()
    for c in (REPO / ".build/release/metasim", REPO / ".build-bench/release/metasim"):
        if c.is_file() and os.access(c, os.X_OK):
            return c
    raise BenchError("no metasim binary found (build it with `swift build -c release --product metasim` "
                     "or pass --metasim PATH)")


def find_peers_python(explicit, peers_dir):
    if explicit:
        return explicit
    default = DEFAULT_VENV / "bin" / "python"
    if default.is_file() and os.access(default, os.X_OK):
        return str(default)
    setup = peers_dir / "setup.sh"
    if not setup.is_file():
        raise BenchError(f"{default} is missing and there is no {setup} to make it (use --peers-python)")
    print(f"making the peers' venv: {setup}", file=sys.stderr)
    p = subprocess.run(["bash", str(setup)], capture_output=True, text=True)
    if p.returncode != 0:
        raise BenchError(f"{setup} failed ({p.returncode}):\n{p.stderr.strip()}")
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    if not lines:
        raise BenchError(f"{setup} printed no python path")
    return lines[-1].strip()


def world_exists(worlds_root, name):
    return any(worlds_root.rglob(name + ".yaml")) or any(worlds_root.rglob(name + ".yml"))




def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_rate(x):
    return "-" if x is None else f"{x:,.0f}"


def fmt_ratio(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def render_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    def line(r):
        return "  ".join(str(c).ljust(w) if i in (0, 1, len(header) - 1) else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metasim", help="metasim binary (default: .build/release/metasim, else .build-bench/release/metasim)")
    ap.add_argument("--peers-python", help=f"python of the peers' venv (default: {DEFAULT_VENV}/bin/python, "
                                            "made by <repo>/../shared/peers/setup.sh when missing)")
    ap.add_argument("--peers-dir", default=str(PEERS_DIR), help="folder of bench.py and setup.sh (default: %(default)s)")
    ap.add_argument("--worlds", default=str(REPO / "worlds"), help="worlds folder passed to metasim (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=50000, help="environment steps per measurement, every side (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=3, help="repeat the interleaved sequence K times and take medians (default: %(default)s)")
    ap.add_argument("--world", action="append", dest="only", metavar="NAME",
                    help="only this case's world (repeatable; default: all cases)")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory case")
    ap.add_argument("--timeout", type=float, default=900, help="seconds allowed per command (default: %(default)s)")
    ap.add_argument("--json-out", metavar="FILE", help="write every raw result and the summary here (atomically)")
    a = ap.parse_args()
    if a.steps < 16 or a.repeat < 1:
        ap.error("--steps must be >= 16 and --repeat >= 1")

    try:
        return run(a)
    except BenchError as e:
        print(f"compare_peers: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("compare_peers: interrupted", file=sys.stderr)
        return 130


def run(a):
    metasim = find_metasim(a.metasim)
    peers_dir = Path(a.peers_dir)
    bench_py = peers_dir / "bench.py"
    if not bench_py.is_file():
        raise BenchError(f"no peer benchmark at {bench_py} (use --peers-dir)")
    py = find_peers_python(a.peers_python, peers_dir)
    worlds_root = Path(a.worlds)
    if not worlds_root.is_dir():
        raise BenchError(f"--worlds {worlds_root}: not a folder")

    cases, skipped = [], []
    for world, env, continuous, required in CASES:
        if a.only and world not in a.only:
            continue
        if not world_exists(worlds_root, world):
            if required:
                raise BenchError(f"world '{world}' not found under {worlds_root}")
            skipped.append(world)
            continue
        cases.append((world, env, continuous))
    if a.only:
        unknown = set(a.only) - {c[0] for c in CASES}
        if unknown:
            raise BenchError(f"unknown case world(s): {', '.join(sorted(unknown))}")

    def metasim_cmd(world, batch, threads):
        return [str(metasim), "bench", "--worlds", str(worlds_root), "--world", world, "--batch", str(batch),
                "--threads", str(threads), "--steps", str(a.steps), "--json"]

    def peer_cmd(env, continuous, impl, n, t):
        cmd = [py, str(bench_py), "--env", env, "--impl", impl, "--num-envs", str(n), "--threads", str(t),
               "--steps", str(a.steps)]
        return cmd + (["--continuous"] if continuous else [])

    memory_cmd = [str(metasim), "bench", "--worlds", str(worlds_root), "--world", "lunar-lander",
                  "--memory", str(MEMORY_INSTANCES), "--json"]
    do_memory = not a.no_memory and (not a.only or "lunar-lander" in a.only)

    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    load_before = os.getloadavg()
    print(f"metasim {metasim}\npeers   {py} {bench_py}\n{os.cpu_count()} CPUs, load average "
          f"{load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; {a.steps} steps per measurement, "
          f"{a.repeat} repeat(s)", flush=True)
    for w in skipped:
        print(f"skipping {w}: no such world under {worlds_root}", flush=True)

    runs = []            # every raw measurement
    # results[(world, batch, threads)][side] = list over repeats
    results = {}
    memory = []
    for r in range(a.repeat):
        for world, env, continuous in cases:
            for batch, threads in CONFIGS:
                key = (world, batch, threads)
                sides = [
                    ("metasim", metasim_cmd(world, batch, threads)),
                    ("gymnasium", peer_cmd(env, continuous, "gymnasium", 1, 1)),
                    ("envpool", peer_cmd(env, continuous, "envpool", batch, threads)),
                ]
                for side, cmd in sides:
                    print(f"[{r + 1}/{a.repeat}] {world} b{batch}/t{threads} {side} ...", end=" ", flush=True)
                    out = run_json(cmd, REPO, a.timeout)
                    print(f"{out['steps_per_second']:,.0f} steps/s", flush=True)
                    runs.append({"repeat": r, "world": world, "batch": batch, "threads": threads, "side": side,
                                 "command": cmd, "result": out, "loadavg": os.getloadavg()[0]})
                    results.setdefault(key, {}).setdefault(side, []).append(out)
        if do_memory:
            print(f"[{r + 1}/{a.repeat}] lunar-lander memory x{MEMORY_INSTANCES} ...", end=" ", flush=True)
            out = run_json(memory_cmd, REPO, a.timeout)
            print(f"{out['rss_mib']:.1f} MiB", flush=True)
            runs.append({"repeat": r, "world": "lunar-lander", "side": "metasim-memory", "command": memory_cmd,
                         "result": out})
            memory.append(out)

    # Summary: medians of rates; ratios are medians of the per-repeat (paired, interleaved) ratios.
    summary, table, missed = [], [], []
    for world, env, continuous in cases:
        for batch, threads in CONFIGS:
            res = results[(world, batch, threads)]
            ms, gy, ep = res["metasim"], res["gymnasium"], res["envpool"]
            row = {
                "world": world, "peer_env": env + (" (continuous)" if continuous else ""),
                "batch": batch, "threads": threads,
                "metasim_steps_per_second": median(m["steps_per_second"] for m in ms),
                "raw_steps_per_second": median(m["raw_steps_per_second"] for m in ms),
                "full_over_raw": median(m["overhead"] for m in ms),
                "gymnasium_steps_per_second": median(g["steps_per_second"] for g in gy),
                "envpool_steps_per_second": median(e["steps_per_second"] for e in ep),
                "ratio_vs_gymnasium": median(m["steps_per_second"] / g["steps_per_second"] for m, g in zip(ms, gy)),
                "ratio_vs_envpool": median(m["steps_per_second"] / e["steps_per_second"] for m, e in zip(ms, ep)),
                "repeats": len(ms),
            }
            targets = []
            if (batch, threads) == (1, 1):
                targets.append({"target": f"single >= {SINGLE_VS_GYM:g}x Gymnasium", "value": row["ratio_vs_gymnasium"],
                                "pass": row["ratio_vs_gymnasium"] >= SINGLE_VS_GYM})
            if (batch, threads) == (16, 2):
                targets.append({"target": f"b16/t2 >= {BATCH_VS_ENVPOOL:g}x EnvPool", "value": row["ratio_vs_envpool"],
                                "pass": row["ratio_vs_envpool"] >= BATCH_VS_ENVPOOL})
            targets.append({"target": f"full/raw <= {MAX_OVERHEAD:g}", "value": row["full_over_raw"],
                            "pass": row["full_over_raw"] <= MAX_OVERHEAD})
            row["targets"] = targets
            summary.append(row)
            for t in targets:
                if not t["pass"]:
                    missed.append(f"{world} b{batch}/t{threads}: {t['target']} (measured {t['value']:.2f})")
            table.append([world, f"b{batch}/t{threads}", fmt_rate(row["metasim_steps_per_second"]),
                          fmt_rate(row["raw_steps_per_second"]), fmt_ratio(row["full_over_raw"], 3),
                          fmt_rate(row["gymnasium_steps_per_second"]), fmt_rate(row["envpool_steps_per_second"]),
                          fmt_ratio(row["ratio_vs_gymnasium"]), fmt_ratio(row["ratio_vs_envpool"]),
                          "; ".join(f"{t['target']}: {'PASS' if t['pass'] else 'FAIL'}" for t in targets)])

    print()
    print(render_table(["world", "config", "metasim/s", "raw Box2D/s", "full/raw", "Gym 1 env/s",
                        "EnvPool same/s", "x Gym", "x EnvPool", "targets"], table))

    memory_summary = None
    if memory:
        rss = median(m["rss_mib"] for m in memory)
        memory_summary = {
            "world": "lunar-lander", "instances": MEMORY_INSTANCES, "rss_mib": rss,
            "baseline_rss_mib": median(m["baseline_rss_mib"] for m in memory),
            "per_instance_kib": median(m["per_instance_kib"] for m in memory),
            "limit_mib": MEMORY_LIMIT_MIB, "pass": rss <= MEMORY_LIMIT_MIB,
        }
        print(f"\nmemory: {MEMORY_INSTANCES} live lunar-lander instances: resident {rss:.1f} MiB "
              f"(process before {memory_summary['baseline_rss_mib']:.1f} MiB, "
              f"{memory_summary['per_instance_kib']:.1f} KiB per instance); "
              f"target <= {MEMORY_LIMIT_MIB:g} MiB: {'PASS' if memory_summary['pass'] else 'FAIL'}")
        if not memory_summary["pass"]:
            missed.append(f"memory: {rss:.1f} MiB > {MEMORY_LIMIT_MIB:g} MiB")

    load_after = os.getloadavg()
    print(f"\nload average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    if missed:
        print(f"{len(missed)} target(s) missed:")
        for m in missed:
            print(f"  FAIL {m}")
    else:
        print("all targets met")

    if a.json_out:
        write_atomic(a.json_out, {
            "started": started, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "loadavg_before": load_before, "loadavg_after": load_after},
            "metasim": str(metasim), "peers_python": py, "peers_bench": str(bench_py),
            "steps": a.steps, "repeat": a.repeat, "skipped_worlds": skipped,
            "summary": summary, "memory": memory_summary, "missed_targets": missed, "runs": runs,
        })
        print(f"raw results: {a.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
