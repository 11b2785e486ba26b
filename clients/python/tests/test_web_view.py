"""The web view in a real browser (headless Chromium over the DevTools protocol): the session
page draws the world's bodies and they move between two screenshots; the return plot gains
points while the session's policy adapts. Skipped (saying why) only when Chromium is missing."""

import os
import shutil
import tempfile
import threading
import time

import numpy as np
import pytest

from conftest import REPO, start_daemon, stop_daemon
from devtools import Browser, find_chromium
from metasim_client import Client
from test_metrics import free_port

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian package `chromium`; `make deps` installs it): the browser test of the web view cannot run")

# Counts the canvas's pixels of the colours `metasim render` gives dynamic bodies.
BODY_PIXELS = """(() => {
  const c = document.getElementById('world'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const colours = [[0x80,0x66,0xe6],[0x4d,0x4d,0x80],[0xd1,0x49,0x5b],[0x00,0x79,0x8c],[0xed,0xae,0x49],[0x30,0x63,0x8e]];
  let n = 0;
  for (let i = 0; i < d.length; i += 4)
    for (const [r, g, b] of colours) if (Math.abs(d[i]-r) < 3 && Math.abs(d[i+1]-g) < 3 && Math.abs(d[i+2]-b) < 3) { n++; break; }
  return n;
})()"""


def wait_for(browser, expression, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        value = browser.evaluate(expression)
        if value:
            return value
        assert time.monotonic() < deadline, f"waited {timeout} s for {expression}"
        time.sleep(0.1)


@pytest.fixture
def web_policy_daemon():
    folder = tempfile.mkdtemp(prefix="msd-webv-")
    policies = os.path.join(folder, "policies")
    os.makedirs(policies)
    shutil.copy(REPO / "policies" / "cartpole.safetensors", policies)
    port = free_port()
    proc, path = start_daemon(folder, "--policies", policies, "--saved-policies", os.path.join(folder, "saved"),
                              "--http", f"127.0.0.1:{port}")
    yield path, f"http://127.0.0.1:{port}"
    stop_daemon(proc, folder)


def test_session_page_draws_moving_bodies_and_plots_adaptation(web_policy_daemon):
    path, base = web_policy_daemon
    browser = Browser(CHROMIUM)
    try:
        with Client(path) as c:
            s = c.open("cartpole", batch=2, seed=3)
            stop = threading.Event()

            def step():
                rng = np.random.default_rng(0)
                while not stop.is_set():
                    if s.discrete_actions:
                        s.step(rng.integers(0, s.discrete_actions, size=2, dtype=np.int32))
                    else:
                        s.step(rng.uniform(-1, 1, size=(2, s.action_size)).astype(np.float32))
                    time.sleep(0.005)

            stepper = threading.Thread(target=step)
            stepper.start()
            try:
                browser.call("Page.enable")
                browser.call("Page.navigate", url=f"{base}/session.html?id={s.id}")
                wait_for(browser, "Number(document.getElementById('world')?.dataset.frames) > 3")
                first_pixels = browser.evaluate(BODY_PIXELS)
                first = browser.screenshot()
                frames = browser.evaluate("Number(document.getElementById('world').dataset.frames)")
                wait_for(browser, f"Number(document.getElementById('world').dataset.frames) > {frames + 10}")
                second_pixels = browser.evaluate(BODY_PIXELS)
                second = browser.screenshot()
            finally:
                stop.set()
                stepper.join()
            assert first_pixels > 20 and second_pixels > 20, "the canvas shows no body in the colours of metasim render"
            assert first != second, "the bodies did not move between two screenshots"

            # Adapt in the background; the page's plot (polled every 0.5 s) gains points meanwhile.
            assert browser.evaluate("Number(document.getElementById('plot').dataset.points)") == 0
            seen = []
            result = {}
            adapter = threading.Thread(target=lambda: result.update(s.adapt(policy="cartpole", steps=8, episodes=40)))
            adapter.start()
            while adapter.is_alive():
                seen.append(browser.evaluate("Number(document.getElementById('plot').dataset.points)"))
                time.sleep(0.1)
            adapter.join()
            during = sorted(set(v for v in seen if v > 0))
            assert result["adapted_steps"] == 8
            assert len(during) >= 2, f"the plot did not gain points during the adapt (seen {seen})"
            wait_for(browser, "Number(document.getElementById('plot').dataset.points) >= 8")
            s.close()
    finally:
        browser.close()
