"""Quantile deviations, the held-out set's noise floor and file, and the grid-cell-centre held-out
points of the emulator evaluation."""
import numpy as np
import pytest

from crinfer.core.parameters import Parameter, ParameterSpace
from crinfer.emulators.validation import (
    QUANTILES, fraction_below, load_heldout, offset_grid_points, quantile_deviation, quantile_noise_floor, quantile_shift,
    save_heldout)


def test_quantile_deviation_of_a_shifted_copy_is_the_shift_in_the_worst_bin():
    x = np.random.default_rng(0).normal(size=(4000, 3))
    shifted = x + np.array([0.0, 0.07, -0.02])
    np.testing.assert_allclose(quantile_deviation(x, shifted), np.full(len(QUANTILES), 0.07), rtol=1e-12)
    np.testing.assert_allclose(quantile_deviation(x, x), 0.0, atol=0)
    # the signed shift per bin, emulated minus simulated
    np.testing.assert_allclose(quantile_shift(x, shifted, (0.5,)), [[0.0, 0.07, -0.02]], atol=1e-12)
    # a wider copy deviates at the tails, not at the median
    dev = quantile_deviation(x, 1.5 * x)
    assert dev[2] < 0.05 and dev[0] > 0.5 and dev[-1] > 0.5
    np.testing.assert_array_equal(fraction_below([[0.01], [0.2], [0.04]], 0.05), [2 / 3])


def test_offset_points_are_the_cell_centres_in_internal_coordinates():
    params = ParameterSpace([Parameter("a", 0.0, 1.0), Parameter("b", 1.0, 100.0, scale="log")])
    pts = offset_grid_points(params, [3, 2])
    np.testing.assert_allclose(pts, [[0.25, 10.0], [0.75, 10.0]], rtol=1e-12)
    grid = params.grid([3, 2])
    assert not any(np.allclose(p, g) for p in pts for g in grid)


def test_noise_floor_of_gaussian_bins_matches_the_sampling_distribution_of_the_median():
    """Independent unit normals in 3 bins, M = 4000 draws against 4M emulator draws: the median's
    error per bin is normal with sd sqrt(pi / 2 / M) sqrt(1 + 1/4), so the max over 3 bins of its
    modulus has median 1.265 sd ((2 Phi(t) - 1)^3 = 1/2). Averaged over 4 data sets (the bootstrap
    scatters ~7 % per set); identical bins give the one-bin floor; the same seed, the same draws."""
    m = 4000
    sd = np.sqrt(np.pi / 2 / m) * np.sqrt(1.25)
    ratios = []
    for seed in range(4):
        x = np.random.default_rng(seed).normal(size=(m, 3))
        ratios.append(np.median(quantile_noise_floor(x, 4 * m, seed=seed)) / (1.265 * sd))
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.1)
    one = x[:, :1]
    np.testing.assert_array_equal(quantile_noise_floor(np.repeat(one, 3, axis=1), 4 * m, seed=7),
                                  quantile_noise_floor(one, 4 * m, seed=7))
    # as many emulator draws as held-out ones double the variance; endless ones add nothing
    ratio = np.median(quantile_noise_floor(one, m, seed=7)) / np.median(quantile_noise_floor(one, 10**12, seed=7))
    assert ratio == pytest.approx(np.sqrt(2), rel=0.15)


def test_heldout_file_keeps_uneven_realisations_and_reads_the_older_layout(tmp_path):
    theta = np.arange(10.0).reshape(2, 5)
    sims = [np.full((3, 4), 1.0), np.full((5, 4), 2.0)]
    save_heldout(tmp_path / "held.npz", theta, sims, n_offset=1)
    got_theta, got, n_offset = load_heldout(tmp_path / "held.npz")
    np.testing.assert_array_equal(got_theta, theta)
    assert [g.shape for g in got] == [(3, 4), (5, 4)] and n_offset == 1
    np.testing.assert_array_equal(np.concatenate(got), np.concatenate(sims))
    with pytest.raises(FileExistsError, match="held.npz exists"):
        save_heldout(tmp_path / "held.npz", theta, sims, n_offset=1)
    with pytest.raises(ValueError, match="2 held-out points but 1 sets"):
        save_heldout(tmp_path / "other.npz", theta, sims[:1], n_offset=1)
    np.savez(tmp_path / "old.npz", theta=theta, x=np.zeros((2, 3, 4)), n_offset=1)
    _, old, _ = load_heldout(tmp_path / "old.npz")
    assert [o.shape for o in old] == [(3, 4), (3, 4)]
