"""Validation figures of a density emulator against held-out simulations (seed 003 section 4):
quantile deviations per parameter point and the fraction of points below a tolerance."""
from __future__ import annotations

import numpy as np

QUANTILES = (0.05, 0.16, 0.5, 0.84, 0.95)


def quantile_shift(simulated, emulated, quantiles=QUANTILES):
    """Q_emulated(q) - Q_simulated(q) per quantile and bin, shape (len(quantiles), D).

    simulated (M, D) and emulated (S, D): draws at one parameter point, in the observable's
    units (dex for psi). Empirical quantiles (linear interpolation) per bin.
    """
    q = np.asarray(quantiles)
    return np.quantile(np.asarray(emulated), q, axis=0) - np.quantile(np.asarray(simulated), q, axis=0)


def quantile_deviation(simulated, emulated, quantiles=QUANTILES):
    """max over bins of |Q_emulated(q) - Q_simulated(q)| for each q, shape (len(quantiles),)."""
    return np.max(np.abs(quantile_shift(simulated, emulated, quantiles)), axis=1)


def fraction_below(deviations, tolerance):
    """Fraction of parameter points whose deviation is below ``tolerance`` (per quantile column)."""
    return np.mean(np.asarray(deviations) < tolerance, axis=0)


def offset_grid_points(params, points_per_dim):
    """The centres of the cells of a ``params.grid(points_per_dim)`` design (every coordinate
    shifted by half a step in internal coordinates): the "diagonally offset" held-out points."""
    n = np.broadcast_to(np.asarray(points_per_dim), (len(params),))
    axes = []
    for p, k in zip(params, n):
        lo, hi = p.internal_bounds
        axes.append(lo + (np.arange(k - 1) + 0.5) * (hi - lo) / (k - 1) if k > 1 else np.array([0.5 * (lo + hi)]))
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(params))
    return np.asarray(params.from_internal(mesh))
