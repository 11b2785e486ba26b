"""The Gymnasium adapters against a real metasimd: every catalog world through check_env, the
registered ids, and bit-identical agreement with raw protocol sessions."""

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import metasim_client
from metasim_client import Client, MetaSimEnv, MetaSimError, MetaSimVectorEnv
from metasim_client.gym_env import CATALOG_WORLDS


def test_registered_catalog_is_the_daemons(daemon):
    with Client(daemon) as c:
        served = sorted(w["name"] for w in c.list_worlds())
    assert served == sorted(CATALOG_WORLDS)
    for w in served:
        spec = gymnasium.spec(f"metasim/{w}")
        assert spec.entry_point == "metasim_client.gym_env:MetaSimEnv"
        assert spec.vector_entry_point == "metasim_client.gym_env:MetaSimVectorEnv"
        assert isinstance(gymnasium.make(f"metasim/{w}", socket=daemon, disable_env_checker=True).unwrapped, MetaSimEnv)


# The one warning a replica inherits from its Gymnasium environment: Pendulum-v1 acts in
# Box(-2, 2), which check_env flags on Gymnasium's own Pendulum-v1 too.
INHERITED_WARNINGS = {"pendulum": "For Box action spaces, we recommend using a symmetric and normalized space"}


@pytest.mark.parametrize("world", CATALOG_WORLDS)
def test_check_env_every_catalog_world(daemon, world):
    env = gymnasium.make(f"metasim/{world}", socket=daemon)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    inherited = INHERITED_WARNINGS.get(world)
    assert [str(w.message) for w in caught if not (inherited and inherited in str(w.message))] == []  # not even a warning
    if inherited:
        assert any(inherited in str(w.message) for w in caught)  # the exemption is still needed
    # A short random episode through the wrappers gymnasium.make adds (passive checker, order).
    env.action_space.seed(3)
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    assert "params" in info["task"]
    for _ in range(50):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs) and isinstance(reward, float)
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()


@pytest.mark.parametrize("world", ["lunar-lander", "cartpole", "bipedal-walker"])
def test_env_equals_raw_session(daemon, world):
    env = MetaSimEnv(world, socket=daemon, task_seed=11)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(120)]
    obs, _ = env.reset(seed=42)
    got = [obs]
    rewards = []
    for a in actions:
        obs, r, term, trunc, _ = env.step(a)
        got.append(obs)
        rewards.append(r)
        if term or trunc:
            break
    env.close()
    with Client(daemon) as c:
        s = c.open(world, task_seed=11, auto_reset=False)
        want = [s.reset(seeds=[42])[0].copy()]
        want_rewards = []
        for a in actions[:len(rewards)]:
            a = np.asarray(a, np.int32 if s.discrete_actions else np.float32).reshape(1, -1)
            r = s.step(a)
            want.append(r.observations[0].copy())
            want_rewards.append(float(r.rewards[0]))
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert rewards == want_rewards


def test_reset_options_switch_task(daemon):
    env = MetaSimEnv("point-nav", socket=daemon)
    _, nominal = env.reset(seed=0)
    _, drawn = env.reset(seed=0, options={"task_seed": 5})
    assert drawn["task"]["seed"] == 5 and drawn["task"]["params"] != nominal["task"]["params"]
    _, fixed = env.reset(seed=0, options={"params": {"goal_x": 0.25}})
    assert fixed["task"]["params"]["goal_x"] == 0.25
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"gravity": 1})
    with pytest.raises(MetaSimError):
        env.reset(options={"params": {"no_such_parameter": 1.0}})
    env.close()


def test_make_vec_same_step_autoreset(daemon):
    envs = gymnasium.make_vec("metasim/cartpole", num_envs=4, socket=daemon, threads=2)
    assert isinstance(envs.unwrapped, MetaSimVectorEnv)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert envs.observation_space.shape == (4, 4) and envs.single_action_space == gymnasium.spaces.Discrete(2)
    obs, _ = envs.reset(seed=9)
    with Client(daemon) as c:
        s = c.open("cartpole", batch=4, seed=9)
        assert np.array_equal(obs, s.observations)
        ended = 0
        rng = np.random.default_rng(0)
        for _ in range(300):
            a = rng.integers(0, 2, size=4)
            obs, rew, term, trunc, info = envs.step(a)
            r = s.step(a.astype(np.int32))
            assert np.array_equal(obs, r.observations) and np.array_equal(rew, r.rewards)
            assert np.array_equal(term, r.terminated) and np.array_equal(trunc, r.truncated)
            done = term | trunc
            if done.any():
                assert np.array_equal(info["_final_obs"], done)
                for k, i in enumerate(r.ended_index):
                    assert np.array_equal(info["final_obs"][i], r.final_observations[k])
                    assert info["final_info"]["episode"]["r"][i] == r.ended_return[k]
                    assert info["final_info"]["episode"]["l"][i] == r.ended_length[k]
                ended += int(done.sum())
            else:
                assert "final_obs" not in info
    assert ended > 4
    envs.close()


def test_vector_env_continuous_actions_bounds(daemon):
    envs = MetaSimVectorEnv("lunar-lander", num_envs=3, socket=daemon)
    assert envs.action_space.shape == (3, 2)
    assert np.array_equal(envs.single_action_space.low, [-1, -1])
    envs.action_space.seed(1)
    obs, _, _, _, _ = envs.step(envs.action_space.sample())
    assert envs.observation_space.contains(obs.astype(np.float32))
    with pytest.raises(MetaSimError):
        envs.step(np.full((3, 2), np.nan, np.float32))
    envs.close()


def test_register_worlds_from_daemon(daemon):
    ids = metasim_client.register_worlds(daemon)
    assert sorted(ids) == sorted(f"metasim/{w}" for w in CATALOG_WORLDS)


def test_client_imports_without_gymnasium():
    """The client needs numpy only: without gymnasium it imports, and the adapters explain."""
    import subprocess
    import sys
    code = ("import sys; sys.modules['gymnasium'] = None\n"
            "import metasim_client\n"
            "assert metasim_client.Client is not None\n"
            "try:\n    metasim_client.MetaSimEnv\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "needs gymnasium>=1.1" in out
