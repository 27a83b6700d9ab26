"""experiments/secret_eval.py: the held-out Monte Carlo is stored and read back unchanged."""
import argparse
from pathlib import Path

import numpy as np
import pytest

from crinfer.simulators.cre import PARAMETERS, CREConfig, CRESimulator


def test_heldout_simulations_are_written_once_and_read_back(tmp_path, experiment_module):
    """First call simulates (a cell centre first, then a prior draw) and writes the NPZ; a second
    call with other sizes reads the same draws instead of simulating."""
    mod = experiment_module("secret_eval")
    args = argparse.Namespace(key=0, heldout_sims=tmp_path / "held.npz")
    size = {"grid_points_per_dim": 2, "heldout_points": 2, "heldout_realisations": 3}
    sim = CRESimulator(CREConfig(), PARAMETERS)
    theta, x, n_offset = mod.heldout_set(args, size, sim)
    assert theta.shape == (2, 5) and x.shape == (2, 3, 19) and n_offset == 1 and np.all(np.isfinite(x))
    centre = [(p.internal_bounds[0] + p.internal_bounds[1]) / 2 for p in PARAMETERS]
    np.testing.assert_allclose(np.asarray(PARAMETERS.to_internal(theta[0])), centre, rtol=1e-12)
    again = mod.heldout_set(args, {**size, "heldout_points": 50}, None)
    np.testing.assert_array_equal(again[0], theta)
    np.testing.assert_array_equal(again[1], x)
    assert again[2] == 1


def test_speed_only_times_a_shipped_artifact_in_both_precisions(tmp_path, experiment_module, capsys):
    """--speed-only (the GPU row of docs/benchmarks.md) writes positive times for draws and log
    densities in float64 and float32, scaled to 1e6; without --secret it is refused by name."""
    mod = experiment_module("secret_eval")
    secret = Path(__file__).resolve().parents[1] / "emulators" / "secret_cpu"
    out = mod.main(["--speed-only", "--secret", str(secret), "--timing-n", "500", "--out", str(tmp_path)])
    assert out["timing_measured_on"] == 500 and out["sample_1e6_s"] == out["sample_1e6_s_float64"]
    for key in ("sample_1e6_s_float64", "logprob_1e6_s_float64", "sample_1e6_s_float32", "logprob_1e6_s_float32"):
        assert 0 < out[key] < 1e5
    assert (tmp_path / "summary.json").exists()
    with pytest.raises(SystemExit):
        mod.main(["--speed-only", "--out", str(tmp_path)])
    assert "--secret" in capsys.readouterr().err
