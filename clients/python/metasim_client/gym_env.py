"""Gymnasium adapters over metasimd sessions (needs ``gymnasium>=1.1``: ``pip install metasim-client[gymnasium]``).

- :class:`MetaSimEnv` is a ``gymnasium.Env`` for one instance of a world.
- :class:`MetaSimVectorEnv` is a ``gymnasium.vector.VectorEnv`` for a batch of N instances stepped
  by the daemon in one request (its ``threads`` step them in parallel), with same-step autoreset.

Every catalog world is registered as ``metasim/<world>`` in every interpreter of an environment
where the client is installed (``_metasim_client_gymnasium``: no import needed, no daemon needed),
and again by importing ``metasim_client``::

    import gymnasium
    env = gymnasium.make("metasim/lunar-lander")   # the daemon: socket=, $METASIM_SOCKET, systemd's, or a private one
    envs = gymnasium.make_vec("metasim/lunar-lander", num_envs=16, threads=2)

The specs carry the world's horizon as ``max_episode_steps`` and its ``reward_threshold``. A world
outside the catalog that a daemon serves (its ``--worlds`` folder) is registered by
:func:`register_worlds`, which asks the daemon for its catalog.

The daemon: ``socket=``, else ``$METASIM_SOCKET``, else the systemd socket; when none answers, a
private ``metasimd`` from PATH, stopped when the last environment using it closes
(:mod:`metasim_client.daemon`); else :class:`~metasim_client.daemon.DaemonNotFound`.

Both take the task family's arguments: ``task_seed`` (a world drawn from the family) or ``params``
(named values, the rest nominal), and ``horizon`` (replaces the world's episode length). ``reset``
takes ``options={"task_seed": S}`` or ``options={"params": {...}}`` to move to another world of the
family, the few-shot setting of meta-learning.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

import gymnasium
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

import _metasim_client_gymnasium as _registration

from .client import Client, Session
from .daemon import Lease, connect

# The catalog shipped in the repository's worlds/ folder, with each world's horizon and reward
# threshold (tests/test_registration.py checks them against a daemon's list_worlds, so they cannot drift).
CATALOG_WORLDS = tuple(_registration.CATALOG)

NAMESPACE = _registration.NAMESPACE

# Frames come from the daemon's `render` request (docs/protocol.md, "render"): RGB arrays drawn
# with cairo at the world's `render:` size (docs/worlds.md §21).
RENDER_MODES: List[str] = ["rgb_array"]


def _check_render_mode(render_mode: Optional[str]) -> None:
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(f"render_mode {render_mode!r} is not one of this environment's render modes: "
                         f"{RENDER_MODES} (or None: no frames)")


def _render_metadata(metadata: Dict[str, Any], session: Session) -> Tuple[Dict[str, Any], np.ndarray]:
    """The class metadata plus ``render_fps`` (the world's steps per second, which RecordVideo
    uses), and instance 0's first frame (which gives the world's frame size)."""
    frame = session.render()
    dt = session.render_info.get("dt")
    out = dict(metadata)
    if dt and dt > 0:
        out["render_fps"] = int(round(1.0 / dt))
    return out, frame[0]


def _connect(socket: Optional[str], client: Optional[Client]) -> Tuple[Client, bool, Optional[Lease]]:
    """The given client (not owned), or a connection found as :func:`metasim_client.daemon.connect` finds one."""
    if client is not None:
        return client, False, None
    c, lease = connect(socket)
    return c, True, lease


def _box(low: np.ndarray, high: np.ndarray, shape: List[int]) -> spaces.Box:
    """A float32 Box (the specs' dtype) from a session's bounds; null bounds are already infinite."""
    shape = tuple(shape)
    return spaces.Box(low.astype(np.float32).reshape(shape), high.astype(np.float32).reshape(shape), shape, np.float32)


def observation_space(session: Session) -> spaces.Box:
    """The Box of one instance's observation, from the session's spec."""
    return _box(session.observation_low, session.observation_high, session.observation_spec["shape"])


def action_space(session: Session) -> spaces.Space:
    """``Discrete(n)`` for a discrete world, else the Box of one instance's action."""
    if session.discrete_actions:
        return spaces.Discrete(session.discrete_actions)
    return _box(session.action_low, session.action_high, session.action_spec["shape"])


def _set_task_from_options(session: Session, options: Optional[Dict[str, Any]]) -> None:
    """Applies ``options["task_seed"]`` / ``options["params"]`` (a new world of the family)."""
    if not options:
        return
    unknown = set(options) - {"task_seed", "params"}
    if unknown:
        raise ValueError(f"unknown reset options {sorted(unknown)}; metasim takes 'task_seed' and 'params'")
    if options.get("task_seed") is not None or options.get("params"):
        session.set_task(task_seed=options.get("task_seed"), params=options.get("params"))


class _SessionOwner:
    """Closes an adapter's session, and the connection it opened, once."""

    session: Session
    client: Client
    _owns_client: bool
    _lease: Optional[Lease] = None
    _closed = False

    def _close_session(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if getattr(self, "session", None) is not None:
                self.session.close()
        finally:
            try:
                if self._owns_client:
                    self.client.close()
            finally:
                if self._lease is not None:
                    self._lease.release()

    def _open(self, socket: Optional[str], client: Optional[Client], **open_args: Any) -> None:
        self.client, self._owns_client, self._lease = _connect(socket, client)
        try:
            self.session = self.client.open(**open_args)
        except BaseException:
            self._close_session()
            raise


class MetaSimEnv(_SessionOwner, gymnasium.Env):
    """One instance of a metasim world as a ``gymnasium.Env``.

    ``reset(seed=S)`` starts episode seed S (the same S gives the same episode, bit for bit, as
    ``metasim run``/``trace`` and in-process stepping do); ``reset()`` starts the next episode.
    ``info`` of ``reset`` and ``step`` is empty but for ``task`` (the task parameters) on reset.

    The daemon truncates episodes at ``horizon`` (default: the world's). Through
    ``gymnasium.make``, Gymnasium's ``TimeLimit`` also truncates at ``max_episode_steps`` (default:
    the same horizon, at the same step): for longer episodes there give both,
    ``gymnasium.make(id, horizon=N, max_episode_steps=N)``.
    """

    metadata = {"render_modes": RENDER_MODES}

    def __init__(self, world: str, *, socket: Optional[str] = None, task_seed: Optional[int] = None,
                 params: Optional[Dict[str, float]] = None, horizon: Optional[int] = None,
                 client: Optional[Client] = None, render_mode: Optional[str] = None):
        _check_render_mode(render_mode)
        self.render_mode = render_mode
        self.world = world
        self._open(socket, client, world=world, task_seed=task_seed, params=params, horizon=horizon, auto_reset=False)
        self.observation_space = observation_space(self.session)
        self.action_space = action_space(self.session)
        self._discrete = bool(self.session.discrete_actions)
        if render_mode is not None:
            try:
                self.metadata, _ = _render_metadata(self.metadata, self.session)
            except BaseException:
                self._close_session()
                raise

    def render(self) -> Optional[np.ndarray]:
        """With ``render_mode="rgb_array"``: the current state as an (H, W, 3) uint8 frame (the
        world's ``render:`` size, docs/worlds.md §21). Without a render mode: None, as Gymnasium's
        environments do."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() without a render_mode: give render_mode='rgb_array' to make")
            return None
        return self.session.render()[0]

    def reset(self, *, seed: Optional[int] = None,
              options: Optional[Dict[str, Any]] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        super().reset(seed=seed)
        _set_task_from_options(self.session, options)
        if seed is not None:
            obs = self.session.reset(seeds=[seed])
        else:
            obs = self.session.reset()
        return obs[0].copy(), {"task": copy.deepcopy(self.session.info.get("task", {}))}

    def step(self, action: Any) -> Tuple[np.ndarray, float, bool, bool, Dict[str, Any]]:
        if self._discrete:
            a = np.asarray([int(action)], dtype=np.int32)
        else:
            a = np.asarray(action, dtype=np.float32).reshape(1, -1)
        r = self.session.step(a)
        # parse_step_reply gives fresh arrays every step: nothing to copy.
        return r.observations[0], float(r.rewards[0]), bool(r.terminated[0]), bool(r.truncated[0]), {}

    def close(self) -> None:
        self._close_session()


class MetaSimVectorEnv(_SessionOwner, VectorEnv):
    """``num_envs`` instances of a world in one daemon session, as a ``gymnasium.vector.VectorEnv``.

    Autoreset is same-step (``metadata["autoreset_mode"] == AutoresetMode.SAME_STEP``): when an
    instance's episode ends, the returned observation is its next episode's first, and ``info``
    holds ``final_obs`` and ``final_info`` (with ``{"episode": {"r": return, "l": length}}``) for
    the ended instances, masked by ``_final_obs`` / ``_final_info``, as Gymnasium's own vector
    environments write them. ``reset(seed=S)`` and ``seed=S`` at construction are the protocol's
    batch seed, so the same S gives the same episodes as ``Client.open(world, batch=N, seed=S)``.

    ``max_episode_steps`` (which ``gymnasium.make_vec`` passes from the spec) is the episode
    length when ``horizon`` is not given.

    ``render_mode="rgb_array"``: ``render()`` returns instance 0's frame, or with
    ``render_grid=True`` a grid of the first ``min(num_envs, 64)`` instances, ``ceil(sqrt(n))``
    a row, each tile the world's frame shrunk by that factor (so the grid is about the world's
    frame size; empty cells are black).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": RENDER_MODES}

    # The most instances a grid frame shows.
    MAX_GRID = 64

    def __init__(self, world: str, num_envs: int = 1, *, socket: Optional[str] = None, threads: int = 1,
                 task_seed: Optional[int] = None, params: Optional[Dict[str, float]] = None,
                 horizon: Optional[int] = None, client: Optional[Client] = None, seed: int = 0,
                 render_mode: Optional[str] = None, max_episode_steps: Optional[int] = None,
                 render_grid: bool = False):
        _check_render_mode(render_mode)
        self.render_mode = render_mode
        self.render_grid = bool(render_grid)
        self.world = world
        self._open(socket, client, world=world, batch=num_envs, threads=threads, task_seed=task_seed, params=params,
                   horizon=horizon if horizon is not None else max_episode_steps, seed=seed, auto_reset=True)
        self.num_envs = num_envs
        self.single_observation_space = observation_space(self.session)
        self.single_action_space = action_space(self.session)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._discrete = bool(self.session.discrete_actions)
        if render_mode is not None:
            try:
                self.metadata, first = _render_metadata(self.metadata, self.session)
            except BaseException:
                self._close_session()
                raise
            self._frame_size = (first.shape[1], first.shape[0])

    def render(self) -> Optional[np.ndarray]:
        """Instance 0's frame (H, W, 3) uint8, or the grid of ``render_grid=True``; None without a
        render mode."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() without a render_mode: give render_mode='rgb_array' to make_vec")
            return None
        if not self.render_grid:
            return self.session.render()[0]
        n = min(self.num_envs, self.MAX_GRID)
        cols = int(np.ceil(np.sqrt(n)))
        rows = (n + cols - 1) // cols
        width, height = self._frame_size
        tw, th = max(1, width // cols), max(1, height // cols)
        tiles = self.session.render(instances=range(n), width=tw, height=th)
        grid = np.zeros((rows * th, cols * tw, 3), np.uint8)
        for k in range(n):
            r, c = divmod(k, cols)
            grid[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = tiles[k]
        return grid

    def reset(self, *, seed: Optional[Any] = None,
              options: Optional[Dict[str, Any]] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        """``seed``: an int (the batch seed: instance i gets episode seed ``splitmix64_mix(seed, i)``,
        as ``open`` and ``reset`` do in docs/protocol.md), a list of one episode seed per instance,
        or None (every instance starts its next episode)."""
        meta: Dict[str, Any] = {}
        if isinstance(seed, (list, tuple, np.ndarray)):
            seeds = [int(s) for s in seed]
            if len(seeds) != self.num_envs:
                raise ValueError(f"{len(seeds)} seeds for {self.num_envs} environments")
            meta["seeds"] = seeds
            self._np_random, self._np_random_seed = seeding.np_random(seeds[0])
        elif seed is not None:
            meta["seed"] = int(seed)
            self._np_random, self._np_random_seed = seeding.np_random(int(seed))
        _set_task_from_options(self.session, options)
        obs = self.session.reset(**meta)
        return obs.copy(), {}

    def step(self, actions: Any) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Dict[str, Any]]:
        if self._discrete:
            a = np.asarray(actions, dtype=np.int32).reshape(self.num_envs)
        else:
            a = np.asarray(actions, dtype=np.float32).reshape(self.num_envs, -1)
        r = self.session.step(a)
        info: Dict[str, Any] = {}
        if len(r.ended_index):
            n = self.num_envs
            ended = np.zeros(n, dtype=bool)
            ended[r.ended_index] = True
            final_obs = np.full(n, None, dtype=object)
            returns = np.zeros(n, dtype=np.float64)
            lengths = np.zeros(n, dtype=np.int64)
            for k, i in enumerate(r.ended_index):
                final_obs[i] = r.final_observations[k]
                returns[i] = r.ended_return[k]
                lengths[i] = r.ended_length[k]
            info = {
                "final_obs": final_obs, "_final_obs": ended,
                "final_info": {"episode": {"r": returns, "l": lengths, "_r": ended, "_l": ended}, "_episode": ended},
                "_final_info": ended,
            }
        return r.observations, r.rewards, r.terminated, r.truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        self._close_session()


def register_world(world: str, horizon: Optional[int] = None, reward_threshold: Optional[float] = None) -> str:
    """Registers ``metasim/<world>`` (single and vector entry points, ``max_episode_steps`` =
    ``horizon``, ``reward_threshold``; a catalog world's are known) unless it is registered;
    returns the id."""
    if horizon is None and world in _registration.CATALOG:
        horizon, reward_threshold = _registration.CATALOG[world]
    return _registration.register_world(gymnasium, world, horizon, reward_threshold)


def register_worlds(socket: Optional[str] = None, client: Optional[Client] = None) -> List[str]:
    """Registers every world a daemon serves (its catalog, with each world's horizon and reward
    threshold); returns their ids."""
    c, own, lease = _connect(socket, client)
    try:
        return [register_world(w["name"], w.get("horizon"), w.get("reward_threshold")) for w in c.list_worlds()]
    finally:
        if own:
            c.close()
        if lease is not None:
            lease.release()


_registration.register(gymnasium)
