"""Fixtures: a real metasimd on a temporary socket, started from the built binary."""

import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from metasim_client import Client

REPO = pathlib.Path(__file__).resolve().parents[3]


def binary(name: str) -> str:
    """The built product: $METASIM_BIN_DIR, else the debug build, else the release build."""
    dirs = [os.environ.get("METASIM_BIN_DIR"), REPO / ".build" / "debug", REPO / ".build" / "release"]
    for d in dirs:
        if d and (pathlib.Path(d) / name).exists():
            return str(pathlib.Path(d) / name)
    raise RuntimeError(f"{name} is not built (run `swift build`); looked in {dirs}")


def start_daemon(folder: str, *extra: str):
    """Starts metasimd on a socket in ``folder``; returns (process, socket path) once it answers."""
    path = os.path.join(folder, "metasim.sock")
    proc = subprocess.Popen([binary("metasimd"), "--socket", path, "--worlds", str(REPO / "worlds"), "--log-level", "warning",
                             *extra], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        try:
            Client(path).close()
            return proc, path
        except (FileNotFoundError, ConnectionRefusedError):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("metasimd did not start: " + proc.stderr.read().decode())
            time.sleep(0.02)


def stop_daemon(proc, folder: str) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def daemon():
    folder = tempfile.mkdtemp(prefix="msd-py-")
    proc, path = start_daemon(folder)
    yield path
    stop_daemon(proc, folder)


@pytest.fixture
def policy_daemon():
    """metasimd serving a temporary copy of the repository's policies folder; save_policy writes
    to the sibling folder `saved` (never into the repository). Yields (socket path, policies folder)."""
    folder = tempfile.mkdtemp(prefix="msd-py-")
    policies = os.path.join(folder, "policies")
    shutil.copytree(REPO / "policies", policies)
    proc, path = start_daemon(folder, "--policies", policies, "--saved-policies", os.path.join(folder, "saved"))
    yield path, policies
    stop_daemon(proc, folder)
