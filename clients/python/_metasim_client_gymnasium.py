"""Registers the catalog worlds as Gymnasium ids ``metasim/<world>`` in every interpreter.

Gymnasium 1.x has no plugin loader any more (0.26-0.29 read the ``gymnasium.envs`` entry points;
1.0 dropped ``load_plugin_envs``), so a package's ids exist only once something registers them.
``metasim_client_gymnasium.pth``, which pip puts in site-packages with this module, calls
:func:`install` at interpreter start: it waits (a ``sys.meta_path`` finder, nothing imported) until
``gymnasium`` itself is imported, and registers the worlds right after it. So
``gymnasium.make("metasim/cartpole")`` works in a fresh interpreter and in ``SubprocVecEnv`` /
``AsyncVectorEnv`` children (spawn, forkserver), with no ``import metasim_client``.

The names, horizons and reward thresholds are the shipped catalog's (``worlds/`` of the
repository; a test checks them against a daemon's ``list_worlds``), so registering needs no daemon
and imports neither numpy nor the client: the entry points are strings, loaded by
``gymnasium.make``. A daemon's own ``--worlds`` are registered by ``metasim_client.register_worlds``.
It runs in every interpreter of the environment, so at start it imports nothing but ``sys``.
"""

import sys

NAMESPACE = "metasim"
ENTRY_POINT = "metasim_client.gym_env:MetaSimEnv"
VECTOR_ENTRY_POINT = "metasim_client.gym_env:MetaSimVectorEnv"

# world: (episode.horizon, episode.reward_threshold or None): the shipped catalog.
CATALOG = {
    "acrobot": (500, -100.0),
    "bipedal-walker": (1600, 300.0),
    "cartpole": (500, 475.0),
    "cheetah-dir": (200, None),
    "cheetah-vel": (200, None),
    "lane-keep": (1000, None),
    "lane-keep-lane": (1000, None),
    "lane-keep-pull": (1000, None),
    "lane-keep-reversed": (1000, None),
    "lane-keep-speed": (1000, None),
    "lunar-lander": (1000, None),
    "lunar-lander-discrete": (1000, 200.0),
    "lunar-lander-mirrored": (1000, None),
    "lunar-lander-mirrored-discrete": (1000, None),
    "mountain-car": (999, 90.0),
    "mountain-car-discrete": (200, -110.0),
    "parking": (300, None),
    "point-nav": (100, None),
    "pendulum": (200, None),
    "reacher": (50, None),
    "reacher-goal": (50, None),
    "track-racer": (1000, None),
    "valley-car": (999, 90.0),
}


def register_world(gymnasium, world, horizon, reward_threshold=None):
    """Registers ``metasim/<world>`` (single and vector entry points) unless it is registered;
    returns the id. ``max_episode_steps`` is the horizon (None for 0: no limit); the other
    fields are Gymnasium's defaults, stated: metasim is deterministic (``nondeterministic``
    false: the same seed and actions give the same episode, bit for bit)."""
    env_id = f"{NAMESPACE}/{world}"
    if env_id not in gymnasium.registry:
        gymnasium.register(id=env_id, entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT,
                           kwargs={"world": world}, max_episode_steps=horizon or None,
                           reward_threshold=reward_threshold, nondeterministic=False, order_enforce=True,
                           disable_env_checker=False)
    return env_id


def register(gymnasium):
    """Registers every catalog world; returns their ids."""
    return [register_world(gymnasium, w, h, t) for w, (h, t) in CATALOG.items()]


class _RegisteringLoader:
    """Gymnasium's own loader, then the registration."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self.loader  # the module keeps its real loader (resources, reloads)
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        try:
            register(module)
        except Exception as error:  # never break `import gymnasium`
            import warnings
            warnings.warn(f"metasim worlds not registered with gymnasium: {error}", RuntimeWarning)


class _GymnasiumFinder:
    """Finds nothing itself: it wraps the loader of ``gymnasium`` the first time it is imported."""

    def find_spec(self, name, path=None, target=None):
        if name != "gymnasium":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)  # once, and no recursion in the lookup below
        import importlib.util
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _RegisteringLoader(spec.loader)
        return spec


def install():
    """At interpreter start (the .pth file): register the worlds when gymnasium is imported, or
    now if it already is."""
    gymnasium = sys.modules.get("gymnasium")
    if gymnasium is not None and hasattr(gymnasium, "register"):
        register(gymnasium)
    elif not any(isinstance(f, _GymnasiumFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _GymnasiumFinder())
