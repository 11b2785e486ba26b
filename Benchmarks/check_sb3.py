#!/usr/bin/env python3
"""`make check-sb3`: Stable-Baselines3's documented calls on metasim worlds, as a user makes them.

Run by `make check-sb3` in its own venv (SB3, torch, the client installed as users install it):
no import of metasim_client is needed for the environments, whose ids the client's .pth file
registers in every interpreter, SubprocVecEnv's children included. The daemon is found the way
the client finds one: `socket=`, $METASIM_SOCKET, the systemd socket, else a private metasimd
from PATH (the Makefile puts the build's first). The check takes that daemon once and shares it
with the child processes through $METASIM_SOCKET.

Checks, each reported ok or FAILED with what failed:
1. `check_env` (SB3's checker) on cartpole, pendulum and lunar-lander made with `gymnasium.make`;
2. `make_vec_env("metasim/cartpole", n_envs=4)` with DummyVecEnv, as SB3 documents it (it asks
   for `render_mode="rgb_array"`), then with `env_kwargs={"render_mode": None}` if that fails;
3. the same with SubprocVecEnv (its default start method), 2 processes;
4. PPO (SB3's defaults) on cartpole for --timesteps steps, then 10 deterministic episodes: ok
   when their mean return reaches --min-return (uniformly random actions score about 22; an
   untrained network's deterministic policy, a fixed linear-ish rule, anywhere from 9 to 500).
Exit status 0 when every check is ok, else 1.
"""
import argparse
import os
import sys
import time
import traceback

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timesteps", type=int, default=30_000, help="PPO training steps (default: %(default)s)")
    ap.add_argument("--min-return", type=float, default=150, help="PPO's mean return to pass (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", action="store_true", help="print the traceback of a failed check")
    a = ap.parse_args()

    import gymnasium
    import stable_baselines3
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_checker import check_env
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    torch.set_num_threads(1)
    from metasim_client.daemon import connect, private_daemon
    client, lease = connect()
    daemon = private_daemon()
    where = f"a private metasimd ({daemon.socket})" if daemon else f"the daemon at {client.path}"
    if daemon:
        os.environ["METASIM_SOCKET"] = daemon.socket
    print(f"check-sb3: Stable-Baselines3 {stable_baselines3.__version__}, Gymnasium {gymnasium.__version__}, "
          f"torch {torch.__version__}; {where}")
    results = []

    def check(name, fn):
        t0 = time.monotonic()
        try:
            detail = fn()
            results.append((name, True, detail))
        except Exception as error:  # a check's failure is its result
            detail = f"{type(error).__name__}: {error}".strip().splitlines()[0]
            results.append((name, False, detail))
            if a.verbose:
                traceback.print_exc(file=sys.stderr)
        ok, detail = results[-1][1], results[-1][2]
        print(f"  {'ok    ' if ok else 'FAILED'} {name} ({time.monotonic() - t0:.1f} s): {detail}", flush=True)
        return ok

    def checked(world):
        def run():
            env = gymnasium.make(f"metasim/{world}")
            try:
                check_env(env.unwrapped, warn=True)
            finally:
                env.close()
            return "no error"
        return run

    for world in ("cartpole", "pendulum", "lunar-lander"):
        check(f"check_env metasim/{world}", checked(world))

    def vec(cls, n, env_kwargs):
        def run():
            envs = make_vec_env("metasim/cartpole", n_envs=n, seed=a.seed, vec_env_cls=cls, env_kwargs=env_kwargs)
            try:
                obs = envs.reset()
                total, ended = 0.0, 0
                for _ in range(200):
                    obs, rewards, dones, infos = envs.step(np.array([envs.action_space.sample() for _ in range(n)]))
                    total += float(rewards.sum())
                    ended += int(dones.sum())
                return f"{n} envs, obs {obs.shape}, 200 steps, {ended} episodes ended"
            finally:
                envs.close()
        return run

    for cls, n in ((DummyVecEnv, 4), (SubprocVecEnv, 2)):
        name = f"make_vec_env metasim/cartpole {cls.__name__}"
        if not check(name + " (SB3's defaults)", vec(cls, n, None)):
            check(name + " (env_kwargs render_mode=None)", vec(cls, n, {"render_mode": None}))

    def ppo():
        kwargs = {}
        try:
            envs = make_vec_env("metasim/cartpole", n_envs=4, seed=a.seed, vec_env_cls=DummyVecEnv)
        except ValueError:
            kwargs = {"render_mode": None}
            envs = make_vec_env("metasim/cartpole", n_envs=4, seed=a.seed, vec_env_cls=DummyVecEnv, env_kwargs=kwargs)
        evaluation = gymnasium.make("metasim/cartpole", **kwargs)
        try:
            model = PPO("MlpPolicy", envs, seed=a.seed, device="cpu", verbose=0)
            before, _ = evaluate_policy(model, evaluation, n_eval_episodes=10, deterministic=True)
            t0 = time.monotonic()
            model.learn(total_timesteps=a.timesteps)
            seconds = time.monotonic() - t0
            after, after_std = evaluate_policy(model, evaluation, n_eval_episodes=10, deterministic=True)
        finally:
            envs.close()
            evaluation.close()
        detail = (f"{a.timesteps} steps in {seconds:.0f} s; mean return over 10 deterministic episodes "
                  f"{before:.1f} untrained, {after:.1f} ± {after_std:.1f} trained (pass: {a.min_return:g}; "
                  f"CartPole-v1 solved: 475)")
        if not after >= a.min_return:
            raise AssertionError("the trained policy falls short: " + detail)
        return detail

    check("PPO metasim/cartpole", ppo)
    client.close()
    lease.release()
    failed = [name for name, ok, _ in results if not ok]
    print(f"check-sb3: {len(results) - len(failed)} ok, {len(failed)} failed"
          + (f" ({'; '.join(failed)})" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
