#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer targets (docs/fuzzing.md) under Fuzz/corpus/TARGET/.

    python3 Fuzz/make_corpus.py            # from the repository root; rewrites the generated seeds

Seeds are small and deterministic: the catalog worlds (FuzzWorld, FuzzYAML), request streams
(FuzzProtocol), expressions (FuzzExpression) and safetensors files, valid and broken
(FuzzSafeTensors). Only the Python standard library is used.
"""
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "Fuzz", "corpus")


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def catalog():
    worlds = []
    for base, _, files in sorted(os.walk(os.path.join(ROOT, "worlds"))):
        for f in sorted(files):
            if f.endswith(".yaml"):
                worlds.append((f[:-5], open(os.path.join(base, f), "rb").read()))
    return worlds


# MARK: FuzzWorld and FuzzYAML

def override(index, value=None, interesting=None):
    """One override: the parameter's index, then a raw double (mode 1) or entry `interesting` of
    FuzzWorld.swift's table (mode 2 * entry)."""
    if interesting is not None:
        return bytes([index, 2 * interesting]) + b"\0" * 8
    return bytes([index, 1]) + struct.pack("<d", value)


def world_input(seed, overrides, text):
    """FuzzWorld's layout: control (overrides | seed << 2), three 10-byte override slots, the file."""
    slots = b"".join(overrides) + b"\0" * (10 * (3 - len(overrides)))
    return bytes([len(overrides) | seed << 2]) + slots + text


def worlds():
    for name, text in catalog():
        write("FuzzYAML", name + ".yaml", text)
        # No override in use, nominal task.
        write("FuzzWorld", name, world_input(0, [], text))
    text = dict(catalog())
    write("FuzzWorld", "cartpole-seed5-override", world_input(5, [override(0, 1.25)], text["cartpole"]))
    write("FuzzWorld", "point-nav-two-overrides", world_input(1, [override(0, 0.1), override(1, -0.2)], text["point-nav"]))
    write("FuzzWorld", "lunar-lander-override", world_input(0, [override(0, 2.0)], text["lunar-lander"]))
    write("FuzzWorld", "unknown-parameter", world_input(0, [bytes([255, 0]) + b"\0" * 8], text["pendulum"]))
    write("FuzzYAML", "anchors.yaml", "a: &x {b: [1, 2, {c: d}]}\ne: *x\nf: !!str 3\ng: |\n  text\n")
    write("FuzzYAML", "bad-indent.yaml", "a:\n  b: 1\n c: 2\n")


# MARK: FuzzProtocol

KINDS = dict(hello=1, ping=2, status=3, list_worlds=16, open=17, reset=18, step=19, set_task=20, close=21,
             observe=22, unobserve=23, list_policies=32, adapt=33, act=34, run_episodes=35, open_external=36,
             record=37, save_policy=38)


class Stream:
    def __init__(self, minor=1):
        self.bytes = b""
        self.next_id = 1
        self.request("hello", {"protocol": [1, minor], "client": "fuzz"})

    def frame(self, kind, meta=b"", data=b"", flags=0, rid=None):
        if rid is None:
            rid = self.next_id
            self.next_id += 1
        self.bytes += struct.pack("<IHHII", 12 + len(meta) + len(data), kind, flags, rid, len(meta)) + meta + data
        return self

    def request(self, kind, meta=None, data=b""):
        return self.frame(KINDS[kind], json.dumps(meta, sort_keys=True).encode() if meta is not None else b"", data)


def step(session, count, dtype, actions):
    fmt = "<" + ("f" if dtype == 1 else "i") * len(actions)
    return struct.pack("<IIII", session, count, dtype, 0) + struct.pack(fmt, *actions)


def record(count, rewards, observations, actions, terminated, truncated):
    return (struct.pack("<%dd" % count, *rewards) + struct.pack("<%df" % len(observations), *observations)
            + struct.pack("<%df" % len(actions), *actions) + bytes(terminated) + bytes(truncated))


def protocol():
    t = "FuzzProtocol"
    write(t, "hello", Stream().bytes)
    write(t, "queries", Stream().request("ping", None, b"payload" * 8).request("status").request("list_worlds")
          .request("list_policies").bytes)
    write(t, "cartpole-session", Stream()
          .request("open", {"world": "cartpole", "batch": 2, "seed": 1})
          .frame(KINDS["step"], b"", step(1, 2, 2, [0, 1]))
          .frame(KINDS["step"], b"", step(1, 2, 2, [1, 1]))
          .request("reset", {"session": 1})
          .request("reset", {"session": 1, "instances": [0], "seeds": [5]})
          .request("set_task", {"session": 1, "task_seed": 3, "params": {}})
          .request("observe", {"session": 1})
          .frame(KINDS["step"], b"", step(1, 2, 2, [0, 0]))
          .request("unobserve", {"session": 1})
          .request("close", {"session": 1}).bytes)
    write(t, "point-nav-policy", Stream()
          .request("open", {"world": "point-nav", "batch": 2, "task_seed": 7, "params": {"goal_x": 0.25}})
          .frame(KINDS["step"], b"", step(1, 2, 1, [0.05, -0.05, 0.1, 0.0]))
          .request("adapt", {"session": 1, "policy": "point-nav", "steps": 0, "episodes": 2})
          .request("act", {"session": 1, "deterministic": True}, struct.pack("<4f", 0.1, 0.2, -0.3, 0.4))
          .request("adapt", {"session": 1, "steps": 1, "episodes": 2, "seed": 3})
          .request("run_episodes", {"session": 1, "episodes": 2, "decimation": 0})
          .request("save_policy", {"session": 1, "name": "fuzz-saved", "overwrite": True})
          .request("close", {"session": 1}).bytes)
    write(t, "track-racer-params", Stream()
          .request("open", {"world": "track-racer", "task_seed": 2, "horizon": 50})
          .frame(KINDS["step"], b"", step(1, 1, 1, [0.5, 0.5, 0.0]))
          .request("set_task", {"session": 1, "params": {}, "seed": 9}).bytes)
    write(t, "lunar-lander-auto-reset", Stream()
          .request("open", {"world": "lunar-lander", "batch": 1, "auto_reset": False, "threads": 1})
          .frame(KINDS["step"], b"", step(1, 1, 1, [1.0, 0.0])).bytes)
    cartpole = dict(catalog())["cartpole"].decode()
    write(t, "inline-world", Stream()
          .request("open", {"yaml": cartpole, "file": "mine.yaml", "batch": 1})
          .frame(KINDS["step"], b"", step(1, 1, 2, [1])).bytes)
    spec = lambda n, low, high: {"name": "x", "shape": [n], "dtype": "float32", "low": low, "high": high, "entries": []}
    write(t, "external-session", Stream()
          .request("open_external", {"world": "point-nav", "batch": 1, "observation": spec(2, [None, None], [None, None]),
                                     "action": spec(2, [-0.1, -0.1], [0.1, 0.1])})
          .request("adapt", {"session": 1, "policy": "point-nav"})
          .request("act", {"session": 1}, struct.pack("<2f", 0.1, 0.2))
          .request("record", {"session": 1}, record(1, [0.5], [0.1, 0.2], [0.05, 0.05], [0], [0]))
          .request("record", {"session": 1}, record(1, [0.25], [0.1, 0.3], [0.0, 0.05], [1], [0]))
          .request("adapt", {"session": 1})
          .request("close", {"session": 1}).bytes)
    write(t, "protocol-1.0", Stream(minor=0).request("list_policies").request("open", {"world": "pendulum", "horizon": 3}).bytes)
    # Broken frames: each answered with an error (the last ones close the connection).
    s = Stream()
    s.frame(KINDS["ping"], b"{}", flags=1)                       # flags on a request
    s.frame(KINDS["ping"], b"", rid=0)                           # id 0
    s.frame(99, b"")                                             # unknown kind
    s.request("open", {"world": "cartpole", "bogus": 1})         # unknown key
    s.frame(KINDS["status"], b"{not json")
    s.request("step", None, b"\x01\x00")                         # short step data
    s.bytes += struct.pack("<IHHII", 12, KINDS["ping"], 0, 50, 99)  # meta longer than the frame
    s.bytes += struct.pack("<I", 5)                              # shorter than a header: closes
    write(t, "broken-frames", s.bytes)
    write(t, "no-hello", struct.pack("<IHHII", 12, KINDS["status"], 0, 1, 0))
    write(t, "too-large", Stream().bytes + struct.pack("<IHHII", 0xFFFFFFF0, 2, 0, 2, 0))


# MARK: FuzzExpression

def expressions():
    seeds = ["1 + 2 * 3", "-x ^ 2", "sin(a) * cos(b) + sqrt(abs(c))", "min(a, b, 3) - max(1, c)",
             "a > b ? a : b", "clamp(x, -1, 1)", "(a + b) / (c - d)", "2 ^ 0.5 ^ 3", "pi * r ^ 2", "1e308 * 10",
             "x % 3", "exp(log(y))", "atan2(y, x)", "!(a < b) && c >= d || e == f", "floor(x) + ceil(y) + round(z)",
             "((((((((1))))))))", "a +", "sin(", "unknown(1)", "1 ? 2", "3 $ 4"]
    for k, e in enumerate(seeds):
        write("FuzzExpression", "e%02d" % k, e)


# MARK: FuzzSafeTensors

def safetensors(tensors, metadata, pad=True, header=None):
    h = {"__metadata__": metadata} if metadata is not None else {}
    body = b""
    for name, shape, values in tensors:
        begin = len(body)
        body += struct.pack("<%df" % len(values), *values)
        h[name] = {"dtype": "F32", "shape": shape, "data_offsets": [begin, len(body)]}
    j = json.dumps(h if header is None else header, sort_keys=True, separators=(",", ":")).encode()
    if pad:
        j += b" " * (-len(j) % 8)
    return struct.pack("<Q", len(j)) + j + body


def checkpoints():
    t = "FuzzSafeTensors"
    for name in ["point-nav", "track-racer", "cartpole"]:
        path = os.path.join(ROOT, "policies", name + ".safetensors")
        if os.path.exists(path):
            write(t, name + ".safetensors", open(path, "rb").read())
    write(t, "small.safetensors", safetensors([("a", [2, 2], [1, 2, 3, 4]), ("b", [3], [0.5, -0.5, 0])], {"k": "v"}))
    write(t, "empty.safetensors", safetensors([], {}))
    write(t, "zero-size.safetensors", safetensors([("z", [0, 4], [])], None))
    write(t, "truncated.safetensors", safetensors([("a", [4], [1, 2, 3, 4])], {})[:-3])
    write(t, "wrong-dtype.safetensors", safetensors([], None, header={"a": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}}) + b"\0\0")
    write(t, "overlap.safetensors", safetensors([], None, header={"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                                                    "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}) + b"\0" * 4)
    write(t, "nan.safetensors", safetensors([("a", [2], [float("nan"), float("inf")])], {}))
    write(t, "short.safetensors", b"\x10\0\0\0")
    write(t, "huge-header.safetensors", struct.pack("<Q", 1 << 40) + b"{}")


def regressions():
    """The FuzzWorld regressions in FuzzWorld's layout: a catalog world with one parameter at 1e30
    (entry 14 of the table) that traps today (Fuzz/regressions/PENDING)."""
    text = dict(catalog())
    folder = os.path.join(ROOT, "Fuzz", "regressions", "FuzzWorld")
    os.makedirs(folder, exist_ok=True)
    params = {"lunar-lander": ["CHUNKS", 17], "track-racer": ["CHECKPOINTS", 0, "TRACK_RADIUS_MAX", 2]}
    for world, spec in params.items():
        for name, index in zip(spec[0::2], spec[1::2]):
            with open(os.path.join(folder, "%s-%s-1e30" % (world, name)), "wb") as f:
                f.write(world_input(0, [override(index, interesting=14)], text[world]))


def main():
    worlds()
    regressions()
    protocol()
    expressions()
    checkpoints()
    print("corpus written under", os.path.relpath(CORPUS, os.getcwd()))


if __name__ == "__main__":
    sys.exit(main())
