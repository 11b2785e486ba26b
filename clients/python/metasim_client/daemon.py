"""Finding a daemon: the ``socket=`` argument, ``$METASIM_SOCKET``, the systemd socket, and else a
private ``metasimd`` from PATH (as ``metasim demo`` starts one), stopped when the last environment
that uses it closes, or at interpreter exit.

::

    client, lease = connect(socket)      # lease.release() when done (stops a private daemon)
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from typing import List, Optional, Tuple

from .client import Client

# The socket systemd's metasimd.socket creates (systemd/metasimd.socket, docs/operations.md).
SYSTEMD_SOCKET = "/run/metasim/metasim.sock"

HOW_TO_START = ("start one: `metasimd --socket PATH` (then socket=PATH or METASIM_SOCKET=PATH), "
                "`sudo systemctl enable --now metasimd.socket` (docs/operations.md), or put metasimd on PATH "
                "for a private daemon")


class DaemonNotFound(ConnectionError):
    """No metasimd answered and none could be started. ``tried`` lists ``(path, source, reason)``
    for every socket tried, in order; ``private`` says why no private daemon started."""

    def __init__(self, tried: List[Tuple[str, str, str]], private: str):
        self.tried = tried
        self.private = private
        lines = [f"  {path} ({source}): {reason}" for path, source, reason in tried]
        super().__init__("no metasim daemon answered; sockets tried, in order:\n" + "\n".join(lines)
                         + f"\n  private metasimd: {private}\n{HOW_TO_START}")


def socket_candidates(socket: Optional[str] = None) -> List[Tuple[str, str]]:
    """The sockets to try, in order, each with where it came from."""
    out: List[Tuple[str, str]] = []
    if socket:
        out.append((os.fspath(socket), "socket= argument"))
    env = os.environ.get("METASIM_SOCKET")
    if env:
        out.append((env, "$METASIM_SOCKET"))
    out.append((SYSTEMD_SOCKET, "the systemd socket"))
    seen = set()
    return [c for c in out if not (c[0] in seen or seen.add(c[0]))]


class PrivateDaemon:
    """A metasimd on a socket in a temporary folder, started from PATH with the catalog it finds
    itself (``$METASIM_WORLDS``, ``./worlds``, or the installed one) and stopped with SIGTERM."""

    def __init__(self, binary: str, start_timeout: float = 60.0):
        self.folder = tempfile.mkdtemp(prefix="metasim-private-")
        self.socket = os.path.join(self.folder, "metasim.sock")
        self.owner = os.getpid()  # a forked child shares it but never stops it
        self._log = open(os.path.join(self.folder, "metasimd.log"), "wb")
        preexec = None
        if threading.current_thread() is threading.main_thread():
            preexec = _die_with_parent  # no orphan if this process is killed (not for a thread that may end)
        self.process = subprocess.Popen([binary, "--socket", self.socket, "--log-level", "warning", "--idle-timeout", "0"],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
                                        preexec_fn=preexec)
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                Client(self.socket).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.log()
                    self.stop()
                    raise RuntimeError(f"{binary} did not start: {log.strip() or 'no output'}")
                time.sleep(0.02)

    def log(self) -> str:
        try:
            with open(os.path.join(self.folder, "metasimd.log"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if os.getpid() != self.owner:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _die_with_parent() -> None:
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    except Exception:
        pass


class Lease:
    """A hold on the process's private daemon (or on nothing, for a daemon found at a socket)."""

    def __init__(self, private: bool):
        self._private = private

    def release(self) -> None:
        if self._private:
            self._private = False
            _release_private()


_lock = threading.Lock()
_private: Optional[PrivateDaemon] = None
_holders = 0


def _acquire_private() -> PrivateDaemon:
    global _private, _holders
    with _lock:
        if _private is None or _private.owner != os.getpid() or _private.process.poll() is not None:
            binary = shutil.which("metasimd")
            if binary is None:
                raise FileNotFoundError("metasimd is not on PATH")
            _private = PrivateDaemon(binary)
            _holders = 0
        _holders += 1
        return _private


def _release_private() -> None:
    global _private, _holders
    with _lock:
        _holders -= 1
        if _holders <= 0 and _private is not None:
            _private.stop()
            _private = None
            _holders = 0


@atexit.register
def _stop_at_exit() -> None:
    global _private
    with _lock:
        if _private is not None:
            _private.stop()
            _private = None


def private_daemon() -> Optional[PrivateDaemon]:
    """The private daemon this process started and still runs, if any."""
    return _private


def connect(socket: Optional[str] = None, client_name: str = "metasim-python", private: bool = True) -> Tuple[Client, Lease]:
    """A connection to the first daemon that answers: ``socket``, ``$METASIM_SOCKET``, the systemd
    socket; else (``private``) to this process's private metasimd, started from PATH if need be.
    Raises :class:`DaemonNotFound` (a ``ConnectionError``) naming every path tried."""
    tried: List[Tuple[str, str, str]] = []
    for path, source in socket_candidates(socket):
        try:
            return Client(path, client_name), Lease(False)
        except OSError as error:  # absent, refused, not allowed: try the next one
            tried.append((path, source, error.strerror or str(error)))
    if not private:
        raise DaemonNotFound(tried, "not tried (private=False)")
    try:
        daemon = _acquire_private()
    except (OSError, RuntimeError) as error:
        raise DaemonNotFound(tried, str(error)) from None
    try:
        return Client(daemon.socket, client_name), Lease(True)
    except BaseException:
        _release_private()
        raise
