#!/usr/bin/env python3
"""`make transfer-sb3`: does a policy trained on a replica work on Gymnasium, and the other way round?

Issue 30's transfer target: a policy trained on the replica scores within 10% of its own score
when run on Gymnasium's environment, and a policy trained on Gymnasium's within 10% of its own
score when run on the replica. For each pair (metasim/cartpole with CartPole-v1, PPO;
metasim/pendulum with Pendulum-v1, SAC), both with SB3's default hyperparameters:
1. train one policy on each side (same algorithm, steps and seed);
2. run each trained policy deterministically on both sides, --episodes episodes each (reset
   seeds --first-seed onwards on both sides; each side draws its own starts from them);
3. report, per policy, its mean return at home and away with 95% intervals (Student t over
   episodes), and the relative change (away − home) / |home|, with a 95% interval from a
   bootstrap over episodes; "within" when that interval lies inside ±10%, "not shown" otherwise.

Run in the SB3 venv of `make check-sb3` (torch, SB3, the client); the daemon is found as the
client finds one (`$METASIM_SOCKET`, the systemd socket, else a private metasimd from PATH).
Exit status: 0 when everything ran (a missed target is printed, not an error), 1 on an error.
"""
import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

def t975(df):
    """Student t's 97.5% quantile (Cornish-Fisher expansion around the normal's 1.959964):
    within 0.005 of the exact value for df >= 9 (2.045 for the default 30 episodes' df 29),
    too small below that (3.06 for df 3, exactly 3.18)."""
    z = 1.959964
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def t_interval(xs):
    xs = np.asarray(xs, dtype=float)
    n = len(xs)
    m = float(xs.mean())
    if n < 2:
        return m, m, m
    t = t975(n - 1)
    h = t * float(xs.std(ddof=1)) / math.sqrt(n)
    return m, m - h, m + h


def relative_change(home, away, rng, draws=10_000):
    """(mean(away) − mean(home)) / |mean(home)| with a percentile bootstrap over episodes.
    Home and away are resampled independently: the same reset seed draws a different start on
    the two sides (each has its own random stream), so the episodes are not pairs."""
    home, away = np.asarray(home, float), np.asarray(away, float)
    point = (away.mean() - home.mean()) / abs(home.mean())
    h = home[rng.integers(0, len(home), size=(draws, len(home)))].mean(axis=1)
    a = away[rng.integers(0, len(away), size=(draws, len(away)))].mean(axis=1)
    boot = (a - h) / np.abs(h)
    return float(point), float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))


def evaluate(model, env, episodes, first_seed):
    returns = []
    for e in range(episodes):
        obs, _ = env.reset(seed=first_seed + e)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return returns


PAIRS = {
    "cartpole": ("metasim/cartpole", "CartPole-v1", "PPO", 100_000),
    "pendulum": ("metasim/pendulum", "Pendulum-v1", "SAC", 20_000),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pair", action="append", choices=sorted(PAIRS), help="default: every pair")
    ap.add_argument("--timesteps", action="append", default=[], metavar="PAIR=N",
                    help="training steps of a pair (default: cartpole=100000, pendulum=20000)")
    ap.add_argument("--episodes", type=int, default=30, help="evaluation episodes per policy and side")
    ap.add_argument("--first-seed", type=int, default=1_000_000, help="first evaluation reset seed")
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--tolerance", type=float, default=0.10, help="relative tolerance (default 10%%)")
    ap.add_argument("--json-out", help="write every return and the summary here (atomically)")
    a = ap.parse_args()
    if a.episodes < 2:
        ap.error("--episodes must be at least 2")
    steps = {}
    for item in a.timesteps:
        name, _, value = item.partition("=")
        if name not in PAIRS or not value.isdigit() or int(value) <= 0:
            ap.error(f"--timesteps {item!r}: expected PAIR=N with PAIR one of {sorted(PAIRS)} and N > 0")
        steps[name] = int(value)

    import gymnasium
    import stable_baselines3
    import torch
    from stable_baselines3 import PPO, SAC

    torch.set_num_threads(1)
    from metasim_client.daemon import connect, private_daemon
    client, lease = connect()
    daemon = private_daemon()
    if daemon:
        os.environ["METASIM_SOCKET"] = daemon.socket
    print(f"transfer-sb3: Stable-Baselines3 {stable_baselines3.__version__}, Gymnasium {gymnasium.__version__}, "
          f"torch {torch.__version__}; {'a private metasimd' if daemon else 'the daemon at ' + str(client.path)}",
          flush=True)
    rng = np.random.default_rng(12345)
    algos = {"PPO": PPO, "SAC": SAC}
    report = {"episodes": a.episodes, "first_seed": a.first_seed, "seed": a.seed, "tolerance": a.tolerance, "pairs": {}}
    for name in a.pair or sorted(PAIRS):
        ours, theirs, algo, default_steps = PAIRS[name]
        n = steps.get(name, default_steps)
        sides = {"metasim": ours, "gymnasium": theirs}
        envs = {side: gymnasium.make(env_id) for side, env_id in sides.items()}
        models, seconds = {}, {}
        for side, env in envs.items():
            t0 = time.monotonic()
            model = algos[algo]("MlpPolicy", env, seed=a.seed, device="cpu", verbose=0)
            model.learn(total_timesteps=n)
            seconds[side] = time.monotonic() - t0
            models[side] = model
        pair = {"algorithm": algo, "timesteps": n, "train_seconds": seconds, "policies": {}}
        for home, model in models.items():
            away = "gymnasium" if home == "metasim" else "metasim"
            r_home = evaluate(model, envs[home], a.episodes, a.first_seed)
            r_away = evaluate(model, envs[away], a.episodes, a.first_seed)
            change = relative_change(r_home, r_away, rng)
            within = -a.tolerance <= change[1] and change[2] <= a.tolerance
            pair["policies"][home] = {"home": r_home, "away": r_away, "relative_change": change, "within": within}
            mh, ma = t_interval(r_home), t_interval(r_away)
            print(f"  {name}: {algo} {n} steps trained on {sides[home]} ({seconds[home]:.0f} s): "
                  f"{mh[0]:.1f} [{mh[1]:.1f}, {mh[2]:.1f}] there, {ma[0]:.1f} [{ma[1]:.1f}, {ma[2]:.1f}] on {sides[away]}; "
                  f"change {100 * change[0]:+.1f}% [{100 * change[1]:+.1f}, {100 * change[2]:+.1f}]: "
                  f"{'within' if within else 'NOT shown within'} ±{100 * a.tolerance:.0f}%", flush=True)
        for env in envs.values():
            env.close()
        report["pairs"][name] = pair
    if a.json_out:
        folder = os.path.dirname(os.path.abspath(a.json_out))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".transfer-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(report, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, a.json_out)
    client.close()
    lease.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
