"""From the local interstellar all-electron spectrum to what each experiment measured.

The model spectrum psi(E) = log10(E^3 phi) on a log-uniform energy grid becomes, at the energies
of every measured point of :mod:`crinfer.data.electrons`:

1. **Solar modulation** (force field, Gleeson & Axford 1968; one potential phi for all data, the
   electron mass neglected at E >= 30 GeV): J(E) = J_LIS(E + phi) E^2 / (E + phi)^2, so
   psi_mod(E) = psi_LIS(E + phi) + 5 log10(E / (E + phi)).
2. **Energy scale** of experiment k (E_measured = (1 + s_k) E_true): counts are conserved, so
   psi_k(E_m) = psi_mod(E_m / (1 + s_k)) + 2 log10(1 + s_k).
3. **Normalisation** of experiment k (acceptance, exposure): psi_k += log10 n_k.
4. **Errors**: Gaussian in psi with sigma = sqrt(stat^2 + sys^2) / (flux ln 10) per point,
   uncorrelated (the files give no correlations; the correlated parts are what the energy-scale
   and normalisation nuisances stand for).

psi is interpolated between grid energies with a natural cubic spline in log10 E (continuous
first and second derivatives, so that the likelihood is smooth in s and phi for NUTS; linear
interpolation kinks at every grid energy a data point crosses); data points are kept only where
E / (1 + s) - and E + phi - stay on the grid for every nuisance within 3 sigma.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from crinfer.core import ConfigurationError, Observable, ShapeError, as_key
from crinfer.data.electrons import FILES, load_spectrum

from .green import uniform_cell
from .simulator import PSI_UNIT

NUISANCE_WIDTHS = {
    # experiment: (sigma of the energy scale s, sigma of log10 n); assumed widths of the order of
    # the collaborations' quoted energy-scale and normalisation uncertainties (docs/electron_fit.md)
    "AMS-02": (0.02, 0.02),
    "DAMPE": (0.015, 0.02),
    "Fermi-LAT": (0.05, 0.02),
    "CALET": (0.02, 0.02),
    "H.E.S.S.": (0.15, 0.04),
}
PHI_PRIOR_GV = (0.6, 0.2)
"""Force-field potential prior: mean and sigma [GV], truncated at 0 (typical of 2008-2020)."""


@dataclass(frozen=True)
class ElectronData:
    """Measured points of several experiments, concatenated and sorted by experiment then energy.

    experiments: names (order of the nuisance vectors); experiment_index (N,) int: which
    experiment each point belongs to; energy_GeV, psi, sigma_psi (N,): energy, log10(E^3 flux)
    and its Gaussian error [dex].
    """

    experiments: tuple
    experiment_index: np.ndarray
    energy_GeV: np.ndarray
    psi: np.ndarray
    sigma_psi: np.ndarray

    @classmethod
    def load(cls, e_min: float, e_max: float, experiments=tuple(FILES)) -> "ElectronData":
        """The shipped spectra of ``experiments`` between e_min and e_max [GeV]."""
        unknown = [e for e in experiments if e not in FILES]
        if unknown:
            raise ConfigurationError(f"experiments {unknown} are not shipped; allowed: {sorted(FILES)}")
        parts = [(k, load_spectrum(name).within(e_min, e_max)) for k, name in enumerate(experiments)]
        parts = [(k, s) for k, s in parts if len(s.energy_GeV)]
        if not parts:
            raise ConfigurationError(f"no measured point of {list(experiments)} lies in [{e_min}, {e_max}] GeV")
        names = tuple(s.experiment for _, s in parts)
        index = np.concatenate([np.full(len(s.energy_GeV), i) for i, (_, s) in enumerate(parts)])
        cat = lambda f: np.concatenate([f(s) for _, s in parts])  # noqa: E731
        return cls(names, index, cat(lambda s: s.energy_GeV), cat(lambda s: s.psi),
                   cat(lambda s: s.total_relative_error() / math.log(10.0)))

    def __len__(self):
        return len(self.energy_GeV)


class MeasurementModel:
    """The measurement chain of the module docstring for ``data`` and a model grid.

    Args:
        grid_GeV: the log-uniform energies on which psi_LIS is given (e.g. the emulator's bins).
        data: the measurements; points whose nuisance-shifted energies may leave the grid are
            dropped (see ``margin_sigma``).
        widths: experiment -> (sigma_s, sigma_log10_n); default :data:`NUISANCE_WIDTHS`.
        phi_prior_GV: (mean, sigma) of the force-field potential.
        margin_sigma: how many sigma of the nuisances must keep a point on the grid.
    """

    def __init__(self, grid_GeV, data: ElectronData, widths=None, phi_prior_GV=PHI_PRIOR_GV, margin_sigma=3.0):
        grid = np.asarray(grid_GeV, dtype=float)
        step = np.diff(np.log10(grid))
        if grid.ndim != 1 or grid.size < 2 or np.any(step <= 0) or np.ptp(step) > 1e-6 * step.mean():
            raise ConfigurationError(f"grid_GeV={grid_GeV!r} must be increasing and uniform in log10 E")
        widths = widths or NUISANCE_WIDTHS
        missing = [e for e in data.experiments if e not in widths]
        if missing:
            raise ConfigurationError(f"no nuisance widths for {missing}; give widths[experiment] = (sigma_s, sigma_log10_n)")
        self.grid_GeV = grid
        self._spline = _natural_spline_matrix(grid.size, float(step.mean()))
        self._log10_grid_start_step = (float(np.log10(grid[0])), float(step.mean()))
        sigma_s = np.array([widths[e][0] for e in data.experiments])
        phi_max = phi_prior_GV[0] + margin_sigma * phi_prior_GV[1]
        lowest = data.energy_GeV / (1 + margin_sigma * sigma_s[data.experiment_index])
        highest = data.energy_GeV / (1 - margin_sigma * sigma_s[data.experiment_index]) + phi_max
        keep = (lowest >= grid[0]) & (highest <= grid[-1])
        experiments = tuple(e for k, e in enumerate(data.experiments) if np.any(keep & (data.experiment_index == k)))
        renumber = {data.experiments.index(e): i for i, e in enumerate(experiments)}
        index = np.array([renumber[k] for k in data.experiment_index[keep]], dtype=int)
        self.data = ElectronData(experiments, index, data.energy_GeV[keep], data.psi[keep], data.sigma_psi[keep])
        self.sigma_scale = np.array([widths[e][0] for e in experiments])
        self.sigma_log10_norm = np.array([widths[e][1] for e in experiments])
        self.phi_prior_GV = tuple(float(v) for v in phi_prior_GV)
        self._log_normaliser = float(np.sum(np.log(self.data.sigma_psi)) + 0.5 * len(self.data) * math.log(2 * math.pi))
        self.observable = Observable("psi at the measured points", (len(self.data),), PSI_UNIT,
                                     grid=self.data.energy_GeV, grid_unit="GeV")

    @property
    def experiments(self):
        return self.data.experiments

    def at_earth(self, psi_lis, phi_GV, energy_GeV):
        """psi after solar modulation (..., n) at ``energy_GeV`` (n,) or (..., n), from psi_LIS on
        the grid (..., n_grid) and the force-field potential phi [GV] (...). JAX."""
        psi_lis = jnp.asarray(psi_lis)
        if psi_lis.shape[-1] != self.grid_GeV.size:
            raise ShapeError(f"psi_lis has {psi_lis.shape[-1]} energies; the grid has {self.grid_GeV.size}")
        e_lis = energy_GeV + jnp.asarray(phi_GV)[..., None]
        interp = jnp.vectorize(self._interpolate, signature="(n),(g)->(n)")
        return interp(jnp.log10(e_lis), psi_lis) + 5.0 * jnp.log10(energy_GeV / e_lis)

    def _interpolate(self, log10_e, psi_grid):
        """The natural cubic spline through psi_grid (g,) at log10_e (n,), constant beyond the grid."""
        x0, h = self._log10_grid_start_step
        j, t = uniform_cell(log10_e, x0, h, psi_grid.size)
        curvature = self._spline @ psi_grid  # second derivatives at the nodes [dex / dex^2]
        return ((1.0 - t) * psi_grid[j] + t * psi_grid[j + 1]
                + h**2 / 6.0 * (((1.0 - t) ** 3 - (1.0 - t)) * curvature[j] + (t**3 - t) * curvature[j + 1]))

    def predict(self, psi_lis, energy_scale, log10_norm, phi_GV):
        """psi at the measured points (..., N) from psi_LIS on the grid (..., n_grid), energy
        scales s (..., K), log10 normalisations (..., K) and the potential phi [GV] (...). JAX."""
        k = jnp.asarray(self.data.experiment_index)
        s = jnp.asarray(energy_scale)[..., k]
        e_true = jnp.asarray(self.data.energy_GeV) / (1.0 + s)
        return (self.at_earth(psi_lis, phi_GV, e_true) + 2.0 * jnp.log10(1.0 + s)
                + jnp.asarray(log10_norm)[..., k])

    def log_likelihood(self, predicted):
        """Gaussian log-likelihood (...) of the measured psi given ``predicted`` (..., N)."""
        r = (jnp.asarray(self.data.psi) - predicted) / self.data.sigma_psi
        return -0.5 * jnp.sum(r**2, axis=-1) - self._log_normaliser

    def sample_nuisances(self, key, n: int):
        """n draws of (energy_scale (n, K), log10_norm (n, K), phi_GV (n,)) from their priors."""
        k1, k2, k3 = jax.random.split(as_key(key), 3)
        K = len(self.experiments)
        mean, sd = self.phi_prior_GV
        lower = -mean / sd  # truncation at phi = 0
        return (jax.random.normal(k1, (n, K)) * self.sigma_scale,
                jax.random.normal(k2, (n, K)) * self.sigma_log10_norm,
                mean + sd * jax.random.truncated_normal(k3, lower, jnp.inf, (n,)))

    def simulate(self, key, psi_lis):
        """Mock measurements (B, N): nuisances from their priors, then Gaussian errors."""
        psi_lis = jnp.asarray(psi_lis)
        k_nuisance, k_noise = jax.random.split(as_key(key))
        predicted = self.predict(psi_lis, *self.sample_nuisances(k_nuisance, psi_lis.shape[0]))
        return predicted + self.data.sigma_psi * jax.random.normal(k_noise, predicted.shape)


def _natural_spline_matrix(n: int, h: float) -> jnp.ndarray:
    """(n, n) matrix taking values on a uniform grid of step h to the second derivatives of their
    natural cubic spline (zero at both ends): M_{i-1} + 4 M_i + M_{i+1} = 6 (y_{i-1} - 2 y_i + y_{i+1}) / h^2."""
    if n < 3:
        return jnp.zeros((n, n))
    tridiagonal = 4.0 * np.eye(n - 2) + np.eye(n - 2, k=1) + np.eye(n - 2, k=-1)
    second_difference = (np.eye(n - 2, n) - 2.0 * np.eye(n - 2, n, k=1) + np.eye(n - 2, n, k=2)) * 6.0 / h**2
    interior = np.linalg.solve(tridiagonal, second_difference)
    return jnp.asarray(np.vstack([np.zeros((1, n)), interior, np.zeros((1, n))]))
