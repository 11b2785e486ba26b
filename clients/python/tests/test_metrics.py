"""metasimd's /metrics (docs/operations.md, "Web view and metrics") parsed by Prometheus' own
text-format parser, and its counts following the daemon's work."""

import socket
import tempfile
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import start_daemon, stop_daemon
from metasim_client import Client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def web_daemon():
    folder = tempfile.mkdtemp(prefix="msd-web-")
    port = free_port()
    proc, path = start_daemon(folder, "--http", f"127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/metrics", timeout=5).read()
            break
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield path, base
    stop_daemon(proc, folder)


def scrape(base: str):
    """{(name, frozenset(labels)): value} of every sample, parsed by prometheus_client."""
    text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    families = list(text_string_to_metric_families(text))
    samples = {}
    for family in families:
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return families, samples


def test_metrics_parse_and_follow_steps(web_daemon):
    path, base = web_daemon
    families, before = scrape(base)
    kinds = {f.name: f.type for f in families}
    assert kinds["metasim_sessions"] == "gauge"
    assert kinds["metasim_resident_memory_bytes"] == "gauge"
    assert before[("metasim_sessions", frozenset())] == 0
    assert before[("metasim_resident_memory_bytes", frozenset())] > 1e6

    with Client(path) as c:
        s = c.open("lunar-lander", batch=8, seed=2)
        actions = np.zeros((8, s.action_size), np.float32)
        for _ in range(30):
            s.step(actions)
        with pytest.raises(Exception):
            c.open("lunar-lander", batch=10 ** 9)
        families, after = scrape(base)
        kinds = {f.name: f.type for f in families}
        world = frozenset({("world", "lunar-lander")})
        assert kinds["metasim_step_latency_seconds"] == "histogram"
        assert kinds["metasim_world_steps"] == "counter"  # the parser drops _total from the family name
        assert after[("metasim_sessions", frozenset())] == 1
        assert after[("metasim_connections", frozenset())] == 1
        assert after[("metasim_world_steps_total", world)] == 240
        assert after[("metasim_world_batch_steps_total", world)] == 30
        assert after[("metasim_step_latency_seconds_count", world)] == 30
        assert after[("metasim_step_latency_seconds_bucket", world | {("le", "+Inf")})] == 30
        assert after[("metasim_step_latency_seconds_sum", world)] > 0
        assert after[("metasim_errors_total", frozenset({("code", "limit_exceeded")}))] == 1
        assert after[("metasim_refusals_total", frozenset({("limit", "max_batch")}))] == 1
        assert after[("metasim_steps_total", frozenset())] >= 240
        s.close()
    _, closed = scrape(base)
    assert closed[("metasim_sessions", frozenset())] == 0


def test_unknown_session_is_404(web_daemon):
    _, base = web_daemon
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(base + "/api/sessions/424242", timeout=10)
    assert e.value.code == 404
