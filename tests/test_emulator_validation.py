"""Quantile deviations and the grid-cell-centre held-out points of the emulator evaluation."""
import numpy as np

from crinfer.core.parameters import Parameter, ParameterSpace
from crinfer.emulators.validation import QUANTILES, fraction_below, offset_grid_points, quantile_deviation, quantile_shift


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
