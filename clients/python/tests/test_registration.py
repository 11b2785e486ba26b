"""Registration that survives processes: the worlds are Gymnasium ids in a fresh interpreter and in
spawn/forkserver children without importing metasim_client, with their specs, and no daemon needed."""

import json
import os
import subprocess
import sys

import gymnasium
import numpy as np
import pytest

from metasim_client import Client
from metasim_client.gym_env import CATALOG_WORLDS, MetaSimEnv, MetaSimVectorEnv

TESTS = os.path.dirname(os.path.abspath(__file__))


def fresh_python(code: str, **env: str) -> str:
    """Runs ``code`` in a new interpreter of this environment; returns its stdout."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_fresh_interpreter_knows_the_specs_without_import_or_daemon():
    code = ("import json, sys, gymnasium\n"
            "specs = {w: gymnasium.spec('metasim/' + w) for w in ('acrobot', 'pendulum', 'lunar-lander')}\n"
            "print(json.dumps({'imported': 'metasim_client' in sys.modules,\n"
            "  'specs': {w: [s.entry_point, s.vector_entry_point, s.max_episode_steps, s.reward_threshold,\n"
            "                s.nondeterministic, s.order_enforce, s.disable_env_checker] for w, s in specs.items()}}))\n")
    got = json.loads(fresh_python(code, METASIM_SOCKET="/nonexistent/metasim.sock"))
    assert got["imported"] is False
    entry = ["metasim_client.gym_env:MetaSimEnv", "metasim_client.gym_env:MetaSimVectorEnv"]
    assert got["specs"]["acrobot"] == entry + [500, -100.0, False, True, False]
    assert got["specs"]["pendulum"] == entry + [200, None, False, True, False]
    assert got["specs"]["lunar-lander"] == entry + [1000, None, False, True, False]


def test_fresh_interpreter_makes_an_env(daemon):
    code = ("import sys, gymnasium\n"
            f"env = gymnasium.make('metasim/acrobot', socket={daemon!r})\n"
            "assert type(env.unwrapped).__name__ == 'MetaSimEnv', env\n"
            "obs, _ = env.reset(seed=1)\n"
            "print(env.spec.max_episode_steps, env.spec.reward_threshold, obs.shape)\n"
            "env.close()\n")
    assert fresh_python(code).split() == ["500", "-100.0", "(6,)"]


def reference_episode(socket: str):
    with Client(socket) as c:
        s = c.open("acrobot", auto_reset=False)
        observations, rewards = [s.reset(seeds=[1])[0].tolist()], []
        for t in range(20):
            r = s.step(np.array([t % 2], np.int32))
            observations.append(r.observations[0].tolist())
            rewards.append(float(r.rewards[0]))
            if r.terminated[0] or r.truncated[0]:
                break
    return observations, rewards


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_multiprocessing_child_makes_an_env(daemon, method):
    """A child started the way SubprocVecEnv starts one, from a parent that never imports
    metasim_client either (a script or `python -c`), gets the same episode as a raw session."""
    code = ("import json, multiprocessing, sys\n"
            f"sys.path.insert(0, {TESTS!r})\n"
            "import registration_child\n"
            "if __name__ == '__main__':\n"
            f"    with multiprocessing.get_context({method!r}).Pool(1) as pool:\n"
            f"        result = pool.apply(registration_child.episode, ({daemon!r},))\n"
            "    result['parent_imported'] = 'metasim_client' in sys.modules\n"
            "    print(json.dumps(result))\n")
    got = json.loads(fresh_python(code))
    assert got["imported_before"] is False and got["parent_imported"] is False
    assert got["max_episode_steps"] == 500 and got["reward_threshold"] == -100.0
    observations, rewards = reference_episode(daemon)
    assert np.array_equal(np.array(got["observations"], np.float32), np.array(observations, np.float32))
    assert got["rewards"] == rewards


def test_specs_are_the_daemons(daemon):
    """The shipped table (names, horizons, thresholds) is the catalog's, and the specs carry it."""
    with Client(daemon) as c:
        worlds = {w["name"]: w for w in c.list_worlds()}
    assert sorted(worlds) == sorted(CATALOG_WORLDS)
    for name, w in worlds.items():
        spec = gymnasium.spec(f"metasim/{name}")
        assert spec.max_episode_steps == (w["horizon"] or None), name
        assert spec.reward_threshold == w.get("reward_threshold"), name
    assert worlds["acrobot"]["reward_threshold"] == -100 and "reward_threshold" not in worlds["pendulum"]


def test_made_env_spec_and_time_limit(daemon):
    env = gymnasium.make("metasim/pendulum", socket=daemon)
    assert env.spec.max_episode_steps == 200 and env.spec.reward_threshold is None
    env.reset(seed=0)
    steps, truncated = 0, False
    while not truncated:
        _, _, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
        steps += 1
        assert not terminated
    assert steps == 200
    env.close()
    envs = gymnasium.make_vec("metasim/cartpole", num_envs=2, socket=daemon)
    assert isinstance(envs.unwrapped, MetaSimVectorEnv)
    assert envs.spec.max_episode_steps == 500 and envs.unwrapped.session.info["horizon"] == 500
    envs.close()
    longer = gymnasium.make_vec("metasim/cartpole", num_envs=2, socket=daemon, max_episode_steps=700)
    assert longer.unwrapped.session.info["horizon"] == 700
    longer.close()


def test_render_mode_none_works_and_unknown_lists_the_modes(daemon):
    env = gymnasium.make("metasim/cartpole", socket=daemon, render_mode=None)
    assert env.render_mode is None and env.metadata["render_modes"] == ["rgb_array"]
    env.close()
    for mode in ("human", "ansi", "bogus", "rgb_array_list"):
        with pytest.raises(ValueError, match=r"render_mode '%s' is not one of this environment's render modes: \['rgb_array'\]" % mode):
            MetaSimEnv("cartpole", socket=daemon, render_mode=mode)
        with pytest.raises(ValueError, match=r"render modes: \['rgb_array'\]"):
            MetaSimVectorEnv("cartpole", num_envs=2, socket=daemon, render_mode=mode)
    with pytest.raises(ValueError, match="render modes"), pytest.warns(UserWarning, match="not in the possible render_modes"):
        gymnasium.make("metasim/cartpole", socket=daemon, render_mode="bogus")
    # SB3's make_vec_env and RecordVideo pass render_mode="rgb_array": accepted.
    env = gymnasium.make("metasim/cartpole", socket=daemon, render_mode="rgb_array")
    assert env.render_mode == "rgb_array"
    env.close()
