"""A campaign on a real Dask LocalCluster survives losing a worker process mid-run."""
import os
import signal
import threading
import time

import numpy as np
import pytest

from crinfer.campaign import Recipe, campaign_status, chunk_key, load_dataset, run_campaign
from crinfer.campaign import registry
from crinfer.campaign.executors import ChunkTask, SimulatorSpec, simulate_chunk

distributed = pytest.importorskip("distributed")

RECIPE = """
[simulator]
name = "toy.gaussian"
config = { n_obs = 3, sigma = 0.2, delay_s = DELAY }
[parameters]
a = { low = -1.0, high = 1.0 }
b = { low = 0.1, high = 10.0, scale = "log" }
[design]
type = "prior"
n = 40
seed = 6
[campaign]
chunk_size = 4
seed = 13
"""
N_CHUNKS = 10


def _warm_up(client, recipe):
    """Import crinfer, build the simulator and compile its chunk shape on every worker, so
    that the kill below lands while chunks are computed, not while workers start."""
    spec = SimulatorSpec(recipe.fingerprint, recipe.simulator, registry.resolve(recipe.simulator),
                         recipe.params.to_dict(), recipe.config)
    theta = recipe.design.points(recipe.params)[: recipe.chunk_size]
    client.run(simulate_chunk, ChunkTask(0, spec, theta, chunk_key(0, 0)))


@pytest.mark.slow  # subprocesses import jax: minutes on 2 cores; run by `make test-all`
def test_dask_worker_killed_mid_campaign(tmp_path):
    slow = tmp_path / "slow.toml"
    slow.write_text(RECIPE.replace("DELAY", "0.5"))
    out = tmp_path / "dask"
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        _warm_up(client, Recipe.from_toml(slow))
        pids = sorted(client.run(os.getpid).values())
        assert len(pids) == 2
        victim = pids[0]
        killed = {}

        def kill_when_two_chunks_done():
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                done = len(list((out / "chunks").glob("c*.json"))) if (out / "chunks").is_dir() else 0
                if done >= 2:
                    os.kill(victim, signal.SIGKILL)
                    killed["done_at_kill"] = done
                    return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_when_two_chunks_done, daemon=True)
        killer.start()
        st = run_campaign(slow, out, executor="dask", client=client, retries=2, progress=False)
        killer.join(timeout=10)
    finally:  # generous timeouts: the nanny may be restarting the killed worker
        client.close(timeout=120)
        cluster.close(timeout=120)
    assert killed, "the worker was never killed"
    assert killed["done_at_kill"] <= N_CHUNKS - 2  # both workers still had chunks to do

    assert st.complete and st.done == list(range(N_CHUNKS)) and not st.corrupt

    fast = tmp_path / "fast.toml"
    fast.write_text(RECIPE.replace("DELAY", "0.0"))
    run_campaign(fast, tmp_path / "local", progress=False)
    theta, x, meta = load_dataset(out)
    theta_l, x_l, meta_l = load_dataset(tmp_path / "local")
    np.testing.assert_array_equal(meta["row"], np.arange(40))
    np.testing.assert_array_equal(theta, theta_l)
    np.testing.assert_array_equal(x, x_l)
    assert [r["sha256"] for r in meta["chunks"]] == [r["sha256"] for r in meta_l["chunks"]]
    assert campaign_status(out).complete
