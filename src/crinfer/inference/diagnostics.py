"""Calibration of amortised posteriors: SBC, TARP and coverage of credible intervals.

Each check draws ``theta_i`` from the prior of ``simulator.params``, simulates ``x_i`` and
asks the posterior for samples given each ``x_i``. SBC (Talts et al. 2018, arXiv:1804.06788)
and TARP (Lemos et al. 2023, arXiv:2302.03026) are sbi 0.27's implementations
(``sbi.diagnostics.run_sbc/check_sbc/run_tarp/check_tarp``); coverage counts how often
``theta_i`` falls in the central credible interval of each marginal.

Posterior samplers:

* an sbi ``NeuralPosterior`` (NPE/NLE/NRE, ``posterior.sample_batched`` or, failing that,
  one ``sample`` per ``x``) trained on the prior ``params.sbi_prior()``, so it samples in
  *internal* coordinates (log10 of log-scale parameters);
* any callable ``sample(x, n, key) -> (n, P)`` (an analytic posterior, NUTS run by NumPyro,
  ...), given one observation ``x`` (``observable.shape``), a count and a JAX key. It
  returns *physical* values unless ``coords="internal"``.

Coordinates: all three checks run in internal coordinates. SBC ranks and central
intervals are invariant under the monotone log10 map; TARP distances are not, and are
taken where the prior is uniform (internal), after sbi's min-max scaling of theta.

Randomness: ``key`` (JAX key or int) fixes the prior draws, the simulations, the posterior
samples and sbi's torch draws (seeded from the key inside ``torch.random.fork_rng``, so the
caller's torch RNG state is left as it was).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import jax
import numpy as np
import torch

from ..core.errors import ConfigurationError, ShapeError
from ..core.rng import as_key, torch_seeded
from .plots import sbc_rank_plot, tarp_plot

__all__ = ["sbc", "tarp", "coverage", "SBCResult", "TARPResult", "CoverageResult",
           "sbc_rank_plot", "tarp_plot"]

_COORDS = ("physical", "internal")


@dataclass(frozen=True)
class SBCResult:
    """Simulation-based calibration of one posterior.

    Attributes:
        names: parameter names, the column order below.
        ranks: ``(N, P)`` rank of ``theta_i`` among ``num_posterior_samples`` posterior samples.
        ks_pvals: ``(P,)`` Kolmogorov-Smirnov p-values of rank uniformity.
        c2st_ranks: ``(P,)`` C2ST accuracy of ranks vs uniform draws (0.5: uniform).
        c2st_dap: ``(P,)`` C2ST accuracy of the data-averaged posterior vs the prior (0.5: equal).
        num_posterior_samples: samples per observation used for ranking.
    """

    names: tuple[str, ...]
    ranks: np.ndarray
    ks_pvals: np.ndarray
    c2st_ranks: np.ndarray
    c2st_dap: np.ndarray
    num_posterior_samples: int

    def as_dict(self) -> dict:
        """Per-parameter summary numbers, JSON-serialisable."""
        return {n: {"ks_pval": float(self.ks_pvals[j]), "c2st_ranks": float(self.c2st_ranks[j]),
                    "c2st_dap": float(self.c2st_dap[j])} for j, n in enumerate(self.names)}

    def plot(self, path=None, plot_type: str = "hist"):
        """Rank histograms (or empirical CDFs) with the band expected under uniformity."""
        return sbc_rank_plot(self.ranks, self.num_posterior_samples, names=self.names,
                             plot_type=plot_type, path=path)


@dataclass(frozen=True)
class TARPResult:
    """TARP expected coverage of one posterior.

    Attributes:
        ecp: expected coverage probability at each credibility level ``alpha``.
        alpha: credibility levels, from 0 to 1.
        atc: area between ``ecp`` and the diagonal for ``alpha >= 0.5``: ~0 when calibrated,
            < 0 for over-confident (too narrow), > 0 for under-confident (too wide) posteriors.
        ks_pvalue: sbi's two-sample KS p-value between ``ecp`` and ``alpha``.
    """

    ecp: np.ndarray
    alpha: np.ndarray
    atc: float
    ks_pvalue: float

    def as_dict(self) -> dict:
        return {"atc": self.atc, "ks_pvalue": self.ks_pvalue}

    def plot(self, path=None, label: str = "TARP"):
        """Expected coverage against credibility level, with the diagonal."""
        return tarp_plot(self.ecp, self.alpha, atc=self.atc, label=label, path=path)


@dataclass(frozen=True)
class CoverageResult:
    """Empirical coverage of central credible intervals.

    Attributes:
        names: parameter names (columns of ``empirical``).
        levels: ``(L,)`` nominal credibility levels.
        empirical: ``(L, P)`` fraction of runs whose true value lies in the interval.
        num_runs: number of (theta, x) pairs.
    """

    names: tuple[str, ...]
    levels: np.ndarray
    empirical: np.ndarray
    num_runs: int

    @property
    def stderr(self) -> np.ndarray:
        """``(L,)`` binomial standard error of a calibrated coverage, sqrt(l (1 - l) / N)."""
        return np.sqrt(self.levels * (1.0 - self.levels) / self.num_runs)

    def as_dict(self) -> dict:
        return {n: {f"{lv:g}": float(self.empirical[i, j]) for i, lv in enumerate(self.levels)}
                for j, n in enumerate(self.names)}


def sbc(posterior_sampler, simulator, key, num_sbc_runs: int = 200,
        num_posterior_samples: int = 1000, *, coords: str = "physical",
        c2st_checks: bool = True, num_c2st_repetitions: int = 1,
        show_progress_bar: bool = False) -> SBCResult:
    """Simulation-based calibration (Talts et al. 2018) through sbi's ``run_sbc``/``check_sbc``.

    Args:
        posterior_sampler: sbi ``NeuralPosterior`` or callable ``sample(x, n, key) -> (n, P)``.
        simulator: a crinfer ``Simulator``; its ``params`` give the prior.
        key: JAX key or int seed.
        num_sbc_runs: number of (theta, x) pairs (sbi recommends hundreds).
        num_posterior_samples: posterior samples per x used for the ranks.
        coords: ``"physical"`` or ``"internal"``: what a callable sampler returns.
        c2st_checks: also run sbi's C2STs (ranks vs uniform, data-averaged posterior vs
            prior; random forests, ~1 s per parameter and test on one core); NaN when False.
        num_c2st_repetitions: repetitions of the rank-vs-uniform C2ST.
    """
    from sbi.diagnostics import check_sbc, run_sbc
    from sbi.diagnostics.sbc import check_uniformity_frequentist

    theta, x, posterior, k_torch = _prepare(posterior_sampler, simulator, key, num_sbc_runs,
                                            num_posterior_samples, coords)
    with torch.random.fork_rng(devices=[]):
        torch_seeded(k_torch)
        ranks, dap = run_sbc(theta, x, posterior, num_posterior_samples=num_posterior_samples,
                             show_progress_bar=show_progress_bar)
        if c2st_checks:
            checks = check_sbc(ranks, theta, dap, num_posterior_samples=num_posterior_samples,
                               num_c2st_repetitions=num_c2st_repetitions)
        else:
            nan = torch.full((ranks.shape[1],), float("nan"))
            checks = {"ks_pvals": check_uniformity_frequentist(ranks, num_posterior_samples),
                      "c2st_ranks": nan, "c2st_dap": nan}
    return SBCResult(
        names=tuple(simulator.params.names),
        ranks=ranks.numpy().astype(int),
        ks_pvals=checks["ks_pvals"].numpy().astype(float),
        c2st_ranks=checks["c2st_ranks"].numpy().astype(float).reshape(-1),
        c2st_dap=checks["c2st_dap"].numpy().astype(float).reshape(-1),
        num_posterior_samples=int(num_posterior_samples),
    )


def tarp(posterior_sampler, simulator, key, num_tarp_runs: int = 200,
         num_posterior_samples: int = 1000, *, coords: str = "physical",
         num_bins: int | None = None, z_score_theta: bool = True,
         show_progress_bar: bool = False) -> TARPResult:
    """TARP expected coverage (Lemos et al. 2023) through sbi's ``run_tarp``/``check_tarp``.

    Reference points are sbi's default (uniform over the range of the true thetas).
    ``num_bins`` defaults to ``num_tarp_runs // 10``. Other arguments as in :func:`sbc`.
    """
    from sbi.diagnostics import check_tarp, run_tarp

    theta, x, posterior, k_torch = _prepare(posterior_sampler, simulator, key, num_tarp_runs,
                                            num_posterior_samples, coords)
    with torch.random.fork_rng(devices=[]):
        torch_seeded(k_torch)
        ecp, alpha = run_tarp(theta, x, posterior, num_posterior_samples=num_posterior_samples,
                              num_bins=num_bins, z_score_theta=z_score_theta,
                              show_progress_bar=show_progress_bar)
    atc, ks_pvalue = check_tarp(ecp.cpu(), alpha.cpu())
    return TARPResult(ecp=ecp.cpu().numpy().astype(float), alpha=alpha.cpu().numpy().astype(float),
                      atc=float(atc), ks_pvalue=float(ks_pvalue))


def coverage(posterior_sampler, simulator, key, num_runs: int = 200,
             num_posterior_samples: int = 1000, *,
             levels=(0.5, 0.68, 0.9, 0.95), coords: str = "physical") -> CoverageResult:
    """Empirical coverage of central credible intervals, per parameter.

    For each run the interval at level ``l`` spans the ``(1 - l)/2`` and ``(1 + l)/2``
    quantiles of the posterior samples of one marginal; a calibrated posterior covers the
    true value in a fraction ``l`` of runs, within ``CoverageResult.stderr``.
    Other arguments as in :func:`sbc`.
    """
    from sbi.utils.diagnostics_utils import get_posterior_samples_on_batch

    lv = np.asarray(levels, dtype=float).reshape(-1)
    if lv.size == 0 or not np.all((lv > 0) & (lv < 1)):
        raise ConfigurationError(f"coverage levels must lie in (0, 1), got {list(levels)!r}")
    theta, x, posterior, k_torch = _prepare(posterior_sampler, simulator, key, num_runs,
                                            num_posterior_samples, coords)
    with torch.random.fork_rng(devices=[]):
        torch_seeded(k_torch)
        samples = get_posterior_samples_on_batch(x, posterior, (num_posterior_samples,))
    s = samples.detach().cpu().numpy().astype(float)  # (n, N, P)
    t = theta.cpu().numpy().astype(float)  # (N, P)
    lo = np.quantile(s, (1.0 - lv) / 2.0, axis=0)  # (L, N, P)
    hi = np.quantile(s, (1.0 + lv) / 2.0, axis=0)
    covered = (lo <= t) & (t <= hi)
    return CoverageResult(names=tuple(simulator.params.names), levels=lv,
                          empirical=covered.mean(axis=1), num_runs=int(t.shape[0]))


# -- shared machinery -------------------------------------------------------------------

class _CallablePosterior:
    """Gives a ``sample(x, n, key)`` callable sbi's ``sample_batched`` interface.

    Returns ``(n, B, P)`` float64 tensors in internal coordinates; observation ``b`` gets
    the key ``fold_in(key, b)`` (one compiled op whatever the batch size).
    """

    def __init__(self, sample: Callable, params, key, coords: str, x_shape: tuple[int, ...]):
        self._sample, self._params, self._key = sample, params, key
        self._coords, self._x_shape = coords, x_shape

    def sample_batched(self, sample_shape, x, show_progress_bars: bool = False):
        n = int(np.prod(sample_shape))
        out = []
        for i, xi in enumerate(x):
            xi = xi.detach().cpu().numpy().astype(float).reshape(self._x_shape)
            arr = _to_numpy(self._sample(xi, n, jax.random.fold_in(self._key, i)))
            if arr.shape != (n, len(self._params)):
                raise ShapeError(
                    f"posterior sampler must return ({n}, {len(self._params)}) samples for "
                    f"sample(x, {n}, key), got {arr.shape}"
                )
            out.append(self._params.to_internal(arr) if self._coords == "physical" else arr)
        s = torch.as_tensor(np.stack(out, axis=1), dtype=torch.float64)
        return s.reshape(*sample_shape, len(x), len(self._params))


def _prepare(posterior_sampler, simulator, key, num_runs, num_posterior_samples, coords):
    """Prior draws, simulations and a sampler with ``sample_batched``, all internal coords."""
    from sbi.inference.posteriors.base_posterior import NeuralPosterior

    if coords not in _COORDS:
        raise ConfigurationError(f"coords must be one of {_COORDS}, got {coords!r}")
    for name, n in (("number of runs", num_runs), ("num_posterior_samples", num_posterior_samples)):
        if not isinstance(n, (int, np.integer)) or n < 2:
            raise ConfigurationError(f"{name} must be an integer >= 2, got {n!r}")
    params = simulator.params
    k_prior, k_sim, k_post, k_torch = jax.random.split(as_key(key), 4)
    theta = params.sample_prior(k_prior, int(num_runs))
    x = _to_numpy(simulator.simulate(k_sim, theta))
    shape = tuple(simulator.observable.shape)
    if x.shape != (len(theta), *shape):
        raise ShapeError(f"simulator returned {x.shape}, expected {(len(theta), *shape)}")
    ok = np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if not ok.all():
        if not ok.any():
            raise ConfigurationError(f"all {len(x)} simulations contain NaN or inf")
        warnings.warn(f"dropping {int((~ok).sum())} of {len(x)} simulations with NaN or inf",
                      stacklevel=3)
        theta, x = theta[ok], x[ok]
    u = params.to_internal(theta)
    if isinstance(posterior_sampler, NeuralPosterior):
        return (torch.as_tensor(u, dtype=torch.float32), torch.as_tensor(x, dtype=torch.float32),
                posterior_sampler, k_torch)
    if not callable(posterior_sampler):
        raise ConfigurationError(
            "posterior_sampler must be an sbi NeuralPosterior or a callable sample(x, n, key) "
            f"-> (n, P), got {type(posterior_sampler).__name__}"
        )
    wrapped = _CallablePosterior(posterior_sampler, params, k_post, coords, shape)
    return (torch.as_tensor(u, dtype=torch.float64), torch.as_tensor(x, dtype=torch.float64),
            wrapped, k_torch)


def _to_numpy(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=float)
