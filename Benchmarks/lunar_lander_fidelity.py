#!/usr/bin/env python3
"""Step-by-step fidelity of metasim's lunar-lander world against Gymnasium's LunarLander-v3 (continuous).

Run it with the peers' venv python (it needs gymnasium[box2d] and numpy):

    /tmp/metasim-peers/bin/python Benchmarks/lunar_lander_fidelity.py --metasim .build/release/metasim

Both sides replay the same action sequences from a deterministic start:

- Gymnasium: after gymnasium's own reset seeding, the environment's np_random is replaced by a
  generator whose uniform(low, high, size) returns the midpoint (low + high) / 2 (an array of
  midpoints when size is given) and whose integers(...) returns a fixed value; then reset() (no
  seed: gymnasium keeps the generator). So the terrain is flat at the helipad height (H/4, then
  Gymnasium's 0.33 smoothing), the initial push is zero, the engines' dispersion is zero (and the
  wind index, unused without wind, is fixed).
- metasim: `metasim trace --world lunar-lander --param TERRAIN_NOISE=0 --param INITIAL_RANDOM=0
  --param DISPERSION=0 --param wind_power=0 --param gravity=-10 --actions FILE`: the same zero noise
  through the world's own switches (the parameter names are those declared in
  worlds/robots/lunar-lander.yaml; the script checks that they are declared).

Sequences: --sequences seeded random sequences of continuous actions uniform in [-1, 1]^2 (rounded
to float32 so both sides see exactly the same numbers), plus a hand-made one that fires the main
engine, then each side engine, then both, then coasts. For every sequence it reports, per
observation entry, the largest |metasim - Gymnasium| over steps 1..N (N = --steps, or fewer when
either episode ends first), the step where |difference| first exceeds --threshold, the reset (step
0) difference, and the reward differences.

Why the trajectories are close but not bit-equal:
- Physics engine: Gymnasium's pybox2d is Box2D 2.3.10; metasim links Box2D 2.4.1. 2.4 reworked
  the revolute joint (limit and motor solved separately; the legs hang on motorised, limited
  revolute joints from the first step) and changed details of the contact solver, so the same
  inputs give slightly different float results, and the differences grow once a leg touches.
- Number types: Gymnasium clips the action and computes the engine impulses in float64 Python
  (np.clip(...).astype(np.float64), math.sin/cos of the angle) before handing them to Box2D's
  float32; metasim receives the action as float32 and does the engine math in float32/C++. The
  observation is float32 on both sides, but computed from float64 (Gymnasium) vs float32
  (metasim) intermediates.
- Side-engine application point: Gymnasium applies the side impulse at
  (x - sin(angle) * 17/SCALE, y + cos(angle) * 14/SCALE) (its "17 is presumably
  SIDE_ENGINE_HEIGHT" bug); metasim uses the mount height SIDE_ENGINE_HEIGHT/SCALE = 14/SCALE on
  both axes. With the lander tilted, a side-engine firing therefore produces a slightly different
  torque: this shows in the angle/angular velocity once the side engines fire at an angle.
- Leg contact: Gymnasium keeps one boolean per leg that any EndContact clears; metasim counts the
  touching contacts (the flags can differ when a leg touches at two points and lifts one).
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from results_file import write_atomic

import numpy as np

warnings.filterwarnings("ignore")

REPO = Path(__file__).resolve().parent.parent
ENTRIES = ["x", "y", "vx", "vy", "angle", "angular_velocity", "leg_right_contact", "leg_left_contact"]
# The metasim parameters that switch its noise off, and the values used (Gymnasium defaults otherwise).
NOISE_OFF = {"TERRAIN_NOISE": 0, "INITIAL_RANDOM": 0, "DISPERSION": 0, "wind_power": 0, "gravity": -10}


class MidpointRNG:
    """A stand-in for numpy's Generator: uniform() gives the middle of the range, integers() a fixed value.

    Anything else is delegated to a real generator (LunarLander-v3 uses only uniform and integers)."""

    def __init__(self, fallback, fixed_integer=0):
        self._fallback = fallback
        self._fixed = fixed_integer

    def uniform(self, low=0.0, high=1.0, size=None):
        mid = (np.asarray(low, dtype=np.float64) + np.asarray(high, dtype=np.float64)) / 2.0
        if size is None:
            return float(mid) if mid.ndim == 0 else mid
        return np.broadcast_to(mid, size).astype(np.float64).copy()

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        lo, hi = (0, low) if high is None else (low, high)
        v = self._fixed if lo <= self._fixed < hi + (1 if endpoint else 0) else lo
        return np.full(size, v, dtype=dtype) if size is not None else dtype(v)

    def __getattr__(self, name):
        return getattr(self._fallback, name)


def gymnasium_episode(actions):
    import gymnasium as gym
    env = gym.make("LunarLander-v3", continuous=True, disable_env_checker=True)
    env.reset(seed=0)                                   # gymnasium's own seeding first ...
    env.unwrapped.np_random = MidpointRNG(np.random.default_rng(0))   # ... then neutralise it
    obs, _ = env.reset()                                # seed=None keeps the generator
    out = [{"step": 0, "observation": [float(v) for v in obs], "reward": None, "terminated": False,
            "truncated": False}]
    for i, a in enumerate(actions):
        obs, reward, terminated, truncated, _ = env.step(np.asarray(a, dtype=np.float32))
        out.append({"step": i + 1, "observation": [float(v) for v in obs], "reward": float(reward),
                    "terminated": bool(terminated), "truncated": bool(truncated)})
        if terminated or truncated:
            break
    env.close()
    return out


def metasim_episode(metasim, worlds, world, actions, timeout):
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="fidelity-actions-", delete=False) as f:
        json.dump(actions, f)
        path = f.name
    cmd = [str(metasim), "trace", "--world", world, "--actions", path]
    if worlds:
        cmd[2:2] = ["--worlds", str(worlds)]
    for k, v in NOISE_OFF.items():
        cmd += ["--param", f"{k}={v}"]
    try:
        p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    finally:
        os.unlink(path)
    if p.returncode != 0:
        raise RuntimeError(f"metasim trace failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr.strip()}")
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    if not lines:
        raise RuntimeError(f"metasim trace printed nothing: {' '.join(cmd)}")
    return lines, [c if c != path else "FILE" for c in cmd]


def check_parameters(world_file):
    """The noise switches must be declared in the world file (metasim rejects unknown --param names too)."""
    text = world_file.read_text()
    m = re.search(r"^parameters:\s*\n(.*?)(?=^\S)", text, re.S | re.M)
    block = m.group(1) if m else ""
    declared = set(re.findall(r"^  ([A-Za-z_][A-Za-z0-9_]*)\s*:", block, re.M))
    return [k for k in NOISE_OFF if k not in declared]


def sequences(count, steps):
    seqs = []
    for s in range(count):
        rng = np.random.default_rng(s)
        a = rng.uniform(-1.0, 1.0, size=(steps, 2)).astype(np.float32)
        seqs.append((f"random-{s}", [[float(x), float(y)] for x, y in a]))
    # Hand-made: main engine, then side engine one way, the other way, both engines, then coast.
    hand = []
    for i in range(steps):
        if i < 25:
            hand.append([1.0, 0.0])        # main engine full, sides off
        elif i < 40:
            hand.append([-1.0, 0.75])      # main off, side engine pushing toward +x
        elif i < 55:
            hand.append([-1.0, -0.75])     # main off, side engine pushing toward -x
        elif i < 70:
            hand.append([0.5, 1.0])        # main at 75 % and side full
        else:
            hand.append([-1.0, 0.0])       # coast
    seqs.append(("main-then-sides", hand))
    return seqs


def compare(gym_lines, ms_lines, threshold):
    n = min(len(gym_lines), len(ms_lines)) - 1          # steps compared (after the reset line)
    per_entry = {}
    for j, name in enumerate(ENTRIES):
        diffs = [abs(ms_lines[t]["observation"][j] - gym_lines[t]["observation"][j]) for t in range(1, n + 1)]
        first = next((t + 1 for t, d in enumerate(diffs) if d > threshold), None)
        mx = max(diffs) if diffs else 0.0
        per_entry[name] = {"max_abs_diff": mx, "max_at_step": (diffs.index(mx) + 1) if diffs else None,
                           "first_step_over_threshold": first,
                           "reset_abs_diff": abs(ms_lines[0]["observation"][j] - gym_lines[0]["observation"][j])}
    rdiffs = [abs(ms_lines[t]["reward"] - gym_lines[t]["reward"]) for t in range(1, n + 1)]
    def ended(lines):
        last = lines[-1]
        return last["step"] if (last["terminated"] or last["truncated"]) else None
    return {
        "steps_compared": n,
        "entries": per_entry,
        "reward": {
            "max_abs_diff": max(rdiffs) if rdiffs else 0.0,
            "first_step_over_threshold": next((t + 1 for t, d in enumerate(rdiffs) if d > threshold), None),
            "gymnasium_return": sum(l["reward"] for l in gym_lines[1:n + 1]),
            "metasim_return": sum(l["reward"] for l in ms_lines[1:n + 1]),
        },
        "gymnasium_ended_at": ended(gym_lines), "metasim_ended_at": ended(ms_lines),
    }


def find_metasim(explicit):
    if explicit:
        return Path(explicit) if Path(explicit).exists() else REPO / explicit
    for c in (REPO / ".build/release/metasim", REPO / ".build-bench/release/metasim"):
        if c.exists():
            return c
    raise SystemExit("lunar_lander_fidelity: error: no metasim binary found (pass --metasim PATH)")




def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--metasim", help="metasim binary (default: .build/release/metasim, else .build-bench/release/metasim)")
    ap.add_argument("--worlds", default=str(REPO / "worlds"), help="worlds folder (default: %(default)s)")
    ap.add_argument("--world", default="lunar-lander", help="metasim world (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=100, help="steps compared per sequence (default: %(default)s)")
    ap.add_argument("--sequences", type=int, default=5, help="seeded random action sequences (default: %(default)s)")
    ap.add_argument("--threshold", type=float, default=0.01, help="report the first step over this |difference| (default: %(default)s)")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--json-out", metavar="FILE", help="write the summary (and both traces) as JSON here")
    a = ap.parse_args()

    metasim = find_metasim(a.metasim)
    world_file = next(iter(sorted(Path(a.worlds).rglob(a.world + ".yaml"))), None)
    if world_file is None:
        print(f"lunar_lander_fidelity: error: no world '{a.world}' under {a.worlds}", file=sys.stderr)
        return 1
    missing = check_parameters(world_file)
    if missing:
        print(f"lunar_lander_fidelity: error: {world_file} does not declare the parameter(s) "
              f"{', '.join(missing)} under `parameters:`; the comparison needs "
              + ", ".join(f"{k}={v}" for k, v in NOISE_OFF.items())
              + " to switch metasim's noise off (terrain spread, initial push, engine dispersion, wind).",
              file=sys.stderr)
        return 1

    results, trace_cmd = [], None
    for name, actions in sequences(a.sequences, a.steps):
        try:
            ms, trace_cmd = metasim_episode(metasim, a.worlds, a.world, actions, a.timeout)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"lunar_lander_fidelity: error: {e}", file=sys.stderr)
            return 1
        gy = gymnasium_episode(actions)
        if len(ms[0]["observation"]) != len(ENTRIES):
            print(f"lunar_lander_fidelity: error: metasim observation has {len(ms[0]['observation'])} entries, "
                  f"expected {len(ENTRIES)}", file=sys.stderr)
            return 1
        r = compare(gy, ms, a.threshold)
        r["name"] = name
        r["actions"] = actions
        r["traces"] = {"gymnasium": gy, "metasim": ms}
        results.append(r)

    # --- Report -------------------------------------------------------------------------------
    print(f"metasim {metasim} vs Gymnasium LunarLander-v3 (continuous), noise off on both sides")
    print(f"metasim command: {' '.join(trace_cmd)}")
    print(f"cell: max |metasim - gymnasium| over steps 1..N / first step with |diff| > {a.threshold:g} (- = never)\n")
    names = [r["name"] for r in results]
    header = ["entry"] + names
    rows = []
    for e in ENTRIES:
        rows.append([e] + [f"{r['entries'][e]['max_abs_diff']:.2e} / {r['entries'][e]['first_step_over_threshold'] or '-'}"
                           for r in results])
    rows.append(["reward"] + [f"{r['reward']['max_abs_diff']:.2e} / {r['reward']['first_step_over_threshold'] or '-'}"
                              for r in results])
    rows.append(["reset obs max"] + [f"{max(v['reset_abs_diff'] for v in r['entries'].values()):.2e}" for r in results])
    rows.append(["N (steps)"] + [str(r["steps_compared"]) for r in results])
    rows.append(["ended gym/ms"] + [f"{r['gymnasium_ended_at'] or '-'}/{r['metasim_ended_at'] or '-'}" for r in results])
    rows.append(["return gym"] + [f"{r['reward']['gymnasium_return']:.2f}" for r in results])
    rows.append(["return ms"] + [f"{r['reward']['metasim_return']:.2f}" for r in results])
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths]] + rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))

    if a.json_out:
        write_atomic(a.json_out, {
            "metasim": str(metasim), "world": a.world, "world_file": str(world_file),
            "metasim_params": NOISE_OFF, "gymnasium_env": "LunarLander-v3 (continuous=True), np_random -> midpoints",
            "steps": a.steps, "threshold": a.threshold, "entries": ENTRIES, "sequences": results,
        })
        print(f"\nsummary: {a.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
