"""Validation figures of a density emulator against held-out simulations (seed 003 section 4):
quantile deviations per parameter point, the fraction of points below a tolerance, the
deviation an exact emulator would show through the held-out set's own Monte Carlo noise, and the
held-out set's file (points may carry different numbers of realisations)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from crinfer.core.errors import ConfigurationError

QUANTILES = (0.05, 0.16, 0.5, 0.84, 0.95)
EMULATED_PER_HELDOUT = 4  # emulator draws per held-out realisation when a quantile is compared


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


def quantile_noise_floor(simulated, n_emulated, quantile=0.5, seed=0, n_boot=400):
    """Draws of max over bins of |dQ| that an exact emulator would score against ``simulated``.

    simulated (M, D): the held-out draws at one point; n_emulated: the emulator draws compared
    with them. The simulated quantile's error vector (all bins together, so their correlation is
    kept) is bootstrapped; an exact emulator's own error has the same shape scaled by
    sqrt(M / n_emulated). Returns (n_boot,) deviations in the observable's units; their median is
    the point's noise floor, their fraction below a tolerance the chance an exact emulator passes.
    """
    x = np.asarray(simulated)
    m = len(x)
    rng = np.random.default_rng(seed)
    centre = np.quantile(x, quantile, axis=0)
    errors = np.stack([np.quantile(x[rng.integers(0, m, m)], quantile, axis=0) - centre for _ in range(2 * n_boot)])
    total = errors[:n_boot] + np.sqrt(m / n_emulated) * errors[n_boot:]
    return np.max(np.abs(total), axis=1)


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


def save_heldout(path, theta, sims, n_offset):
    """Write held-out simulations: theta (K, P), sims a list of K arrays (M_k, D) (M_k may differ),
    the first ``n_offset`` points grid-cell centres. Refuses to overwrite an existing file."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"held-out set {path} exists; give a new path (nothing is overwritten)")
    if len(sims) != len(theta):
        raise ConfigurationError(f"{len(theta)} held-out points but {len(sims)} sets of simulations")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, theta=np.asarray(theta), x=np.concatenate(sims),
             realisations=np.array([len(s) for s in sims]), n_offset=int(n_offset))


def load_heldout(path):
    """(theta (K, P), list of K arrays (M_k, D), n_offset) from :func:`save_heldout`'s file or the
    older layout with one x of shape (K, M, D)."""
    data = np.load(path)
    theta, x = data["theta"], data["x"]
    if "realisations" in data:
        sims = np.split(x, np.cumsum(data["realisations"])[:-1])
    else:
        sims = list(x)
    return theta, sims, int(data["n_offset"])
