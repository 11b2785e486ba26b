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


@pytest.fixture
def daemon():
    folder = tempfile.mkdtemp(prefix="msd-py-")
    path = os.path.join(folder, "metasim.sock")
    proc = subprocess.Popen([binary("metasimd"), "--socket", path, "--worlds", str(REPO / "worlds"), "--log-level", "warning"],
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        try:
            Client(path).close()
            break
        except (FileNotFoundError, ConnectionRefusedError):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("metasimd did not start: " + proc.stderr.read().decode())
            time.sleep(0.02)
    yield path
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    shutil.rmtree(folder, ignore_errors=True)
