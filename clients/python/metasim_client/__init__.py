"""Client for metasimd, the metasim daemon: protocol v1.1 over a Unix-domain socket.

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

Every request gets exactly one response, in order; an error response raises MetaSimError (the
connection stays usable unless ``error.fatal``).
"""

from .client import (
    Client,
    MetaSimError,
    ConnectionClosed,
    Session,
    ExternalSession,
    StepResult,
    ObserverEvent,
    PROTOCOL_VERSION,
)
from .vector_env import MetaSimVectorEnv

__all__ = [
    "Client",
    "MetaSimError",
    "ConnectionClosed",
    "Session",
    "ExternalSession",
    "StepResult",
    "ObserverEvent",
    "MetaSimVectorEnv",
    "PROTOCOL_VERSION",
]
