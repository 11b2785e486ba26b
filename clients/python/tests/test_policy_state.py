"""Protocol 1.2, the state of a policy with memory, against a real metasimd serving tiny checkpoints
trained here (`metasim train --algo rl2`, 2 iterations of a GRU of 8 units; `--algo context`, an
encoder and policy 8 wide with a latent vector of 3): act carries the state, reset/size/save/restore,
refusals, and feed-forward policies' answer."""

import os
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

from conftest import REPO, binary, start_daemon, stop_daemon
from metasim_client import Client, MetaSimError, PolicyState
from metasim_client.client import HELLO, POLICY_STATE


@pytest.fixture(scope="module")
def rl2_daemon():
    """metasimd serving the shipped point-nav policy (feed-forward), pn-rl2 (a GRU of 8 units) and
    pn-context (a context policy 8 wide, latent 3)."""
    folder = tempfile.mkdtemp(prefix="msd-py-")
    policies = os.path.join(folder, "policies")
    os.makedirs(policies)
    shutil.copy(REPO / "policies" / "point-nav.safetensors", policies)
    subprocess.run([binary("metasim"), "train", "--world", "point-nav", "--algo", "rl2", "--iterations", "2",
                    "--meta-batch", "2", "--hidden", "8", "--threads", "1", "--seed", "1", "--every", "0",
                    "--normalize-observations", "--worlds", str(REPO / "worlds"),
                    "--output", os.path.join(policies, "pn-rl2.safetensors")], check=True, capture_output=True)
    subprocess.run([binary("metasim"), "train", "--world", "point-nav", "--algo", "context", "--iterations", "2",
                    "--meta-batch", "2", "--hidden", "8", "--latent", "3", "--threads", "1", "--seed", "1", "--every", "0",
                    "--worlds", str(REPO / "worlds"),
                    "--output", os.path.join(policies, "pn-context.safetensors")], check=True, capture_output=True)
    proc, path = start_daemon(folder, "--policies", policies)
    yield path
    stop_daemon(proc, folder)


def code(call) -> str:
    with pytest.raises(MetaSimError) as e:
        call()
    return e.value.code


def test_act_carries_the_state_and_reset_restores_the_first_answer(rl2_daemon):
    with Client(rl2_daemon) as c:
        assert c.server["protocol"] == [1, 2] and "policy_state" in c.server["capabilities"]
        s = c.open("point-nav", batch=2, task_seed=5, seed=3)
        s.adapt(policy="pn-rl2")
        assert s.policy_state_size() == 2 * (8 + 2 + 3)
        obs = s.observations
        first, second = s.act(obs), s.act(obs)
        assert first.shape == (2, 2)
        assert not np.array_equal(first, second), "another state answers otherwise"
        s.reset_policy_state()
        assert np.array_equal(s.act(obs), first)
        assert code(lambda: s.act(obs[:1])) == "bad_shape"  # one row per instance


def test_save_restore_round_trip_and_refusals(rl2_daemon):
    with Client(rl2_daemon) as c:
        s = c.open("point-nav", batch=2, task_seed=5, seed=3)
        s.adapt(policy="pn-rl2")
        for _ in range(4):
            s.step(s.act(s.observations, deterministic=False))
        state = s.save_policy_state()
        assert isinstance(state, PolicyState) and state.values.dtype == np.float64 and len(state.values) == 26
        assert state.architecture.startswith("gru-h8-")
        obs = s.observations
        after = [s.act(obs), s.act(obs * 0.5)]
        s.restore_policy_state(state)
        assert np.array_equal(s.save_policy_state().values.view(np.uint64), state.values.view(np.uint64))
        again = [s.act(obs), s.act(obs * 0.5)]
        assert all(np.array_equal(a.view(np.uint32), b.view(np.uint32)) for a, b in zip(after, again))

        s.restore_policy_state(state)
        assert code(lambda: s.restore_policy_state(PolicyState(state.values[:-1], state.architecture))) == "bad_shape"
        assert code(lambda: s.restore_policy_state(PolicyState(state.values, "gru-h9"))) == "policy_mismatch"
        bad = state.values.copy()
        bad[0] = np.nan
        assert code(lambda: s.restore_policy_state(PolicyState(bad, state.architecture))) == "bad_request"
        assert np.array_equal(s.save_policy_state().values.view(np.uint64), state.values.view(np.uint64)), \
            "a refused state leaves the session's untouched"

        # set_task starts from a zero state.
        s.set_task(task_seed=6)
        assert not s.save_policy_state().values.any()


def test_feed_forward_policies_have_no_state(rl2_daemon):
    with Client(rl2_daemon) as c:
        s = c.open("point-nav", batch=2)
        assert code(s.policy_state_size) == "no_policy"
        s.adapt(policy="point-nav", steps=0)
        for call in (s.policy_state_size, s.reset_policy_state, s.save_policy_state,
                     lambda: s.restore_policy_state(PolicyState(np.zeros(26), "gru-h8"))):
            assert code(call) == "no_policy_state"


def test_a_1_1_client_gets_unknown_kind_for_the_state_requests(rl2_daemon):
    with Client(rl2_daemon, hello=False) as c:
        assert c.request(HELLO, {"protocol": [1, 1]}).json()["protocol"] == [1, 1]
        s = c.open("point-nav", batch=1)
        s.adapt(policy="pn-rl2")
        s.act(s.observations)  # a 1.1 client acts with a recurrent policy all the same
        with pytest.raises(MetaSimError) as e:
            c.request(POLICY_STATE, {"session": s.id})
        assert e.value.code == "unknown_kind" and not e.value.fatal


def test_a_context_policys_state_is_the_pooled_transitions(rl2_daemon):
    with Client(rl2_daemon) as c:
        s = c.open("point-nav", batch=2, task_seed=5, seed=3)
        s.adapt(policy="pn-context")
        # Per instance: the code sum (3), its count, the previous observation (2) and its flag,
        # then the previous action (2), reward, episode end and has-acted.
        assert s.policy_state_size() == 2 * (3 + 1 + 2 + 1 + 2 + 3)
        obs = s.observations
        first = s.act(obs)
        for _ in range(3):
            s.step(s.act(s.observations, deterministic=False))
        state = s.save_policy_state()
        assert state.architecture.startswith("context-h8-z3-o2-a2-gaussian")
        assert state.values[3] == 3 and state.values[12 + 3] == 3, "three transitions pooled per instance"
        after = s.act(obs)
        assert not np.array_equal(after, first)
        s.restore_policy_state(state)
        assert np.array_equal(s.act(obs).view(np.uint32), after.view(np.uint32))
        bad = state.values.copy()
        bad[3] = 1.5  # a count is a whole number
        assert code(lambda: s.restore_policy_state(PolicyState(bad, state.architecture))) == "bad_request"
        s.reset_policy_state()
        assert np.array_equal(s.act(obs), first)
