"""experiments/secret_eval.py: the held-out Monte Carlo is stored and read back unchanged;
experiments/secret_heldout_deepen.py adds new draws where its noise is large."""
import argparse
from pathlib import Path

import numpy as np
import pytest

from crinfer.emulators.validation import load_heldout, save_heldout
from crinfer.simulators.cre import PARAMETERS, CREConfig, CRESimulator


def test_heldout_simulations_are_written_once_and_read_back(tmp_path, experiment_module):
    """First call simulates (a cell centre first, then a prior draw) and writes the NPZ; a second
    call with other sizes reads the same draws instead of simulating."""
    mod = experiment_module("secret_eval")
    args = argparse.Namespace(key=0, heldout_sims=tmp_path / "held.npz")
    size = {"grid_points_per_dim": 2, "heldout_points": 2, "heldout_realisations": 3}
    sim = CRESimulator(CREConfig(), PARAMETERS)
    theta, x, n_offset = mod.heldout_set(args, size, sim)
    assert theta.shape == (2, 5) and [xi.shape for xi in x] == [(3, 19)] * 2 and n_offset == 1
    assert np.all(np.isfinite(x))
    centre = [(p.internal_bounds[0] + p.internal_bounds[1]) / 2 for p in PARAMETERS]
    np.testing.assert_allclose(np.asarray(PARAMETERS.to_internal(theta[0])), centre, rtol=1e-12)
    again = mod.heldout_set(args, {**size, "heldout_points": 50}, None)
    np.testing.assert_array_equal(again[0], theta)
    np.testing.assert_array_equal(np.stack(again[1]), np.stack(x))
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


def test_deepening_adds_new_draws_only_where_the_noise_floor_is_above_target(tmp_path, experiment_module):
    """Unit-normal bins at M draws have a median noise floor ~0.6745 sqrt(pi/2/M) sqrt(1.25) dex:
    0.030 at M = 1000, so a 0.015 target asks ~4x the draws (rounded up to a thousand, capped).
    End to end on two CRE points: the point already below target is untouched, the other gains
    realisations drawn with new keys, the input file is kept and an existing output refused."""
    mod = experiment_module("secret_heldout_deepen")
    x = np.random.default_rng(0).normal(size=(1000, 1))
    floor, n = mod.realisations_needed(x, 0.015, cap=10_000, seed=0)
    assert 0.024 < floor < 0.036 and 3000 <= n <= 6000 and n % 1000 == 0
    assert mod.realisations_needed(x, 0.015, cap=2500, seed=0)[1] == 2500
    assert mod.realisations_needed(x, 1.0, cap=10_000, seed=0)[1] == 1000

    sim = CRESimulator(CREConfig(), PARAMETERS)
    theta = PARAMETERS.sample_prior(1, 2)
    quiet = np.zeros((8, 19))  # no scatter: floor 0
    noisy = np.asarray(sim.simulate_many(0, theta[1], 8, batch=8))
    save_heldout(tmp_path / "held.npz", theta, [quiet, noisy], n_offset=1)
    mod.main([str(tmp_path / "held.npz"), str(tmp_path / "deep.npz"), "--target-floor", "1e-6",
              "--max-realisations", "11"])
    _, deep, n_offset = load_heldout(tmp_path / "deep.npz")
    assert [len(d) for d in deep] == [8, 11] and n_offset == 1
    np.testing.assert_array_equal(deep[0], quiet)
    np.testing.assert_array_equal(deep[1][:8], noisy)
    assert not np.any(np.all(np.isclose(deep[1][8:, None], noisy[None]), axis=-1))
    assert [len(s) for s in load_heldout(tmp_path / "held.npz")[1]] == [8, 8]
    with pytest.raises(SystemExit):
        mod.main([str(tmp_path / "held.npz"), str(tmp_path / "deep.npz")])
