#!/usr/bin/env python3
"""Where lunar-lander-discrete's gap to Gymnasium comes from: metasim's world, or Box2D 2.4?

Run it with the peers' venv python (gymnasium[box2d] and numpy), after `make build`:

    /tmp/metasim-peers/bin/python Benchmarks/box2d24_lunar_lander.py

It compiles Benchmarks/box2d24_lunar_lander.cpp (Gymnasium's LunarLander-v3, discrete, ported line
by line onto the system's Box2D 2.4.1, the engine metasim links) and measures, in one run:

1. Returns under uniformly random actions, --episodes per side: metasim's lunar-lander-discrete
   (a private metasimd, as Benchmarks/replica_fidelity.py runs it), Gymnasium's LunarLander-v3
   (pybox2d, Box2D 2.3.10), EnvPool's LunarLander-v3 when envpool is installed (the peers' venv
   has it) and the Box2D 2.4.1 port with --seeds generator seeds. For each, the
   mean return with its 95 % interval and the mean angle term of the shaping (-100 |angle|) in
   the last step before the episode ends, where the gap shows.
2. Step for step, with the noise off: --sequences random action sequences (actions 0..3 with
   the main engine at probability 0.4, so the lander comes down slowly enough to tumble on its
   legs), each replayed by `metasim trace` (TERRAIN_NOISE, INITIAL_RANDOM and DISPERSION at 0) and
   by the port with metasim's side-engine mount (--side-x 14); and by Gymnasium (its draws at
   their midpoints, as Benchmarks/lunar_lander_fidelity.py does) and the port with Gymnasium's
   17/SCALE. It prints the episode lengths and the largest |difference| of any observation entry
   over the steps both sides ran.

If the port agrees with metasim step for step and in its returns, while both differ from
Gymnasium, the gap is the Box2D version's (its revolute joint limits and contact solver, reworked
in 2.4), not the world file's.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import replica_fidelity as rf  # noqa: E402  (its daemon and client)
from lunar_lander_fidelity import MidpointRNG  # noqa: E402  (Gymnasium with its noise at the midpoints)


def compile_port(out_dir, name="box2d24_lunar_lander"):
    """Compiles Benchmarks/NAME.cpp against the system's Box2D (pkg-config box2d) into out_dir."""
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        raise SystemExit(f"{name}: error: no C++ compiler (set CXX)")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "box2d"], check=True, capture_output=True,
                           text=True).stdout.split()
    binary = Path(out_dir) / name
    subprocess.run([cxx, "-O2", "-std=c++17", str(HERE / f"{name}.cpp"), "-o", str(binary)] + flags,
                   check=True)
    return binary


def angle_terms(client, world, episodes, batch, seed):
    """metasim's random-action episodes with the angle term before each end (the observed angle is
    clipped to +-2 pi, as the world declares; the term is then at most 628)."""
    s = client.open(world, batch=batch, seed=seed, auto_reset=True)
    rng = np.random.default_rng(seed)
    per = math.ceil(episodes / batch)
    obs = s.observations.copy()
    done = np.zeros(batch, np.int64)
    returns, terms = [], []
    while (done < per).any():
        r = s.step(rng.integers(0, s.discrete_actions, size=batch).astype(np.int32))
        for k, i in enumerate(r.ended_index):
            i = int(i)
            if done[i] < per:
                returns.append(float(r.ended_return[k]))
                terms.append(-100 * abs(float(obs[i][4])))
            done[i] += 1
        obs = r.observations.copy()
    s.close()
    return np.asarray(returns), np.asarray(terms)


def gymnasium_angle_terms(episodes, seed):
    import gymnasium as gym
    env = gym.make("LunarLander-v3", continuous=False, disable_env_checker=True)
    rng = np.random.default_rng(seed + 1)
    returns, terms = [], []
    for e in range(episodes):
        obs, _ = env.reset(seed=seed + e)
        env.action_space.seed(int(rng.integers(2 ** 31)))
        total, before = 0.0, obs
        while True:
            nxt, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            if terminated or truncated:
                break
            before = nxt
        returns.append(total)
        terms.append(-100 * abs(float(before[4])))
    env.close()
    return np.asarray(returns), np.asarray(terms)


def gymnasium_noise_off(actions):
    """Gymnasium's LunarLander-v3 (discrete) replaying `actions` with its draws at their midpoints."""
    import gymnasium as gym
    env = gym.make("LunarLander-v3", continuous=False, disable_env_checker=True)
    env.reset(seed=0)
    env.unwrapped.np_random = MidpointRNG(np.random.default_rng(0))
    obs, _ = env.reset()
    out = [obs]
    for a in actions:
        obs, _, terminated, truncated, _ = env.step(int(a[0]))
        out.append(obs)
        if terminated or truncated:
            break
    env.close()
    return out


def largest_difference(a, b):
    n = min(len(a), len(b))
    return float(np.abs(np.asarray(a[:n], np.float64) - np.asarray(b[:n], np.float64)).max())


def envpool_angle_terms(episodes, seed, batch=50):
    """EnvPool's LunarLander-v3 (discrete), or None without envpool. Its auto-reset spends the step
    after an episode's end on the reset, which is skipped."""
    try:
        import envpool
    except ImportError:
        return None
    # Which Box2D its wheel carries: 2.3 has b2EdgeShape::Set and b2EPCollider, 2.4 has
    # b2EdgeShape::SetTwoSided and no b2EPCollider (the names are in the library's symbol strings).
    library = (Path(envpool.__file__).parent / "box2d" / "box2d_envpool.so").read_bytes()
    engine = ("Box2D 2.3 in its wheel" if b"b2EPCollider" in library else
              "Box2D 2.4 in its wheel" if b"SetTwoSided" in library else "its wheel's Box2D")
    env = envpool.make("LunarLander-v3", env_type="gymnasium", num_envs=batch, seed=seed)
    obs, _ = env.reset()
    rng = np.random.default_rng(seed)
    per = math.ceil(episodes / batch)
    done = np.zeros(batch, np.int64)
    total = np.zeros(batch)
    before = obs.copy()
    resetting = np.zeros(batch, bool)
    returns, terms = [], []
    while (done < per).any():
        obs, reward, terminated, truncated, _ = env.step(rng.integers(0, 4, size=batch).astype(np.int32))
        for i in range(batch):
            if resetting[i]:
                resetting[i], total[i], before[i] = False, 0.0, obs[i]
                continue
            total[i] += reward[i]
            if terminated[i] or truncated[i]:
                if done[i] < per:
                    returns.append(total[i])
                    terms.append(-100 * abs(float(before[i][4])))
                done[i] += 1
                resetting[i] = True
            else:
                before[i] = obs[i]
    env.close()
    return np.asarray(returns), np.asarray(terms), engine


def ci(x):
    return 1.96 * x.std(ddof=1) / math.sqrt(len(x))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--metasim", default=str(REPO / ".build/release/metasim"), help="metasim CLI (default: %(default)s)")
    ap.add_argument("--metasimd", help="metasimd binary (default: beside --metasim)")
    ap.add_argument("--episodes", type=int, default=1000, help="random-action episodes per side (default: %(default)s)")
    ap.add_argument("--seeds", type=int, default=3, help="generator seeds of the Box2D 2.4.1 port (default: %(default)s)")
    ap.add_argument("--sequences", type=int, default=20, help="noise-off action sequences (default: %(default)s)")
    a = ap.parse_args()
    metasimd = Path(a.metasimd) if a.metasimd else Path(a.metasim).parent / "metasimd"

    with tempfile.TemporaryDirectory(prefix="box2d24-") as tmp:
        port = compile_port(tmp)

        # 1. Random actions.
        daemon = rf.Daemon(metasimd, REPO / "worlds")
        try:
            client = rf.Client(daemon.socket)
            m_ret, m_term = angle_terms(client, "lunar-lander-discrete", a.episodes, 50, 0)
            client.close()
        finally:
            daemon.stop()
        g_ret, g_term = gymnasium_angle_terms(a.episodes, 0)
        print(f"random actions, {a.episodes} episodes each: mean return ± 95 % interval; mean angle term "
              f"(-100 |angle|) in the last step before the end")

        def row(label, ret, term, term_ci=None):
            print(f"  {label:50s} {ret.mean():8.2f} ± {ci(ret):5.2f}   angle term {term:7.2f}"
                  + (f" ± {term_ci:5.2f}" if term_ci is not None else ""))
        row("metasim lunar-lander-discrete (Box2D 2.4.1)", m_ret, m_term.mean(), ci(m_term))
        row("Gymnasium LunarLander-v3 (pybox2d, Box2D 2.3.10)", g_ret, g_term.mean(), ci(g_term))
        envpool_result = envpool_angle_terms(a.episodes, 0)
        if envpool_result is not None:
            e_ret, e_term, engine = envpool_result
            row(f"EnvPool LunarLander-v3 ({engine})", e_ret, e_term.mean(), ci(e_term))
        for seed in range(1, a.seeds + 1):
            out = json.loads(subprocess.run([str(port), "random", str(a.episodes), str(seed)], check=True,
                                            capture_output=True, text=True).stdout)
            print(f"  {f'Gymnasium code on Box2D 2.4.1 (the port), seed {seed}':50s} {out['mean_return']:8.2f} ± "
                  f"{out['ci95']:5.2f}   angle term {out['angle_term_before_end']:7.2f}")

        # 2. Step for step, noise off.
        print(f"\nnoise off, {a.sequences} random action sequences (main engine at p = 0.4): episode lengths and the "
              f"largest |difference| of any observation entry")
        print("  sequence  metasim / port (side-x 14)   difference    Gymnasium / port (side-x 17)   difference")
        worst_metasim, worst_gymnasium = 0.0, 0.0
        for k in range(a.sequences):
            rng = np.random.default_rng(k)
            actions = [[int(x)] for x in rng.choice(4, 600, p=[0.2, 0.2, 0.4, 0.2])]
            path = Path(tmp) / f"actions-{k}.json"
            path.write_text(json.dumps(actions))

            def port_trace(side_x):
                out = subprocess.run([str(port), "trace", "--side-x", str(side_x)], input=path.read_text(),
                                     check=True, capture_output=True, text=True).stdout
                return [json.loads(line) for line in out.splitlines()]
            lines = subprocess.run([a.metasim, "trace", "--world", "lunar-lander-discrete", "--worlds", str(REPO / "worlds"),
                                    "--param", "TERRAIN_NOISE=0", "--param", "INITIAL_RANDOM=0", "--param", "DISPERSION=0",
                                    "--actions", str(path)], check=True, capture_output=True, text=True).stdout.splitlines()
            ms = [json.loads(line)["observation"] for line in lines if line.strip()]
            ref14, ref17 = port_trace(14), port_trace(17)
            gy = gymnasium_noise_off(actions)
            d_ms, d_gy = largest_difference(ms, ref14), largest_difference(gy, ref17)
            worst_metasim, worst_gymnasium = max(worst_metasim, d_ms), max(worst_gymnasium, d_gy)
            print(f"  {k:8d}  {len(ms) - 1:7d} / {len(ref14) - 1:<18d} {d_ms:10.2e}    {len(gy) - 1:9d} / {len(ref17) - 1:<18d} {d_gy:10.2e}")
        print(f"largest |difference| over all sequences: metasim against the port {worst_metasim:.2e}; "
              f"Gymnasium against the port {worst_gymnasium:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
