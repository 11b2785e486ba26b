"""Frames: render_mode="rgb_array" (single and vector environments) through the daemon's render
request, the vector grid, RecordVideo, and the error replies."""

import glob
import importlib.util

import gymnasium
import numpy as np
import pytest

from metasim_client import Client, MetaSimError, MetaSimVectorEnv


def colours(frame: np.ndarray) -> int:
    return len(np.unique(frame.reshape(-1, 3), axis=0))


def test_rgb_array_frames_follow_the_state(daemon):
    env = gymnasium.make("metasim/lunar-lander", socket=daemon, render_mode="rgb_array")
    assert env.metadata["render_modes"] == ["rgb_array"]
    assert env.metadata["render_fps"] == 50  # lunar-lander steps 0.02 s
    env.reset(seed=1)
    first = env.render()
    assert isinstance(first, np.ndarray) and first.dtype == np.uint8 and first.shape == (400, 600, 3)
    assert colours(first) > 10  # not blank
    # The hull (the first dynamic body, #8066e6) is in the frame.
    hull = np.all(first == np.array([0x80, 0x66, 0xE6], np.uint8), axis=-1)
    assert hull.sum() > 50
    for _ in range(20):
        env.step(np.array([1.0, 0.0], np.float32))
    later = env.render()
    assert not np.array_equal(later, first)
    # The hull moved: its pixels' centre is elsewhere.
    hull_later = np.all(later == np.array([0x80, 0x66, 0xE6], np.uint8), axis=-1)
    assert np.abs(np.argwhere(hull_later).mean(axis=0) - np.argwhere(hull).mean(axis=0)).max() > 1
    # The same episode seed gives the same frame, byte for byte.
    env.reset(seed=1)
    assert np.array_equal(env.render(), first)
    env.close()


def test_render_without_a_mode_returns_none(daemon):
    env = gymnasium.make("metasim/cartpole", socket=daemon, disable_env_checker=True)
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None
    env.close()


def test_vector_env_renders_its_first_instance_or_a_grid(daemon):
    envs = MetaSimVectorEnv("cartpole", num_envs=3, socket=daemon, render_mode="rgb_array", seed=4)
    envs.reset(seed=4)
    for _ in range(15):
        envs.step(np.array([0, 1, 1]))
    frame = envs.render()
    assert frame.shape == (400, 600, 3) and frame.dtype == np.uint8
    assert np.array_equal(frame, envs.session.render([0])[0])
    assert not np.array_equal(frame, envs.session.render([1])[0])  # instance 1 is elsewhere
    envs.close()

    grid_envs = MetaSimVectorEnv("cartpole", num_envs=3, socket=daemon, render_mode="rgb_array", seed=4, render_grid=True)
    grid_envs.reset(seed=4)
    for _ in range(15):
        grid_envs.step(np.array([0, 1, 1]))
    grid = grid_envs.render()
    # 3 instances: 2 a row, tiles of 600/2 x 400/2, the fourth cell empty (black).
    assert grid.shape == (400, 600, 3) and grid.dtype == np.uint8
    tiles = grid_envs.session.render([0, 1, 2], width=300, height=200)
    assert np.array_equal(grid[:200, :300], tiles[0])
    assert np.array_equal(grid[:200, 300:], tiles[1])
    assert np.array_equal(grid[200:, :300], tiles[2])
    assert not grid[200:, 300:].any()
    assert colours(tiles[2]) > 5
    grid_envs.close()


def test_make_vec_passes_the_render_mode_and_grid(daemon):
    envs = gymnasium.make_vec("metasim/cartpole", num_envs=4, socket=daemon, render_mode="rgb_array", render_grid=True)
    envs.reset(seed=0)
    grid = envs.render()
    # 4 instances: 2 a row of 300 x 200 tiles, every cell drawn.
    assert grid.shape == (400, 600, 3) and grid.dtype == np.uint8
    assert all(colours(grid[r:r + 200, c:c + 300]) > 5 for r in (0, 200) for c in (0, 300))
    assert envs.metadata["render_fps"] == 50
    envs.close()


def test_render_errors_are_replies(daemon):
    with Client(daemon) as c:
        s = c.open("cartpole", batch=2)
        with pytest.raises(MetaSimError) as e:
            s.render([2])
        assert e.value.code == "bad_request"
        with pytest.raises(MetaSimError) as e:
            s.render(width=0, height=10)
        assert e.value.code == "bad_request"
        with pytest.raises(ValueError, match="both width and height"):
            s.render(width=10)
        assert s.render([1], width=30, height=20).shape == (1, 20, 30, 3)
        s.close()
        with pytest.raises(MetaSimError) as e:
            s.render()
        assert e.value.code == "unknown_session"


@pytest.mark.skipif(importlib.util.find_spec("moviepy") is None, reason="RecordVideo needs moviepy (make test-python installs it)")
def test_record_video_writes_an_episode(daemon, tmp_path):
    env = gymnasium.make("metasim/lunar-lander", socket=daemon, render_mode="rgb_array", horizon=30, max_episode_steps=30)
    folder = tmp_path / "videos"
    env = gymnasium.wrappers.RecordVideo(env, str(folder), episode_trigger=lambda e: True, disable_logger=True)
    assert env.frames_per_sec == 50
    env.reset(seed=2)
    frames = 1
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        done = terminated or truncated
        frames += 1
        assert env.recorded_frames[-1].shape == (400, 600, 3) and env.recorded_frames[-1].dtype == np.uint8
    assert len(env.recorded_frames) == frames
    env.close()
    videos = glob.glob(str(folder / "*.mp4"))
    assert len(videos) == 1, videos
    with open(videos[0], "rb") as f:
        head = f.read(12)
    assert head[4:8] == b"ftyp"  # an MP4 file
