#!/usr/bin/env python3
"""Where bipedal-walker's gap to Gymnasium under the scripted gait comes from: the world, or Box2D 2.4?

Run it with the peers' venv python (gymnasium[box2d] and numpy), after `make build`:

    /tmp/metasim-peers/bin/python Benchmarks/box2d24_bipedal_walker.py

It compiles Benchmarks/box2d24_bipedal_walker.cpp (Gymnasium's BipedalWalker-v3, normal mode,
ported line by line onto the system's Box2D 2.4.1, the engine metasim links) and runs Gymnasium's
own scripted gait (BipedalWalkerHeuristics, started as Benchmarks/replica_fidelity.py starts it)
and uniformly random actions, --episodes each, on three sides in one run: metasim's
bipedal-walker (a private metasimd), Gymnasium's BipedalWalker-v3 (pybox2d, Box2D 2.3.10) and the
port (driven over a pipe, one line per step). For each: the mean return with its 95 % interval,
the fall rate (last reward -100) and the finish rate. Then the differences metasim - Gymnasium
and metasim - port, with their 95 % intervals (Welch; Wald for rates).

If metasim agrees with the port while both differ from Gymnasium, the gap is the Box2D version's.
"""
import argparse
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import replica_fidelity as rf  # noqa: E402  (daemon, episode runners, controllers, statistics)
from box2d24_lunar_lander import compile_port  # noqa: E402


class Port:
    """The Box2D 2.4.1 port behind a pipe."""

    def __init__(self, binary):
        self.process = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def call(self, line):
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        reply = self.process.stdout.readline()
        if not reply:
            raise SystemExit(f"box2d24_bipedal_walker: error: the port stopped (after {line!r})")
        return np.array(reply.split(), np.float64)

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def port_episodes(port, controller, episodes, seed, horizon=1600):
    """Episodes on the port under a replica_fidelity controller (its Gymnasium-side interface)."""
    rows = []
    for e in range(episodes):
        obs = port.call(f"reset {seed + e}")
        act = controller.gymnasium(None, e) if not isinstance(controller, rf.RandomController) else None
        total, length, reward, terminated = 0.0, 0, 0.0, False
        while length < horizon:
            a = controller.rng.uniform(-1, 1, 4) if act is None else act(obs.astype(np.float32))
            out = port.call("step " + " ".join(f"{x:.9g}" for x in np.asarray(a, np.float32)))
            obs, reward, terminated = out[:24], float(out[24]), out[25] == 1
            total += reward
            length += 1
            if terminated:
                break
        row = {"return": total, "length": length}
        row.update(rf.walker_outcomes(reward, bool(terminated), not terminated))
        rows.append(row)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--metasimd", default=str(REPO / ".build/release/metasimd"), help="metasimd (default: %(default)s)")
    ap.add_argument("--episodes", type=int, default=1000, help="episodes per side and controller (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--controllers", default="random,walker", help="comma-separated: random, walker (default: %(default)s)")
    a = ap.parse_args()
    kinds = [k for k in ("random", "walker") if k in a.controllers.split(",")]

    with tempfile.TemporaryDirectory(prefix="box2d24-") as tmp:
        binary = compile_port(tmp, "box2d24_bipedal_walker")
        sides = {}
        daemon = rf.Daemon(Path(a.metasimd), REPO / "worlds")
        try:
            client = rf.Client(daemon.socket)
            for kind in kinds:
                sides[("metasim", kind)] = rf.metasim_episodes(client, "bipedal-walker", rf.make_controller(kind, a.seed),
                                                               a.episodes, 50, a.seed, rf.walker_outcomes)
            client.close()
        finally:
            daemon.stop()
        port = Port(binary)
        try:
            for kind in kinds:
                sides[("port", kind)] = port_episodes(port, rf.make_controller(kind, a.seed + 2), a.episodes, a.seed + 1)
        finally:
            port.close()
        for kind in kinds:
            sides[("gymnasium", kind)] = rf.gymnasium_episodes("BipedalWalker-v3", {}, rf.make_controller(kind, a.seed + 1),
                                                               a.episodes, a.seed, rf.walker_outcomes)

    names = {"metasim": "metasim bipedal-walker (Box2D 2.4.1)", "gymnasium": "Gymnasium BipedalWalker-v3 (Box2D 2.3.10)",
             "port": "Gymnasium code on Box2D 2.4.1 (the port)"}
    print(f"{a.episodes} episodes per side and controller; mean return ± 95 % interval, fall and finish rates")
    for kind in kinds:
        print(f"\n{'scripted gait' if kind == 'walker' else 'random actions'}:")
        for side in ("metasim", "gymnasium", "port"):
            rows = sides[(side, kind)]
            r = np.asarray([x["return"] for x in rows])
            print(f"  {names[side]:44s} {r.mean():8.2f} ± {1.96 * r.std(ddof=1) / math.sqrt(len(r)):5.2f}   "
                  f"fall {np.mean([x['fall'] for x in rows]) * 100:5.1f}%   finish {np.mean([x['finish'] for x in rows]) * 100:5.1f}%")
        for other in ("gymnasium", "port"):
            c = rf.compare_returns(sides[("metasim", kind)], sides[(other, kind)], rf.walker_outcomes)
            rates = "; ".join(f"{k} {v['diff'] * 100:+.1f} ± {v['ci95'] * 100:.1f} points" for k, v in c["rates"].items())
            print(f"  metasim - {other:9s}: return {c['diff']:+7.2f} ± {c['ci95']:5.2f} (5 % of the {other} range: "
                  f"±{c['tolerance']:.2f}); {rates}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
