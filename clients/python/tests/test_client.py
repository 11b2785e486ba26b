"""The Python client against a real metasimd."""

import json
import socket
import struct
import subprocess

import numpy as np
import pytest

from conftest import REPO, binary
from metasim_client import Client, MetaSimError
from metasim_client.client import STEP


def trace(world, seed, actions):
    """The same episode stepped in process by `metasim trace` (the reference)."""
    out = subprocess.run([binary("metasim"), "trace", "--worlds", str(REPO / "worlds"), "--world", world, "--seed", str(seed),
                          "--actions", "-"], input=json.dumps(actions), capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_handshake_catalog_and_status(daemon):
    with Client(daemon) as c:
        assert c.server["protocol"] == [1, 2]
        assert "adapt" in c.server["capabilities"]
        assert c.server["limits"]["max_frame"] == 16 << 20
        worlds = {w["name"]: w for w in c.list_worlds()}
        assert worlds["lunar-lander"]["observation"]["shape"] == [8]
        assert worlds["lunar-lander-discrete"]["discrete_actions"] == 4
        assert c.ping(b"abc") == b"abc"
        assert c.status()["connections"] >= 1


def test_steps_match_in_process_trace(daemon):
    rng = np.random.default_rng(3)
    actions = rng.uniform(-1, 1, size=(120, 2)).astype(np.float32)
    reference = trace("lunar-lander", 42, actions.tolist())
    with Client(daemon) as c:
        s = c.open("lunar-lander", batch=1, auto_reset=False)
        obs = s.reset(seeds=[42])
        assert np.array_equal(obs[0], np.array(reference[0]["observation"], np.float32))
        for t, a in enumerate(actions, start=1):
            if t >= len(reference):
                break
            r = s.step(a.reshape(1, 2))
            assert np.array_equal(r.observations[0], np.array(reference[t]["observation"], np.float32)), t
            assert r.rewards[0] == reference[t]["reward"]
            assert bool(r.terminated[0]) == reference[t]["terminated"]
            if r.terminated[0] or r.truncated[0]:
                assert r.ended_index.tolist() == [0]
                break


def test_batch_auto_reset_and_determinism(daemon):
    with Client(daemon) as a, Client(daemon) as b:
        s1 = a.open("bipedal-walker", batch=4, threads=2, task_seed=5, seed=9)
        s2 = b.open("bipedal-walker", batch=4, threads=1, task_seed=5, seed=9)
        assert np.array_equal(s1.observations, s2.observations)
        rng = np.random.default_rng(0)
        for _ in range(200):
            act = rng.uniform(-1, 1, size=(4, 4)).astype(np.float32)
            r1, r2 = s1.step(act), s2.step(act)
            assert np.array_equal(r1.observations, r2.observations)
            assert np.array_equal(r1.rewards, r2.rewards)
            assert np.array_equal(r1.ended_index, r2.ended_index)
            assert r1.final_observations.shape == (len(r1.ended_index), 24)


def test_read_wait_strategies_agree(daemon):
    # Sleep at once (the default), a 20 us look that a 64-walker step outlasts (then a blocking
    # read), a 500 us look, and a socket with a timeout (which never looks): the same replies.
    clients = [Client(daemon), Client(daemon, spin=20e-6), Client(daemon, spin=0.0005), Client(daemon, timeout=30, spin=0.0005)]
    assert [c.spin for c in clients] == [0, 20e-6, 0.0005, 0]
    try:
        sessions = [c.open("bipedal-walker", batch=64, seed=5) for c in clients]
        rng = np.random.default_rng(1)
        for _ in range(20):
            act = rng.uniform(-1, 1, size=(64, 4)).astype(np.float32)
            first = sessions[0].step(act)
            obs, rewards = first.observations.copy(), first.rewards.copy()
            for s in sessions[1:]:
                r = s.step(act)
                assert np.array_equal(r.observations, obs)
                assert np.array_equal(r.rewards, rewards)
    finally:
        for c in clients:
            c.close()


def test_session_horizon(daemon):
    with Client(daemon) as c:
        s = c.open("pendulum", batch=2, horizon=5)
        assert s.info["horizon"] == 5
        for step in range(1, 6):
            r = s.step(np.zeros((2, 1), np.float32))
            assert r.truncated.tolist() == ([True, True] if step == 5 else [False, False])
        assert c.open("pendulum").info["horizon"] != 5


def test_discrete_world(daemon):
    with Client(daemon) as c:
        s = c.open("cartpole", batch=3, seed=1)
        r = s.step(np.array([0, 1, 1], np.int32))
        assert r.observations.shape == (3, 4)
        with pytest.raises(MetaSimError) as e:
            s.step(np.array([0, 1, 2], np.int32))
        assert e.value.code == "bad_action"
        s.step([1, 0, 1])  # still usable


def test_errors_are_values_and_the_connection_survives(daemon):
    with Client(daemon) as c:
        s = c.open("lunar-lander", batch=2)
        with pytest.raises(MetaSimError) as e:
            s.step(np.array([[0, np.nan], [0, 0]], np.float32))
        assert e.value.code == "bad_action" and not e.value.fatal
        with pytest.raises(MetaSimError) as e:
            s.step(np.zeros((3, 2), np.float32))
        assert e.value.code == "bad_shape"
        with pytest.raises(MetaSimError) as e:
            c.open("no-such-world")
        assert e.value.code == "unknown_world"
        with pytest.raises(MetaSimError) as e:
            c.open(yaml="world:\n  name: x\n  bogus: 1\n", file="mine.yaml")
        assert e.value.code == "invalid_world"
        assert any(d.startswith("mine.yaml:") for d in e.value.diagnostics)
        s.step(np.zeros((2, 2), np.float32))


def test_hostile_bytes_close_only_that_connection(daemon):
    with Client(daemon) as good:
        s = good.open("pendulum", batch=1)
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(daemon)
        raw.sendall(struct.pack("<I", 0xFFFFFFF0) + b"garbage")
        reply = raw.recv(4096)
        length, kind, flags, rid, meta_len = struct.unpack_from("<IHHII", reply)
        assert flags & 2
        assert json.loads(reply[16:16 + meta_len])["code"] == "frame_too_large"
        assert raw.recv(4096) == b""  # closed
        raw.close()
        s.step(np.zeros((1, 1), np.float32))


def test_pipelined_requests_answer_in_order(daemon):
    with Client(daemon) as c:
        s = c.open("point-nav", batch=2)
        ids = []
        for _ in range(5):
            rid = c.make_id()
            ids.append(rid)
            c.send(STEP, rid, None, struct.pack("<IIII", s.id, 2, 1, 0) + np.zeros(4, np.float32).tobytes())
        assert [c.await_response(i).id for i in ids] == ids


def test_observer_sees_steps(daemon):
    with Client(daemon) as owner, Client(daemon) as watcher:
        s = owner.open("pendulum", batch=2, seed=3)
        obs = watcher.observe(s.id)
        assert np.array_equal(obs.observations, s.observations)
        acts = [np.array([[0.5], [-0.5]], np.float32), np.array([[1.0], [0.0]], np.float32)]
        results = [s.step(a) for a in acts]
        s.close()
        events = list(obs)
        steps = [e for e in events if e.event == "step"]
        assert len(steps) == 2
        for e, a, r in zip(steps, acts, results):
            assert np.array_equal(e.actions, a)
            assert np.array_equal(e.step.observations, r.observations)
        assert events[-1].event == "closed" and events[-1].final


@pytest.mark.parametrize("world", ["lunar-lander", "lunar-lander-discrete"])
def test_client_bench_runs_both_sides_in_lockstep(daemon, world):
    """`metasim client bench` (the benchmark's Swift side) steps the daemon and an in-process batch
    alike, in alternating blocks (7 batch steps, so the last block is short), and reports both."""
    out = subprocess.run([binary("metasim"), "client", "bench", "--socket", daemon, "--worlds", str(REPO / "worlds"),
                          "--world", world, "--batch", "4", "--threads", "2", "--steps", "200", "--repeat", "1",
                          "--block", "7", "--json"], capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    assert report["world"] == world and report["batch"] == 4 and report["steps"] == 200
    for key in ("in_process_steps_per_second", "socket_steps_per_second", "socket_over_in_process",
                "step_microseconds", "round_trip_microseconds", "echo_round_trip_microseconds"):
        assert np.isfinite(report[key]) and report[key] > 0, key
    # The ratio is the run's in-process time over its socket time.
    assert report["socket_over_in_process"] == pytest.approx(report["step_microseconds"] / report["round_trip_microseconds"])
