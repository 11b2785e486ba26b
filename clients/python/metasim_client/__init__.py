"""Client for metasimd, the metasim daemon: protocol v1.2 over a Unix-domain socket.

The protocol is specified in docs/protocol.md. This module has no dependency but numpy::

    from metasim_client import Client

    with Client("/run/metasim/metasim.sock") as client:
        session = client.open("lunar-lander", batch=16, seed=0)
        obs = session.observations                    # (16, 8) float32
        result = session.step(np.zeros((16, 2), np.float32))
        result.observations, result.rewards, result.terminated, result.truncated

Protocol 1.1 adds the meta-policy: ``client.list_policies()``, ``session.adapt(policy="point-nav")``,
``session.act(obs)``, ``session.run_episodes(...)``, ``session.save_policy(name)`` and external
sessions (``client.open_external(...)``: the client runs the world, the daemon acts and adapts).
Protocol 1.2 adds a recurrent (rl2) policy's state: ``session.policy_state_size()``,
``session.reset_policy_state()``, ``session.save_policy_state()`` and
``session.restore_policy_state(state)``.

Every request gets exactly one response, in order; an error response raises MetaSimError (the
connection stays usable unless ``error.fatal``).

With Gymnasium installed (``pip install metasim-client[gymnasium]``), every catalog world is
registered as ``metasim/<world>`` as soon as gymnasium is imported, in any interpreter, with no
import of this package (``gymnasium.make("metasim/lunar-lander")``, ``gymnasium.make_vec(...,
num_envs=16)``), and this package provides :class:`MetaSimEnv` and :class:`MetaSimVectorEnv` (see
``metasim_client.gym_env``). They find the daemon with :func:`connect` (``socket=``,
``$METASIM_SOCKET``, the systemd socket, else a private ``metasimd`` from PATH), which raises
:class:`DaemonNotFound` naming every socket it tried.
"""

from .client import (
    Client,
    MetaSimError,
    ConnectionClosed,
    Session,
    ExternalSession,
    StepResult,
    ObserverEvent,
    PolicyState,
    PROTOCOL_VERSION,
)
from .daemon import DaemonNotFound, connect

try:  # Gymnasium is optional: the client itself needs numpy only.
    from .gym_env import MetaSimEnv, MetaSimVectorEnv, register_worlds
except ImportError as _gymnasium_error:  # gymnasium missing, or older than 1.1 (no AutoresetMode)
    _GYMNASIUM_ERROR = f"{_gymnasium_error}"

    def __getattr__(name: str):
        if name in ("MetaSimEnv", "MetaSimVectorEnv", "register_worlds"):
            raise ImportError(f"metasim_client.{name} needs gymnasium>=1.1 (pip install 'metasim-client[gymnasium]'): "
                              f"{_GYMNASIUM_ERROR}")
        raise AttributeError(f"module 'metasim_client' has no attribute {name!r}")

__all__ = [
    "Client",
    "MetaSimError",
    "ConnectionClosed",
    "Session",
    "ExternalSession",
    "StepResult",
    "ObserverEvent",
    "PolicyState",
    "DaemonNotFound",
    "connect",
    "MetaSimEnv",
    "MetaSimVectorEnv",
    "register_worlds",
    "PROTOCOL_VERSION",
]
