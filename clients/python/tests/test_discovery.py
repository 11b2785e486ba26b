"""Finding the daemon: socket=, then $METASIM_SOCKET, then the systemd socket, then a private
metasimd from PATH (stopped when its last environment closes, or at exit), else DaemonNotFound."""

import os
import pathlib
import subprocess
import sys
import tempfile
import time

import pytest

import metasim_client.daemon as discovery
from conftest import REPO, binary, start_daemon, stop_daemon
from metasim_client import DaemonNotFound, MetaSimEnv, MetaSimVectorEnv


@pytest.fixture
def nowhere(monkeypatch):
    """No daemon at any known place: sockets that do not exist, the systemd one included."""
    folder = tempfile.mkdtemp(prefix="msd-none-")
    dead = {k: os.path.join(folder, f"{k}.sock") for k in ("argument", "environment", "systemd")}
    monkeypatch.setattr(discovery, "SYSTEMD_SOCKET", dead["systemd"])
    monkeypatch.delenv("METASIM_SOCKET", raising=False)
    monkeypatch.setenv("METASIM_WORLDS", str(REPO / "worlds"))
    yield dead
    assert discovery.private_daemon() is None  # every test leaves no private daemon behind
    os.rmdir(folder)


def with_metasimd_on_path(monkeypatch):
    monkeypatch.setenv("PATH", os.path.dirname(binary("metasimd")) + os.pathsep + os.environ.get("PATH", ""))


def test_systemd_socket_is_the_units():
    unit = (REPO / "systemd" / "metasimd.socket").read_text()
    assert f"ListenStream={discovery.SYSTEMD_SOCKET}\n" in unit


@pytest.fixture
def other_daemon():
    folder = tempfile.mkdtemp(prefix="msd-py-")
    proc, path = start_daemon(folder)
    yield path
    stop_daemon(proc, folder)


def test_order_argument_environment_systemd(daemon, other_daemon, nowhere, monkeypatch):
    # All three answer: the argument wins, then $METASIM_SOCKET, then the systemd socket.
    monkeypatch.setenv("METASIM_SOCKET", other_daemon)
    monkeypatch.setattr(discovery, "SYSTEMD_SOCKET", other_daemon)
    client, lease = discovery.connect(daemon, private=False)
    assert client.path == daemon
    client.close(); lease.release()
    monkeypatch.setenv("METASIM_SOCKET", daemon)
    client, lease = discovery.connect(None, private=False)
    assert client.path == daemon
    client.close(); lease.release()
    # An argument that does not answer: $METASIM_SOCKET next.
    client, lease = discovery.connect(nowhere["argument"], private=False)
    assert client.path == daemon
    client.close(); lease.release()
    # Neither: the systemd socket (no private daemon).
    monkeypatch.setenv("METASIM_SOCKET", nowhere["environment"])
    monkeypatch.setattr(discovery, "SYSTEMD_SOCKET", daemon)
    env = MetaSimEnv("cartpole", socket=nowhere["argument"])
    assert env.client.path == daemon and discovery.private_daemon() is None
    env.close()


def test_private_daemon_shared_and_stopped_with_the_last_env(nowhere, monkeypatch):
    with_metasimd_on_path(monkeypatch)
    first = MetaSimEnv("cartpole")
    private = discovery.private_daemon()
    assert private is not None and first.client.path == private.socket
    first.reset(seed=0)
    first.step(0)
    second = MetaSimVectorEnv("lunar-lander", num_envs=2, socket=nowhere["argument"])
    assert discovery.private_daemon() is private and second.client.path == private.socket
    first.close()
    assert private.process.poll() is None  # the vector env still uses it
    second.close()
    assert private.process.wait(timeout=30) == 0  # SIGTERM: drained, exited 0
    assert not os.path.exists(private.folder) and discovery.private_daemon() is None


def test_private_daemon_stopped_at_interpreter_exit(nowhere):
    env = {**os.environ, "PATH": os.path.dirname(binary("metasimd")) + os.pathsep + os.environ.get("PATH", ""),
           "METASIM_WORLDS": str(REPO / "worlds")}
    env.pop("METASIM_SOCKET", None)
    code = ("import metasim_client.daemon as d\n"
            f"d.SYSTEMD_SOCKET = {nowhere['systemd']!r}\n"
            "from metasim_client import MetaSimEnv\n"
            "env = MetaSimEnv('cartpole')\n"  # never closed
            "print(d.private_daemon().process.pid, d.private_daemon().folder)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    pid, folder = out.stdout.split()
    deadline = time.monotonic() + 30
    while pathlib.Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pathlib.Path(f"/proc/{pid}").exists() and not os.path.exists(folder)


def test_no_daemon_anywhere_names_every_path(nowhere, monkeypatch):
    monkeypatch.setenv("METASIM_SOCKET", nowhere["environment"])
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(DaemonNotFound) as caught:
        MetaSimEnv("cartpole", socket=nowhere["argument"])
    error = caught.value
    assert isinstance(error, ConnectionError)
    assert [(p, s) for p, s, _ in error.tried] == [(nowhere["argument"], "socket= argument"),
                                                  (nowhere["environment"], "$METASIM_SOCKET"),
                                                  (nowhere["systemd"], "the systemd socket")]
    message = str(error)
    for path in nowhere.values():
        assert path in message
    assert "metasimd is not on PATH" in message and "metasimd --socket PATH" in message
    assert "systemctl enable --now metasimd.socket" in message


def test_private_daemon_that_fails_to_start_is_reported(nowhere, monkeypatch, tmp_path):
    fake = tmp_path / "metasimd"
    fake.write_text("#!/bin/sh\necho 'cannot start: no worlds' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DaemonNotFound, match="did not start: cannot start: no worlds"):
        MetaSimVectorEnv("cartpole", num_envs=2)
