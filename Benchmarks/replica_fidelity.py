#!/usr/bin/env python3
"""Every replica world against its Gymnasium environment, in one run (issue 30).

Run it with the peers' venv python (gymnasium[box2d] and numpy; docs in Benchmarks/README.md):

    /tmp/metasim-peers/bin/python Benchmarks/replica_fidelity.py --metasimd .build/release/metasimd

It starts a private metasimd on the repository's worlds and, for each replica (the nominal task:
Gymnasium's default arguments), measures on both sides:

- returns under uniformly random actions (metasim: numpy's generator over the action space;
  Gymnasium: its own seeded action_space.sample());
- returns under Gymnasium's own scripted controllers, run unchanged on both sides:
  LunarLander's heuristic (continuous and discrete) and BipedalWalker's scripted gait
  (gymnasium.envs.box2d.lunar_lander.heuristic, bipedal_walker.BipedalWalkerHeuristics);
- outcome rates where the environment has them: the lander's crash (the last reward is -100:
  hull contact or out of bounds) and landing (+100), the walker's fall (-100) and finish, the
  flag or target reached (mountain car, acrobot);
- one step from matched states, where Gymnasium's state can be set (the classic-control ones):
  metasim runs episodes under random actions; at every step Gymnasium's state is set to
  metasim's observed state, stepped with the same action, and the next observation and the reward
  compared with metasim's;
- for pendulum, the energy of the free swing (no torque) over its 200 steps, both sides.

Each difference comes with its 95 % interval (normal approximation: Welch for means, Wald for
rates). The verdict columns apply the tolerances the world files state: the mean-return
difference, with its interval, within +-5 % of Gymnasium's return range (the spread of
Gymnasium's episode returns under the same controller in this run); rates within 2 percentage
points; pendulum's energy within 1 %.

metasim's episodes come from a batch of B instances with auto-reset, each instance contributing
the same number of episodes (so short episodes are not over-represented).
"""
import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "clients" / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from metasim_client import Client  # noqa: E402
from results_file import write_atomic  # noqa: E402

import gymnasium as gym  # noqa: E402
from gymnasium.envs.box2d.bipedal_walker import BipedalWalkerHeuristics  # noqa: E402
from gymnasium.envs.box2d.lunar_lander import heuristic as lander_heuristic  # noqa: E402


# --- Controllers ---------------------------------------------------------------------------------
class RandomController:
    """Uniform over the action space: one numpy generator for metasim's batch, Gymnasium's own
    seeded action_space for Gymnasium."""
    name = "random"

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def metasim(self, session):
        n = session.count
        if session.discrete_actions:
            return lambda obs: self.rng.integers(0, session.discrete_actions, size=n).astype(np.int32)
        lo, hi = session.action_low, session.action_high
        return lambda obs: self.rng.uniform(lo, hi, size=(n, len(lo))).astype(np.float32)

    def reset_instance(self, i):
        pass

    def gymnasium(self, env, episode):
        env.action_space.seed(int(self.rng.integers(2 ** 31)))
        return lambda obs: env.action_space.sample()


class LanderHeuristic:
    """Gymnasium's LunarLander heuristic, the function itself, on either side."""
    name = "heuristic"

    def __init__(self, continuous):
        class Env:  # what heuristic() reads: env.unwrapped.continuous
            pass
        self.fake = Env()
        self.fake.unwrapped = Env()
        self.fake.unwrapped.continuous = continuous
        self.continuous = continuous

    def metasim(self, session):
        def act(obs):
            out = [lander_heuristic(self.fake, row) for row in obs.astype(np.float64)]
            return np.asarray(out, np.float32) if self.continuous else np.asarray(out, np.int32)
        return act

    def reset_instance(self, i):
        pass

    def gymnasium(self, env, episode):
        return lambda obs: lander_heuristic(env, obs)


class WalkerHeuristic:
    """Gymnasium's BipedalWalkerHeuristics, one per episode, with its script's first action
    (zeros) before the first observation is used."""
    name = "scripted gait"

    def metasim(self, session):
        self.walkers = [None] * session.count

        def act(obs):
            out = np.zeros((session.count, 4), np.float32)
            for i, row in enumerate(obs.astype(np.float64)):
                if self.walkers[i] is None:
                    self.walkers[i] = BipedalWalkerHeuristics()   # first step: zeros, as the script
                else:
                    out[i] = self.walkers[i].step_heuristic(row)
            return out
        return act

    def reset_instance(self, i):
        self.walkers[i] = None

    def gymnasium(self, env, episode):
        state = {"h": None}

        def act(obs):
            if state["h"] is None:
                state["h"] = BipedalWalkerHeuristics()
                return np.zeros(4, np.float32)
            return np.asarray(state["h"].step_heuristic(np.asarray(obs, np.float64)), np.float32)
        return act


# --- Outcomes ------------------------------------------------------------------------------------
def lander_outcomes(last_reward, terminated, truncated):
    return {"crash": terminated and last_reward == -100.0, "landed": terminated and last_reward == 100.0}


def walker_outcomes(last_reward, terminated, truncated):
    return {"fall": terminated and last_reward == -100.0, "finish": terminated and last_reward != -100.0}


def reached(last_reward, terminated, truncated):
    return {"reached": bool(terminated)}


# --- Matched states (classic control) ---------------------------------------------------------
def state_cartpole(obs):
    return np.asarray(obs, np.float64)


def state_pendulum(obs):
    return np.array([math.atan2(float(obs[1]), float(obs[0])), float(obs[2])])


def state_acrobot(obs):
    return np.array([math.atan2(float(obs[1]), float(obs[0])), math.atan2(float(obs[3]), float(obs[2])),
                     float(obs[4]), float(obs[5])])


def state_mountain_car(obs):
    return np.asarray(obs, np.float64)


REPLICAS = [
    # world, Gymnasium id, make() kwargs, controllers (factories), outcomes, state setter, obs entry names
    dict(world="cartpole", gym="CartPole-v1", kwargs={}, controllers=["random"], outcomes=None,
         state=state_cartpole, entries=["x", "x_dot", "theta", "theta_dot"]),
    dict(world="pendulum", gym="Pendulum-v1", kwargs={}, controllers=["random"], outcomes=None,
         state=state_pendulum, entries=["cos", "sin", "theta_dot"], skip_state=lambda o: abs(o[2]) >= 8),
    dict(world="acrobot", gym="Acrobot-v1", kwargs={}, controllers=["random"], outcomes=reached,
         state=state_acrobot, entries=["cos1", "sin1", "cos2", "sin2", "dot1", "dot2"]),
    dict(world="mountain-car", gym="MountainCarContinuous-v0", kwargs={}, controllers=["random"], outcomes=reached,
         state=state_mountain_car, entries=["position", "velocity"]),
    dict(world="mountain-car-discrete", gym="MountainCar-v0", kwargs={}, controllers=["random"], outcomes=reached,
         state=state_mountain_car, entries=["position", "velocity"]),
    dict(world="lunar-lander", gym="LunarLander-v3", kwargs={"continuous": True},
         controllers=["random", "lander-continuous"], outcomes=lander_outcomes),
    dict(world="lunar-lander-discrete", gym="LunarLander-v3", kwargs={"continuous": False},
         controllers=["random", "lander-discrete"], outcomes=lander_outcomes),
    dict(world="bipedal-walker", gym="BipedalWalker-v3", kwargs={}, controllers=["random", "walker"],
         outcomes=walker_outcomes),
]


def make_controller(kind, seed):
    if kind == "random":
        return RandomController(seed)
    if kind == "lander-continuous":
        return LanderHeuristic(True)
    if kind == "lander-discrete":
        return LanderHeuristic(False)
    if kind == "walker":
        return WalkerHeuristic()
    raise ValueError(kind)


# --- Running episodes ----------------------------------------------------------------------------
def metasim_episodes(client, world, controller, episodes, batch, seed, outcomes):
    per = max(1, math.ceil(episodes / batch))
    s = client.open(world, batch=batch, seed=seed, auto_reset=True)
    act = controller.metasim(s)
    obs = s.observations
    done = np.zeros(batch, np.int64)
    rows = []
    while (done < per).any():
        r = s.step(act(obs))
        for k, i in enumerate(r.ended_index):
            i = int(i)
            if done[i] < per:
                row = {"return": float(r.ended_return[k]), "length": int(r.ended_length[k])}
                if outcomes:
                    row.update(outcomes(float(r.rewards[i]), bool(r.terminated[i]), bool(r.truncated[i])))
                rows.append(row)
            done[i] += 1
            controller.reset_instance(i)
        obs = r.observations
    s.close()
    return rows


def gymnasium_episodes(gym_id, kwargs, controller, episodes, seed, outcomes):
    env = gym.make(gym_id, disable_env_checker=True, **kwargs)
    rows = []
    for e in range(episodes):
        obs, _ = env.reset(seed=seed + e)
        act = controller.gymnasium(env, e)
        total, length = 0.0, 0
        while True:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            length += 1
            if terminated or truncated:
                break
        row = {"return": total, "length": length}
        if outcomes:
            row.update(outcomes(float(reward), bool(terminated), bool(truncated)))
        rows.append(row)
    env.close()
    return rows


# --- Statistics ----------------------------------------------------------------------------------
def mean_diff(a, b):
    """Mean of a minus mean of b, with the half-width of its 95 % interval (Welch)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = a.mean() - b.mean()
    hw = 1.96 * math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)) if min(len(a), len(b)) > 1 else float("nan")
    return d, hw


def rate_diff(a, b):
    pa, pb = float(np.mean(a)), float(np.mean(b))
    hw = 1.96 * math.sqrt(pa * (1 - pa) / len(a) + pb * (1 - pb) / len(b))
    return pa - pb, hw


def compare_returns(ms, gy, outcomes):
    rm = [r["return"] for r in ms]
    rg = [r["return"] for r in gy]
    d, hw = mean_diff(rm, rg)
    spread = max(rg) - min(rg)
    tol = 0.05 * spread
    out = {"metasim_mean": float(np.mean(rm)), "gymnasium_mean": float(np.mean(rg)), "diff": d, "ci95": hw,
           "gymnasium_range": [min(rg), max(rg)], "tolerance": tol,
           "within": bool(abs(d) + hw <= tol) if spread > 0 else bool(abs(d) + hw == 0),
           "metasim_length": float(np.mean([r["length"] for r in ms])),
           "gymnasium_length": float(np.mean([r["length"] for r in gy])), "episodes": [len(ms), len(gy)]}
    rates = {}
    if outcomes:
        for key in ms[0]:
            if key in ("return", "length"):
                continue
            a = [bool(r[key]) for r in ms]
            b = [bool(r[key]) for r in gy]
            rd, rhw = rate_diff(a, b)
            rates[key] = {"metasim": float(np.mean(a)), "gymnasium": float(np.mean(b)), "diff": rd, "ci95": rhw,
                          "within": bool(abs(rd) <= 0.02)}
    out["rates"] = rates
    return out


# --- One step from matched states ------------------------------------------------------------
def one_step(client, rep, episodes, batch, seed, max_transitions):
    """metasim transitions under random actions (auto-reset, until `episodes` episodes ended or
    `max_transitions`); Gymnasium stepped once from each observed state."""
    s = client.open(rep["world"], batch=batch, seed=seed, auto_reset=True)
    rng = np.random.default_rng(seed)
    env = gym.make(rep["gym"], disable_env_checker=True, **rep["kwargs"]).unwrapped
    env.reset(seed=seed)
    diffs, rdiffs, skipped, ended = [], [], 0, 0
    obs = s.observations
    while ended < episodes and len(diffs) < max_transitions:
        if s.discrete_actions:
            a = rng.integers(0, s.discrete_actions, size=batch).astype(np.int32)
        else:
            a = rng.uniform(s.action_low, s.action_high, size=(batch, s.action_size)).astype(np.float32)
        r = s.step(a)
        final = {int(i): k for k, i in enumerate(r.ended_index)}
        ended += len(final)
        for i in range(batch):
            o = obs[i]
            if rep.get("skip_state") and rep["skip_state"](o):
                skipped += 1
                continue
            env.state = rep["state"](o)
            if hasattr(env, "steps_beyond_terminated"):
                env.steps_beyond_terminated = None
            ga = int(a[i]) if s.discrete_actions else np.asarray(a[i], np.float32)
            gobs, greward, _, _, _ = env.step(ga)
            nxt = r.final_observations[final[i]] if i in final else r.observations[i]
            diffs.append(np.asarray(nxt, np.float64) - np.asarray(gobs, np.float64))
            rdiffs.append(float(r.rewards[i]) - float(greward))
        obs = r.observations
    s.close()
    env.close()
    d = np.asarray(diffs)
    out = {"transitions": len(d), "skipped": skipped, "entries": {}}
    for j, name in enumerate(rep["entries"]):
        col = d[:, j]
        out["entries"][name] = {"mean_abs": float(np.abs(col).mean()), "max_abs": float(np.abs(col).max()),
                                "mean": float(col.mean()), "ci95": float(1.96 * col.std(ddof=1) / math.sqrt(len(col)))}
    rd = np.asarray(rdiffs)
    out["reward"] = {"mean_abs": float(np.abs(rd).mean()), "max_abs": float(np.abs(rd).max()),
                     "mean": float(rd.mean()), "ci95": float(1.96 * rd.std(ddof=1) / math.sqrt(len(rd)))}
    return out


# --- Pendulum energy ---------------------------------------------------------------------------
def pendulum_energy(obs):
    """Nominal rod (m = 1, l = 1, g = 10): 1/2 (m l^2 / 3) w^2 + m g (l/2) cos(theta), above the
    rod hanging at rest (-m g l / 2): the energy the free swing should keep."""
    c, w = np.asarray(obs[..., 0], np.float64), np.asarray(obs[..., 2], np.float64)
    return w * w / 6.0 + 5.0 * c + 5.0


MIN_ENERGY = 1.0   # J: starts with less (the rod nearly at rest, hanging) have no swing to lose


def energy_drift(client, episodes, batch, seed):
    """(E_200 - E_0) / E_0 of the free swing, and the largest |E_t - E_0| / E_0 within it, over
    starts whose E_0 is at least MIN_ENERGY."""
    s = client.open("pendulum", batch=batch, seed=seed, auto_reset=False)
    runs = max(1, episodes // batch)
    ms = []
    for k in range(runs):
        obs = s.reset(seed=seed + k)
        e0 = pendulum_energy(obs)
        worst = np.zeros(batch)
        for _ in range(200):
            r = s.step(np.zeros((batch, 1), np.float32))
            worst = np.maximum(worst, np.abs(pendulum_energy(r.observations) - e0) / e0)
        ms += [(c, w) for c, w, e in zip((pendulum_energy(r.observations) - e0) / e0, worst, e0) if e >= MIN_ENERGY]
    s.close()
    env = gym.make("Pendulum-v1", disable_env_checker=True).unwrapped
    gy = []
    for e in range(runs * batch):
        obs, _ = env.reset(seed=seed + e)
        e0 = float(pendulum_energy(obs))
        if e0 < MIN_ENERGY:
            continue
        worst = 0.0
        for _ in range(200):
            obs, *_ = env.step(np.zeros(1, np.float32))
            worst = max(worst, abs(float(pendulum_energy(obs)) - e0) / e0)
        gy.append(((float(pendulum_energy(obs)) - e0) / e0, worst))
    env.close()

    def summary(rows):
        end = np.asarray([r[0] for r in rows])
        worst = np.asarray([r[1] for r in rows])
        return {"end_change_mean": float(end.mean()), "end_change_ci95": float(1.96 * end.std(ddof=1) / math.sqrt(len(end))),
                "end_change_max_abs": float(np.abs(end).max()), "worst_mean": float(worst.mean()),
                "worst_max": float(worst.max()), "episodes": len(rows)}
    m, g = summary(ms), summary(gy)
    m["within"] = bool(abs(m["end_change_mean"]) + m["end_change_ci95"] <= 0.01)
    return {"metasim": m, "gymnasium": g}


# --- The daemon ----------------------------------------------------------------------------------
class Daemon:
    def __init__(self, binary, worlds):
        self.folder = tempfile.mkdtemp(prefix="replica-fidelity-")
        self.socket = os.path.join(self.folder, "metasim.sock")
        self.process = subprocess.Popen([str(binary), "--socket", self.socket, "--worlds", str(worlds),
                                         "--log-level", "warning", "--idle-timeout", "0"],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                Client(self.socket).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"replica_fidelity: error: {binary} did not start")
                time.sleep(0.05)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        try:
            os.unlink(self.socket)
        except OSError:
            pass
        os.rmdir(self.folder) if os.path.isdir(self.folder) and not os.listdir(self.folder) else None


def find_metasimd(explicit):
    if explicit:
        return Path(explicit)
    for c in (REPO / ".build/release/metasimd", REPO / ".build-bench/release/metasimd"):
        if c.exists():
            return c
    raise SystemExit("replica_fidelity: error: no metasimd binary found (pass --metasimd PATH)")


def fmt_diff(d, hw, digits=1):
    return f"{d:+.{digits}f} ± {hw:.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--metasimd", help="metasimd binary (default: .build/release/metasimd)")
    ap.add_argument("--worlds", default=str(REPO / "worlds"), help="worlds folder (default: %(default)s)")
    ap.add_argument("--episodes", type=int, default=1000, help="episodes per side and controller (default: %(default)s)")
    ap.add_argument("--episodes-for", default="", metavar="WORLD=N,...",
                    help="other episode counts for some worlds (long episodes: bipedal-walker=200,acrobot=300)")
    ap.add_argument("--batch", type=int, default=50, help="metasim instances stepped together (default: %(default)s)")
    ap.add_argument("--one-step-episodes", type=int, default=100, help="metasim episodes of matched-state steps (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", help="comma-separated worlds (default: every replica)")
    ap.add_argument("--json-out", metavar="FILE", help="write every figure as JSON here")
    a = ap.parse_args()

    only = set(a.only.split(",")) if a.only else None
    counts = {k: int(v) for k, v in (item.split("=") for item in a.episodes_for.split(",") if item)}
    daemon = Daemon(find_metasimd(a.metasimd), a.worlds)
    results = {"episodes": a.episodes, "episodes_for": counts, "batch": a.batch, "seed": a.seed, "gymnasium": gym.__version__, "replicas": {}}
    try:
        client = Client(daemon.socket)
        for rep in REPLICAS:
            if only and rep["world"] not in only:
                continue
            episodes = counts.get(rep["world"], a.episodes)
            res = {"gymnasium_id": rep["gym"], "kwargs": rep["kwargs"], "controllers": {}}
            for kind in rep["controllers"]:
                t0 = time.monotonic()
                ms = metasim_episodes(client, rep["world"], make_controller(kind, a.seed), episodes, a.batch,
                                      a.seed, rep["outcomes"])
                t1 = time.monotonic()
                gy = gymnasium_episodes(rep["gym"], rep["kwargs"], make_controller(kind, a.seed + 1), episodes,
                                        a.seed, rep["outcomes"])
                t2 = time.monotonic()
                c = compare_returns(ms, gy, rep["outcomes"])
                c["seconds"] = {"metasim": t1 - t0, "gymnasium": t2 - t1}
                res["controllers"][kind] = c
                print(f"  {rep['world']:22s} {kind:18s} done ({t1 - t0:.0f} s + {t2 - t1:.0f} s)", file=sys.stderr, flush=True)
            if "state" in rep:
                res["one_step"] = one_step(client, rep, a.one_step_episodes, min(a.batch, a.one_step_episodes),
                                           a.seed + 7, 50_000)
            if rep["world"] == "pendulum":
                res["energy"] = energy_drift(client, a.one_step_episodes, min(a.batch, a.one_step_episodes), a.seed + 11)
            results["replicas"][rep["world"]] = res
        client.close()
    finally:
        daemon.stop()

    # --- Report ---------------------------------------------------------------------------------
    print(f"metasim replicas vs Gymnasium {gym.__version__}: nominal tasks, {a.episodes} episodes per side"
          + (f" ({', '.join(f'{k} {v}' for k, v in counts.items())})" if counts else "")
          + f", metasim batch {a.batch}, seed {a.seed}")
    print("difference = metasim - Gymnasium, ± the half-width of its 95 % interval; tolerance: 5 % of "
          "Gymnasium's return range; rates within 2 points\n")
    head = ["world", "controller", "return metasim", "return Gymnasium", "difference", "tolerance", "ok",
            "rates metasim / Gymnasium (difference)"]
    rows = []
    for w, res in results["replicas"].items():
        for kind, c in res["controllers"].items():
            rates = "; ".join(f"{k} {v['metasim'] * 100:.1f}% / {v['gymnasium'] * 100:.1f}% "
                              f"({v['diff'] * 100:+.1f} ± {v['ci95'] * 100:.1f}){'' if v['within'] else ' OUT'}"
                              for k, v in c["rates"].items())
            rows.append([w, kind, f"{c['metasim_mean']:.2f}", f"{c['gymnasium_mean']:.2f}",
                         fmt_diff(c["diff"], c["ci95"], 2), f"±{c['tolerance']:.2f}", "yes" if c["within"] else "NO",
                         rates or "-"])
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    for r in [head, ["-" * w for w in widths]] + rows:
        print("  ".join(x.ljust(wd) for x, wd in zip(r, widths)))

    print("\none step from matched states (metasim's observed state set into Gymnasium, the same action):"
          " mean |difference| / max |difference| per entry and for the reward")
    for w, res in results["replicas"].items():
        if "one_step" not in res:
            continue
        o = res["one_step"]
        cells = [f"{k} {v['mean_abs']:.1e}/{v['max_abs']:.1e}" for k, v in o["entries"].items()]
        cells.append(f"reward {o['reward']['mean_abs']:.1e}/{o['reward']['max_abs']:.1e}")
        print(f"  {w:22s} ({o['transitions']} steps{', ' + str(o['skipped']) + ' skipped' if o['skipped'] else ''}): "
              + ", ".join(cells))
    if "pendulum" in results["replicas"] and "energy" in results["replicas"]["pendulum"]:
        e = results["replicas"]["pendulum"]["energy"]
        for side in ("metasim", "gymnasium"):
            v = e[side]
            print(f"\npendulum free swing, {side}: energy change over 200 steps {v['end_change_mean'] * 100:+.3f} % "
                  f"± {v['end_change_ci95'] * 100:.3f} (largest {v['end_change_max_abs'] * 100:.3f} %); largest "
                  f"excursion within an episode {v['worst_mean'] * 100:.3f} % on average, {v['worst_max'] * 100:.3f} % at most "
                  f"({v['episodes']} episodes)", end="")
        m, g = e["metasim"], e["gymnasium"]
        d = m["end_change_mean"] - g["end_change_mean"]
        hw = math.hypot(m["end_change_ci95"], g["end_change_ci95"])
        print(f"\n  within 1 %: {'yes' if m['within'] else 'NO'}; metasim's change minus Gymnasium's: "
              f"{d * 100:+.3f} ± {hw * 100:.3f} points")
    if a.json_out:
        write_atomic(a.json_out, results)
        print(f"\nfigures: {a.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
