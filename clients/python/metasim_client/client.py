"""Protocol v1.2 client (docs/protocol.md): frames, requests, sessions, observers, policies, policy state."""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np

PROTOCOL_VERSION = (1, 2)

# Request kinds.
HELLO, PING, STATUS = 1, 2, 3
LIST_WORLDS, OPEN, RESET, STEP, SET_TASK, CLOSE, OBSERVE, UNOBSERVE = 16, 17, 18, 19, 20, 21, 22, 23
# Protocol 1.1: the meta-policy ("Policies" in docs/protocol.md).
LIST_POLICIES, ADAPT, ACT, RUN_EPISODES, OPEN_EXTERNAL, RECORD, SAVE_POLICY = 32, 33, 34, 35, 36, 37, 38
# Later 1.1 servers (capability "render"): RGB frames of a session's instances.
RENDER = 39
# Protocol 1.2 (capability "policy_state"): a recurrent policy's state ("Policy state" in docs/protocol.md).
POLICY_STATE, RESET_POLICY_STATE, SAVE_POLICY_STATE, RESTORE_POLICY_STATE = 40, 41, 42, 43
KIND_NAMES = {1: "hello", 2: "ping", 3: "status", 16: "list_worlds", 17: "open", 18: "reset", 19: "step",
              20: "set_task", 21: "close", 22: "observe", 23: "unobserve", 32: "list_policies", 33: "adapt",
              34: "act", 35: "run_episodes", 36: "open_external", 37: "record", 38: "save_policy", 39: "render",
              40: "policy_state", 41: "reset_policy_state", 42: "save_policy_state", 43: "restore_policy_state"}

# Frame flags.
RESPONSE, ERROR, EVENT, FINAL = 1, 2, 4, 8

# Step action dtypes.
FLOAT32, INT32 = 1, 2

_HEADER = struct.Struct("<IHHII")  # length, kind, flags, id, meta_len
_LENGTH = struct.Struct("<I")
_REST = struct.Struct("<HHII")  # kind, flags, id, meta_len
_STEP_HEADER = struct.Struct("<IIII")  # session, count, dtype, reserved


class MetaSimError(Exception):
    """An error response: ``code`` (e.g. "bad_action"), ``message``, ``fatal`` (the server closes
    the connection after it) and, for world files, ``diagnostics`` (path:line:column lines)."""

    def __init__(self, kind: int, request_id: int, code: str, message: str, fatal: bool = False,
                 diagnostics: Optional[List[str]] = None):
        super().__init__(f"{KIND_NAMES.get(kind, kind)} (request {request_id}): {code}: {message}")
        self.kind = kind
        self.request_id = request_id
        self.code = code
        self.message = message
        self.fatal = fatal
        self.diagnostics = diagnostics or []


class ConnectionClosed(Exception):
    """The server closed the connection."""


@dataclass
class Frame:
    kind: int
    flags: int
    id: int
    meta: bytes
    data: memoryview

    def json(self) -> Dict[str, Any]:
        return json.loads(self.meta) if self.meta else {}


@dataclass
class StepResult:
    """One step of a session's instances. With auto-reset, ``observations`` of an instance whose
    episode ended are its new episode's first; ``final_observations`` (one row per ended
    instance, in ``ended_index`` order) are the last of the old one."""

    observations: np.ndarray  # (count, observation_size) float32
    rewards: np.ndarray  # (count,) float64
    terminated: np.ndarray  # (count,) bool
    truncated: np.ndarray  # (count,) bool
    ended_index: np.ndarray  # (ended,) uint32
    ended_return: np.ndarray  # (ended,) float64
    ended_length: np.ndarray  # (ended,) uint32
    final_observations: np.ndarray  # (ended, observation_size) float32


def step_reply_offsets(count: int, obs: int, ended: int) -> Dict[str, int]:
    """Byte offsets of a step reply's arrays (docs/protocol.md) and its total size."""
    def align8(x: int) -> int:
        return (x + 7) & ~7
    o: Dict[str, int] = {"rewards": 16}
    o["observations"] = o["rewards"] + 8 * count
    o["terminated"] = o["observations"] + 4 * count * obs
    o["truncated"] = o["terminated"] + count
    o["ended_index"] = align8(o["truncated"] + count)
    o["ended_return"] = align8(o["ended_index"] + 4 * ended)
    o["ended_length"] = o["ended_return"] + 8 * ended
    o["final"] = o["ended_length"] + 4 * ended
    o["size"] = o["final"] + 4 * ended * obs
    return o


def parse_step_reply(data: memoryview, copy: bool = True) -> StepResult:
    """Decodes step reply data (the layout in docs/protocol.md)."""
    session, count, obs, ended = _STEP_HEADER.unpack_from(data, 0)
    o = step_reply_offsets(count, obs, ended)
    rewards, observations, terminated, truncated = o["rewards"], o["observations"], o["terminated"], o["truncated"]
    ended_index, ended_return, ended_length, final = o["ended_index"], o["ended_return"], o["ended_length"], o["final"]
    size = o["size"]
    if len(data) < size:
        raise ValueError(f"step reply of {len(data)} bytes, expected {size}")
    f = np.frombuffer
    out = StepResult(
        observations=f(data, np.float32, count * obs, observations).reshape(count, obs),
        rewards=f(data, np.float64, count, rewards),
        terminated=f(data, np.bool_, count, terminated),
        truncated=f(data, np.bool_, count, truncated),
        ended_index=f(data, np.uint32, ended, ended_index),
        ended_return=f(data, np.float64, ended, ended_return),
        ended_length=f(data, np.uint32, ended, ended_length),
        final_observations=f(data, np.float32, ended * obs, final).reshape(ended, obs),
    )
    if copy:
        out = StepResult(*(a.copy() for a in (out.observations, out.rewards, out.terminated, out.truncated,
                                              out.ended_index, out.ended_return, out.ended_length,
                                              out.final_observations)))
    return out


@dataclass
class ObserverEvent:
    """One event of an observed session: ``event`` is "step" (``step`` and ``actions`` set),
    "reset" or "task" (``observations`` set), "dropped" (``count`` events missed), "closed" or
    "unobserved" (the last event)."""

    event: str
    session: int
    step: Optional[StepResult] = None
    actions: Optional[np.ndarray] = None
    observations: Optional[np.ndarray] = None
    count: Optional[int] = None
    final: bool = False


class Client:
    """A connection to metasimd. Not thread-safe: one thread per Client."""

    def __init__(self, path: Optional[str] = None, client_name: str = "metasim-python", timeout: Optional[float] = None,
                 connect_retry: float = 0.0, hello: bool = True, spin: float = 0.0):
        self.path = path or os.environ.get("METASIM_SOCKET", "/run/metasim/metasim.sock")
        deadline = time.monotonic() + connect_retry
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(timeout)
                self.sock.connect(self.path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)
        # Seconds a read looks for the reply (yielding the core) before sleeping in the kernel;
        # 0 (the default) sleeps at once. A sleeping reader pays a thread wake-up per reply
        # (about 20 us on a virtual machine): with a core to spare, spin=0.0005 halves a
        # single-instance round trip. Only without a timeout (a socket with one waits in poll).
        self.spin = spin if timeout is None else 0.0
        self._sleeping_reads = 0
        self._next_id = 1
        self._recv = bytearray(1 << 16)
        self._start = 0  # unread bytes: self._recv[self._start:self._end]
        self._end = 0
        self._send = bytearray(1 << 16)
        self.pending_events: List[Frame] = []
        self.server: Dict[str, Any] = {}
        if hello:
            self.server = self.request(HELLO, {"protocol": list(PROTOCOL_VERSION), "client": client_name}).json()

    # -- lifecycle --

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- frames --

    def make_id(self) -> int:
        i = self._next_id
        self._next_id = 1 if i == 0xFFFFFFFF else i + 1
        return i

    def send(self, kind: int, request_id: int, meta: Optional[Dict[str, Any]] = None, data: bytes = b"") -> None:
        """Sends one request frame (without waiting: pipelining)."""
        m = json.dumps(meta, separators=(",", ":")).encode() if meta else b""
        self.sock.sendall(_HEADER.pack(12 + len(m) + len(data), kind, 0, request_id, len(m)) + m + bytes(data))

    def _fill(self, need: int) -> None:
        """Makes ``need`` bytes available from ``self._start`` (one recv per reply, usually)."""
        if self._start + need > len(self._recv):
            unread = self._end - self._start
            if need > len(self._recv):
                bigger = bytearray(max(need, 2 * len(self._recv)))
                bigger[:unread] = self._recv[self._start:self._end]
                self._recv = bigger
            else:
                self._recv[:unread] = self._recv[self._start:self._end]
            self._start, self._end = 0, unread
        view = memoryview(self._recv)
        while self._end - self._start < need:
            got = self._receive(view[self._end:])
            if got == 0:
                raise ConnectionClosed("the server closed the connection")
            self._end += got

    # A yield longer than this lost the core to another thread's time slice (the cores are
    # busy): the next _SLEEP_AFTER_CONTENTION reads then sleep at once.
    _CONTENDED_YIELD = 0.0005
    _SLEEP_AFTER_CONTENTION = 10_000

    def _receive(self, view: memoryview) -> int:
        if self.spin > 0 and self._sleeping_reads == 0:
            start = before = time.monotonic()
            while True:
                try:
                    return self.sock.recv_into(view, 0, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    pass
                os.sched_yield()
                after = time.monotonic()
                if after - before > self._CONTENDED_YIELD:
                    self._sleeping_reads = self._SLEEP_AFTER_CONTENTION
                    break
                if after - start > self.spin:
                    break
                before = after
        elif self._sleeping_reads > 0:
            self._sleeping_reads -= 1
        return self.sock.recv_into(view)

    def read_frame(self) -> Frame:
        """Reads the next frame of any kind. Its data is a view valid until the next read."""
        if self._start == self._end:
            self._start = self._end = 0
        self._fill(4)
        (length,) = _LENGTH.unpack_from(self._recv, self._start)
        if length < 12:
            raise ConnectionClosed(f"protocol violation: frame length {length}")
        self._fill(4 + length)
        at = self._start + 4
        self._start += 4 + length
        kind, flags, rid, meta_len = _REST.unpack_from(self._recv, at)
        meta = bytes(self._recv[at + 12:at + 12 + meta_len]) if meta_len else b""
        data = memoryview(self._recv)[at + 12 + meta_len:at + length]
        return Frame(kind, flags, rid, meta, data)

    def await_response(self, request_id: int, on_event: Optional[Callable[[Frame], None]] = None) -> Frame:
        """Reads until the response to ``request_id``. Events of that request itself (adapt's
        progress, run_episodes' steps and episodes) go to ``on_event`` when it is given (their
        data is a view valid during the call); other events met on the way are queued. If
        ``on_event`` raises, the rest of the request's events are read and dropped, and the
        exception is raised once the response has arrived (the connection stays in step)."""
        failure: Optional[BaseException] = None
        while True:
            f = self.read_frame()
            if f.flags & EVENT:
                if on_event is not None and f.id == request_id:
                    if failure is None:
                        try:
                            on_event(f)
                        except Exception as e:  # re-raised once the response has arrived
                            failure = e
                    continue
                self.pending_events.append(Frame(f.kind, f.flags, f.id, f.meta, memoryview(bytes(f.data))))
                continue
            if failure is not None:
                raise failure
            if f.flags & ERROR:
                e = f.json()
                raise MetaSimError(f.kind, f.id, e.get("code", "internal"), e.get("message", ""), e.get("fatal", False),
                                   e.get("diagnostics"))
            if f.id != request_id:
                raise ConnectionClosed(f"protocol violation: response {f.id} while waiting for {request_id}")
            return f

    def request(self, kind: int, meta: Optional[Dict[str, Any]] = None, data: bytes = b"",
                on_event: Optional[Callable[[Frame], None]] = None) -> Frame:
        rid = self.make_id()
        self.send(kind, rid, meta, data)
        return self.await_response(rid, on_event)

    # -- requests --

    def ping(self, payload: bytes = b"") -> bytes:
        return bytes(self.request(PING, None, payload).data)

    def status(self) -> Dict[str, Any]:
        return self.request(STATUS).json()

    def list_worlds(self) -> List[Dict[str, Any]]:
        return self.request(LIST_WORLDS).json()["worlds"]

    def open(self, world: Optional[str] = None, *, yaml: Optional[str] = None, file: Optional[str] = None,
             batch: int = 1, threads: int = 1, task_seed: Optional[int] = None,
             params: Optional[Dict[str, float]] = None, seed: int = 0, auto_reset: bool = True,
             horizon: Optional[int] = None) -> "Session":
        """Opens a session on a catalog world (``world``) or a world file's text (``yaml``).

        ``horizon`` (protocol 1.1) replaces the world's episode length, e.g. with a policy's
        ``training_horizon`` from :meth:`list_policies`."""
        meta: Dict[str, Any] = {"batch": batch, "threads": threads, "seed": seed, "auto_reset": auto_reset}
        if world is not None:
            meta["world"] = world
        if yaml is not None:
            meta["yaml"] = yaml
        if file is not None:
            meta["file"] = file
        if task_seed is not None:
            meta["task_seed"] = task_seed
        if params:
            meta["params"] = params
        if horizon is not None:
            meta["horizon"] = horizon
        f = self.request(OPEN, meta)
        return Session(self, f.json(), f.data)

    def observe(self, session: int) -> "Observer":
        """Subscribes to a session (of any connection); iterate the result for its events."""
        rid = self.make_id()
        self.send(OBSERVE, rid, {"session": session})
        f = self.await_response(rid)
        info = f.json()
        obs = np.frombuffer(f.data, np.float32).copy().reshape(info["batch"], -1)
        return Observer(self, info, obs, rid)

    # -- policies (protocol 1.1) --

    def list_policies(self) -> List[Dict[str, Any]]:
        """The checkpoints the daemon serves (name, world, algorithm, observation and action
        specs, discrete_actions, inner: adapt's default steps, episodes and learning rates, and
        trained_steps: the inner steps of its meta-training, training_seed, adapted_task_seed, training_horizon,
        adapt_first: true for a meta-learned initialization to adapt before acting, proximal:
        ProMP's outer loop where it was trained with it)."""
        return self.request(LIST_POLICIES).json()["policies"]

    def rejected_policies(self) -> List[Dict[str, str]]:
        """Files of the daemon's policies folder it could not load: ``{"file", "error"}`` each."""
        return self.request(LIST_POLICIES).json()["rejected"]

    def open_external(self, world: Optional[str] = None, observation_spec: Optional[Dict[str, Any]] = None,
                      action_spec: Optional[Dict[str, Any]] = None, discrete_actions: Optional[int] = None,
                      batch: int = 1, *, yaml: Optional[str] = None, file: Optional[str] = None) -> "ExternalSession":
        """Opens a session on a world this client runs itself. ``world`` (a catalog name, or
        ``yaml``) names the family, whose policies fit; the specs (name, shape, dtype float32,
        low, high, entries) must match the family's, action bounds included."""
        if observation_spec is None or action_spec is None:
            raise TypeError("open_external needs observation_spec and action_spec")
        meta: Dict[str, Any] = {"batch": int(batch), "observation": _wire_spec(observation_spec, "observation"),
                                "action": _wire_spec(action_spec, "action")}
        if world is not None:
            meta["world"] = world
        if yaml is not None:
            meta["yaml"] = yaml
        if file is not None:
            meta["file"] = file
        if discrete_actions is not None:
            meta["discrete_actions"] = int(discrete_actions)
        return ExternalSession(self, self.request(OPEN_EXTERNAL, meta).json())

    def next_event(self) -> Frame:
        if self.pending_events:
            return self.pending_events.pop(0)
        f = self.read_frame()
        if not f.flags & EVENT:
            raise ConnectionClosed(f"protocol violation: response {f.id} with no request waiting")
        return Frame(f.kind, f.flags, f.id, f.meta, memoryview(bytes(f.data)))


def _wire_spec(spec: Dict[str, Any], name: str) -> Dict[str, Any]:
    """A spec as the protocol sends it: infinite bounds as null, numbers as plain floats (name
    and dtype default to ``name`` and float32)."""
    def bound(v: Any) -> Optional[float]:
        return None if v is None or not np.isfinite(v) else float(v)
    out = {"name": name, "dtype": "float32", **spec}
    out["shape"] = [int(n) for n in spec["shape"]]
    out["low"] = [bound(v) for v in spec["low"]]
    out["high"] = [bound(v) for v in spec["high"]]
    out["entries"] = list(spec.get("entries", []))
    return out


class _PolicyHost:
    """The policy requests a simulated and an external session share (protocol 1.1)."""

    client: Client
    id: int
    count: int
    observation_size: int
    discrete_actions: Optional[int]

    def _adapt(self, meta: Dict[str, Any], progress: Optional[Callable[[Dict[str, Any]], None]]) -> Dict[str, Any]:
        types = {"policy": str, "steps": int, "episodes": int, "seed": int, "evaluate": bool, "learning_rate": float,
                 "threads": int}
        meta = {"session": self.id, **{k: types[k](v) for k, v in meta.items() if v is not None}}

        def on_event(f: Frame) -> None:
            if progress is not None:
                e = f.json()
                if e.get("event") == "progress":
                    progress(e)
        return self.client.request(ADAPT, meta, on_event=on_event).json()

    def act(self, observations: Any, deterministic: bool = True, seed: Optional[int] = None) -> np.ndarray:
        """The session's policy's actions for ``observations`` (any number of rows of
        ``observation_size`` float32 values): (rows, action_size) float32 world actions (not
        clipped to the bounds: the world clips them), or (rows,) int32 indices for a discrete
        world. Deterministic (the mean, or the most likely action) unless ``deterministic`` is
        false; sampled actions come from the session's policy random stream, restarted by ``seed``."""
        o = np.ascontiguousarray(observations, dtype=np.float32).reshape(-1, self.observation_size)
        meta: Dict[str, Any] = {"session": self.id, "deterministic": bool(deterministic)}
        if seed is not None:
            meta["seed"] = int(seed)
        f = self.client.request(ACT, meta, o.tobytes())
        if self.discrete_actions:
            return np.frombuffer(f.data, np.int32).copy()
        return np.frombuffer(f.data, np.float32).copy().reshape(len(o), -1)

    def save_policy(self, name: str, overwrite: bool = False) -> Dict[str, Any]:
        """Saves the session's (adapted) policy as ``NAME.safetensors`` in the daemon's policies
        folder (served at once as policy ``name``). Returns ``{"policy": info, "file": path}``."""
        return self.client.request(SAVE_POLICY, {"session": self.id, "name": name, "overwrite": bool(overwrite)}).json()


    # Protocol 1.2: a recurrent (rl2) policy's state. A feed-forward policy has none: these raise
    # MetaSimError with code "no_policy_state".

    def policy_state_size(self) -> int:
        """Values (float64) in the session's policy state: one row per instance of the GRU state,
        the previous action, the previous reward, the episode-end flag and whether the instance
        has acted since its state was reset."""
        return int(self.client.request(POLICY_STATE, {"session": self.id}).json()["values"])

    def reset_policy_state(self) -> None:
        """Every instance's state back to zero, as at a trial's start (set_task does it too)."""
        self.client.request(RESET_POLICY_STATE, {"session": self.id})

    def save_policy_state(self) -> "PolicyState":
        """The session's policy state, whole: restoring it continues bit for bit."""
        f = self.client.request(SAVE_POLICY_STATE, {"session": self.id})
        meta = f.json()
        values = np.frombuffer(f.data, np.float64).copy()
        if len(values) != meta["values"]:
            raise ValueError(f"save_policy_state: {len(f.data)} bytes for {meta['values']} float64 values")
        return PolicyState(values=values, architecture=meta["architecture"])

    def restore_policy_state(self, state: "PolicyState") -> None:
        """Replaces the session's policy state with a saved one (of a session of the same policy
        architecture and instance count). The daemon refuses a state of another size
        (``bad_shape``) or architecture (``policy_mismatch``), leaving the session's untouched."""
        values = np.ascontiguousarray(state.values, dtype=np.float64).reshape(-1)
        meta = {"session": self.id, "architecture": str(state.architecture), "values": int(len(values)), "dtype": "float64"}
        self.client.request(RESTORE_POLICY_STATE, meta, values.tobytes())


@dataclass
class PolicyState:
    """A recurrent policy's state as ``save_policy_state`` gives it: float64 ``values`` (instances ×
    values per instance) and the ``architecture`` tag a restore must match."""

    values: np.ndarray
    architecture: str


def _bound_array(values: Sequence[Optional[float]], infinity: float) -> np.ndarray:
    return np.array([infinity if v is None else v for v in values])


class Session(_PolicyHost):
    """An open session: ``count`` instances of one world. ``spec`` gives the observation and
    action specs (name, shape, dtype, low, high; a null bound is unbounded)."""

    def __init__(self, client: Client, info: Dict[str, Any], observations: memoryview):
        self.client = client
        self._set_info(info)
        self.observations = np.frombuffer(observations, np.float32).copy().reshape(self.count, self.observation_size)
        self._frame = bytearray()

    def _set_info(self, info: Dict[str, Any]) -> None:
        self.info = info
        self.id: int = info["session"]
        self.count: int = info["batch"]
        self.observation_spec = info["observation"]
        self.action_spec = info["action"]
        self.discrete_actions: Optional[int] = info.get("discrete_actions")
        self.observation_size = int(np.prod(self.observation_spec["shape"]))
        self.action_size = 1 if self.discrete_actions else int(np.prod(self.action_spec["shape"]))
        # Bounds as arrays (a null bound is infinite), for the Gymnasium adapters' spaces too.
        self.observation_low = _bound_array(self.observation_spec["low"], -np.inf)
        self.observation_high = _bound_array(self.observation_spec["high"], np.inf)
        self.action_low = _bound_array(self.action_spec["low"], -np.inf)
        self.action_high = _bound_array(self.action_spec["high"], np.inf)

    def step(self, actions: Any) -> StepResult:
        """Steps every instance: (count, action_size) float32 actions, or (count,) int32 indices
        for a discrete world."""
        if self.discrete_actions:
            a = np.ascontiguousarray(actions, dtype=np.int32).reshape(-1)
            dtype = INT32
        else:
            a = np.ascontiguousarray(actions, dtype=np.float32).reshape(-1)
            dtype = FLOAT32
        c = self.client
        rid = c.make_id()
        n = 16 + 16 + a.nbytes
        if len(self._frame) != n:
            self._frame = bytearray(n)
        _HEADER.pack_into(self._frame, 0, n - 4, STEP, 0, rid, 0)
        _STEP_HEADER.pack_into(self._frame, 16, self.id, self.count, dtype, 0)
        self._frame[32:] = a.tobytes()
        c.sock.sendall(self._frame)
        f = c.await_response(rid)
        result = parse_step_reply(f.data)
        self.observations = result.observations
        return result

    def reset(self, instances: Optional[Sequence[int]] = None, seeds: Optional[Sequence[int]] = None,
              seed: Optional[int] = None) -> np.ndarray:
        """Resets all instances (or ``instances``) to ``seeds``, to a batch ``seed``, or to each
        one's next episode. Returns all observations."""
        meta: Dict[str, Any] = {"session": self.id}
        if instances is not None:
            meta["instances"] = [int(i) for i in instances]
        if seeds is not None:
            meta["seeds"] = [int(s) for s in seeds]
        if seed is not None:
            meta["seed"] = int(seed)
        f = self.client.request(RESET, meta)
        self.observations = np.frombuffer(f.data, np.float32).copy().reshape(self.count, self.observation_size)
        return self.observations

    def set_task(self, task_seed: Optional[int] = None, params: Optional[Dict[str, float]] = None,
                 seed: Optional[int] = None) -> np.ndarray:
        """A new world of the family on this session. Returns the first observations."""
        meta: Dict[str, Any] = {"session": self.id}
        if task_seed is not None:
            meta["task_seed"] = int(task_seed)
        if params:
            meta["params"] = params
        if seed is not None:
            meta["seed"] = int(seed)
        f = self.client.request(SET_TASK, meta)
        self._set_info(f.json())
        self.observations = np.frombuffer(f.data, np.float32).copy().reshape(self.count, self.observation_size)
        return self.observations

    def close(self) -> None:
        self.client.request(CLOSE, {"session": self.id})

    def render(self, instances: Optional[Sequence[int]] = None, width: Optional[int] = None,
               height: Optional[int] = None) -> np.ndarray:
        """RGB frames of ``instances`` (default: instance 0) at their current state: a
        (len(instances), height, width, 3) uint8 array, rows from the top. The size is the world's
        ``render:`` size (docs/worlds.md §21), or ``width`` and ``height`` (both or neither).
        ``render_info`` then holds the reply's metadata (``dt``: the world's seconds per step)."""
        meta: Dict[str, Any] = {"session": self.id}
        if instances is not None:
            meta["instances"] = [int(i) for i in instances]
        if width is not None or height is not None:
            if width is None or height is None:
                raise ValueError("give both width and height, or neither")
            meta["width"], meta["height"] = int(width), int(height)
        f = self.client.request(RENDER, meta)
        info = f.json()
        self.render_info = info
        n, h, w = len(info["instances"]), int(info["height"]), int(info["width"])
        if info.get("format") != "rgb24" or len(f.data) != n * h * w * 3:
            raise ConnectionClosed(f"protocol violation: render reply of {len(f.data)} bytes for {n} "
                                   f"{info.get('format')} frames of {w} x {h}")
        return np.frombuffer(f.data, np.uint8).reshape(n, h, w, 3).copy()

    # -- policies (protocol 1.1) --

    def adapt(self, policy: Optional[str] = None, steps: Optional[int] = None, episodes: Optional[int] = None,
              seed: Optional[int] = None, evaluate: Optional[bool] = None, learning_rate: Optional[float] = None,
              threads: Optional[int] = None,
              progress: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
        """Adapts the session's policy on its own world: from checkpoint ``policy`` (else from the
        session's current parameters), ``steps`` inner steps (default: the policy's; 0 only takes
        the policy) of ``episodes`` episodes each. ``progress`` gets each inner step's event
        (``{"event": "progress", "session", "step", "steps", "episodes", "mean_return"}``).
        Returns the reply: ``session``, ``policy``, ``adapted_steps``, ``returns``,
        ``episodes_per_step``, ``seconds``."""
        return self._adapt({"policy": policy, "steps": steps, "episodes": episodes, "seed": seed, "evaluate": evaluate,
                            "learning_rate": learning_rate, "threads": threads}, progress)

    def run_episodes(self, episodes: Optional[int] = None, deterministic: bool = True, decimation: int = 1,
                     seed: Optional[int] = None, policy_seed: Optional[int] = None,
                     on_step: Optional[Callable[[StepResult, np.ndarray], None]] = None,
                     on_episode: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
        """The daemon drives the session with its policy until ``episodes`` episodes (default: the
        batch size) have ended, every instance reset first (to batch ``seed``, default the
        session's). ``on_step(result, actions)`` sees every ``decimation``-th step (0: none);
        ``on_episode`` each ended episode (``instance``, ``index``, ``return``, ``length``,
        ``terminated``, ``step``). Returns the reply: ``instances``, ``returns``, ``lengths`` (in
        order of ending), ``mean_return``, ``steps``. Afterwards ``observations`` are the last
        step event's (reset the session to know where it stands when ``decimation`` is not 1)."""
        meta: Dict[str, Any] = {"session": self.id, "deterministic": bool(deterministic), "decimation": int(decimation)}
        if episodes is not None:
            meta["episodes"] = int(episodes)
        if seed is not None:
            meta["seed"] = int(seed)
        if policy_seed is not None:
            meta["policy_seed"] = int(policy_seed)

        def on_event(f: Frame) -> None:
            e = f.json()
            if e.get("event") == "step":
                result = parse_step_reply(f.data)
                size = step_reply_offsets(self.count, self.observation_size, len(result.ended_index))["size"]
                actions = np.frombuffer(f.data, np.int32 if self.discrete_actions else np.float32, offset=size).copy()
                if not self.discrete_actions:
                    actions = actions.reshape(self.count, -1)
                self.observations = result.observations
                if on_step is not None:
                    on_step(result, actions)
            elif e.get("event") == "episode" and on_episode is not None:
                on_episode(e)
        return self.client.request(RUN_EPISODES, meta, on_event=on_event).json()


class ExternalSession(_PolicyHost):
    """A session on a world the client runs itself (a robot, another simulator): the daemon acts
    for the client's observations (``act``), keeps the transitions the client reports
    (``record``) and adapts its policy from the complete episodes (``adapt``). Take a policy
    first: ``adapt(policy="NAME")``."""

    def __init__(self, client: Client, info: Dict[str, Any]):
        self.client = client
        self.info = info
        self.id: int = info["session"]
        self.count: int = info["batch"]
        self.world: str = info["world"]
        self.observation_spec = info["observation"]
        self.action_spec = info["action"]
        self.discrete_actions: Optional[int] = info.get("discrete_actions")
        self.observation_size = int(np.prod(self.observation_spec["shape"]))
        self.action_size = 1 if self.discrete_actions else int(np.prod(self.action_spec["shape"]))

    def adapt(self, policy: Optional[str] = None, steps: Optional[int] = None, learning_rate: Optional[float] = None,
              progress: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
        """With ``policy``: takes that checkpoint (and forgets what was recorded). Without: one
        inner step on the complete episodes recorded since the last adapt (``no_experience`` if
        none), ``steps=0`` only reports. Returns the adapt reply (``returns``: the recorded
        episodes' mean return; ``episodes_per_step``: how many were used)."""
        return self._adapt({"policy": policy, "steps": steps, "learning_rate": learning_rate}, progress)

    def record(self, rewards: Any, observations: Any, actions: Any, terminated: Any, truncated: Any) -> Dict[str, Any]:
        """Reports one transition per instance: the reward, the observation the action was chosen
        for, the action ``act`` gave (unclipped), and whether the episode terminated or was
        truncated at this step. Returns ``{"session", "episodes", "mean_return", "transitions"}``:
        the complete episodes held for the next adapt and their mean return."""
        n = self.count
        r = np.ascontiguousarray(rewards, dtype="<f8").reshape(n)
        o = np.ascontiguousarray(observations, dtype="<f4").reshape(n, self.observation_size)
        if self.discrete_actions:
            a = np.ascontiguousarray(actions, dtype="<i4").reshape(n)
        else:
            a = np.ascontiguousarray(actions, dtype="<f4").reshape(n, self.action_size)
        term = np.ascontiguousarray(terminated, dtype=np.bool_).reshape(n).astype(np.uint8)
        trunc = np.ascontiguousarray(truncated, dtype=np.bool_).reshape(n).astype(np.uint8)
        data = b"".join((r.tobytes(), o.tobytes(), a.tobytes(), term.tobytes(), trunc.tobytes()))
        return self.client.request(RECORD, {"session": self.id}, data).json()

    def close(self) -> None:
        self.client.request(CLOSE, {"session": self.id})


class Observer:
    """A subscription to a session's stream; iterating yields ObserverEvents until the last."""

    def __init__(self, client: Client, info: Dict[str, Any], observations: np.ndarray, request_id: int):
        self.client = client
        self.info = info
        self.observations = observations
        self.request_id = request_id
        self.discrete = bool(info.get("discrete_actions"))
        self.done = False

    def next(self) -> ObserverEvent:
        f = self.client.next_event()
        meta = f.json()
        e = ObserverEvent(meta["event"], meta["session"], count=meta.get("count"), final=bool(f.flags & FINAL))
        if e.event == "step":
            e.step = parse_step_reply(f.data)
            _, count, obs, ended = _STEP_HEADER.unpack_from(f.data, 0)
            size = step_reply_offsets(count, obs, ended)["size"]
            e.actions = np.frombuffer(f.data, np.int32 if self.discrete else np.float32, offset=size).copy()
            if not self.discrete:
                e.actions = e.actions.reshape(count, -1)
        elif e.event in ("reset", "task"):
            e.observations = np.frombuffer(f.data, np.float32).copy().reshape(self.info["batch"], -1)
        self.done = e.final
        return e

    def __iter__(self) -> Iterator[ObserverEvent]:
        while not self.done:
            yield self.next()
