"""Runs in a fresh process (test_registration.py): it imports gymnasium only, never
metasim_client, as a SubprocVecEnv child does."""

import sys

import gymnasium


def episode(socket: str) -> dict:
    imported_before = "metasim_client" in sys.modules
    env = gymnasium.make("metasim/acrobot", socket=socket)
    obs, _ = env.reset(seed=1)
    observations, rewards = [obs.tolist()], []
    for t in range(20):
        obs, reward, terminated, truncated, _ = env.step(t % 2)
        observations.append(obs.tolist())
        rewards.append(reward)
        if terminated or truncated:
            break
    spec = env.spec
    env.close()
    return {"imported_before": imported_before, "observations": observations, "rewards": rewards,
            "max_episode_steps": spec.max_episode_steps, "reward_threshold": spec.reward_threshold}
