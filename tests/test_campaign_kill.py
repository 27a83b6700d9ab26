"""kill -9 a campaign mid-run, resume it, and get the uninterrupted dataset bit for bit."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from crinfer.campaign import campaign_status, load_dataset, run_campaign

RECIPE = """
[simulator]
name = "toy.gaussian"
config = { n_obs = 4, sigma = 0.3, delay_s = DELAY }
[parameters]
a = { low = -1.0, high = 1.0 }
b = { low = 0.1, high = 10.0, scale = "log" }
[design]
type = "latin_hypercube"
n = 30
seed = 4
[campaign]
realisations = 2
chunk_size = 10
seed = 21
"""
N_CHUNKS = 6
STARTUP_TIMEOUT_S = 600  # the subprocess imports jax and torch; slow on a loaded machine


def _records(out):
    d = out / "chunks"
    return sorted(p.name for p in d.glob("c*.json")) if d.is_dir() else []


@pytest.mark.slow  # subprocesses import jax: minutes on 2 cores; run by `make test-all`
def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path):
    slow = tmp_path / "slow.toml"
    slow.write_text(RECIPE.replace("DELAY", "1.0"))  # 1 s per chunk: room to kill mid-run
    out = tmp_path / "killed"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "crinfer.campaign", "run", str(slow), "--out", str(out),
                             "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while len(_records(out)) < 2:
            assert proc.poll() is None, f"campaign exited early: {proc.stdout.read().decode()}"
            assert time.monotonic() < deadline, "campaign wrote no chunk in time"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    before = campaign_status(out)
    assert 2 <= len(before.done) < N_CHUNKS, before
    assert not before.corrupt
    survivors = {i: json.loads((out / "chunks" / f"c{i:06d}.json").read_text()) for i in before.done}

    st = run_campaign(slow, out, progress=False)
    assert st.complete and st.done == list(range(N_CHUNKS)) and not st.corrupt and not st.temp_files
    for i, rec in survivors.items():  # chunks done before the kill were kept, not recomputed
        assert json.loads((out / "chunks" / f"c{i:06d}.json").read_text()) == rec

    fast = tmp_path / "fast.toml"  # same numbers without the delay (a different recipe, so a new store)
    fast.write_text(RECIPE.replace("DELAY", "0.0"))
    ref = tmp_path / "reference"
    run_campaign(fast, ref, progress=False)

    theta, x, meta = load_dataset(out)
    theta_r, x_r, meta_r = load_dataset(ref)
    assert theta.shape == (60, 2) and x.shape == (60, 4)
    np.testing.assert_array_equal(meta["row"], np.arange(60))  # nothing lost, nothing duplicated
    np.testing.assert_array_equal(theta, theta_r)
    np.testing.assert_array_equal(x, x_r)
    np.testing.assert_array_equal(meta["key"], meta_r["key"])
    assert [r["sha256"] for r in meta["chunks"]] == [r["sha256"] for r in meta_r["chunks"]]
