"""Shared by the benchmark scripts that start a private metasimd: wait until it serves."""
import sys
import time

from metasim_client import Client


def wait_until_serving(sock, proc, log, timeout=60):
    """Returns once `sock` accepts a connection; exits with the daemon's log if `proc` ended or
    `timeout` seconds passed first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            Client(sock).close()
            return
        except (FileNotFoundError, ConnectionRefusedError):
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("metasimd did not start: " + log.read_text())
            time.sleep(0.02)
