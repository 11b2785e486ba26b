"""A Gymnasium-style vector environment over a metasimd session (no Gymnasium dependency).

``reset()`` returns ``(observations, info)``; ``step(actions)`` returns ``(observations, rewards,
terminated, truncated, info)``, with auto-reset in the same step as Gymnasium's "same-step" mode:
``info["final_observation"]`` and ``info["final_info"]`` hold the ended episodes' last
observation and their ``{"episode": {"r": return, "l": length}}``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

from .client import Client


class MetaSimVectorEnv:
    def __init__(self, world: str, num_envs: int = 1, *, path: Optional[str] = None, threads: int = 1,
                 task_seed: Optional[int] = None, params: Optional[Dict[str, float]] = None, seed: int = 0,
                 client: Optional[Client] = None):
        self.client = client or Client(path)
        self.session = self.client.open(world, batch=num_envs, threads=threads, task_seed=task_seed, params=params,
                                        seed=seed, auto_reset=True)
        self.num_envs = num_envs
        s = self.session
        self.observation_low = np.array([-np.inf if v is None else v for v in s.observation_spec["low"]], np.float32)
        self.observation_high = np.array([np.inf if v is None else v for v in s.observation_spec["high"]], np.float32)
        self.discrete_actions = s.discrete_actions

    def reset(self, seed: Optional[int] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        return self.session.reset(seed=seed), {}

    def step(self, actions: Any) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Dict[str, Any]]:
        r = self.session.step(actions)
        info: Dict[str, Any] = {}
        if len(r.ended_index):
            final_obs = np.empty(self.num_envs, dtype=object)
            final_info = np.empty(self.num_envs, dtype=object)
            ended = np.zeros(self.num_envs, dtype=bool)
            for k, i in enumerate(r.ended_index):
                final_obs[i] = r.final_observations[k]
                final_info[i] = {"episode": {"r": float(r.ended_return[k]), "l": int(r.ended_length[k])}}
                ended[i] = True
            info = {"final_observation": final_obs, "final_info": final_info, "_final_observation": ended}
        return r.observations, r.rewards, r.terminated, r.truncated, info

    def close(self) -> None:
        self.session.close()
        self.client.close()
