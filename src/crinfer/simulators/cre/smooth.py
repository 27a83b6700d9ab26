"""The smooth-source mean spectrum as a JAX function of theta: the ensemble mean of the Monte
Carlo without its stochasticity, for fits that ignore it (and to compare with those that don't).

Same integral as :func:`crinfer.simulators.cre.expectation.expected_psi` (the Green's function
integrated over the source density and uniform ages), evaluated on a fixed quadrature so that it
is traceable and differentiable in theta for NUTS: per observed energy E a uniform grid in
u = sqrt(ln E0/E) from 0 to the initial energy reached after t_max, the age t(u) and the
loss-weighted path l^2(u) as cumulative trapezoids of dt/du = 2 u E0/b(E0) and kappa(E0) dt/du,
and the distance integral on shells of constant surface density (the planar Gaussian integrates
exactly over a shell, with the causal cut c t >= s in the upper limit). The age grid does not
depend on theta and is built once; kappa0, delta, gamma, E_cut enter through l^2 and Q(E0);
R_SN only scales the number of sources, so psi is linear in log10 R_SN.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from crinfer.core import ConfigurationError, Observable, check_batch
from crinfer.physics import constants as C

from .expectation import shell_densities
from .green import slab_factor, uniform_cell
from .simulator import _FLUX_FACTOR, KAPPA_UNIT, PARAMETERS, PSI_UNIT, RATE_UNIT, CREConfig, log_source_spectrum


class SmoothMeanSpectrum:
    """psi(E) = log10(E^3 <phi>) [log10(GeV^2 m^-2 s^-1 sr^-1)] of the smooth source density.

    Args:
        config: the Monte Carlo's :class:`CREConfig` (energies, losses, t_max, z_max, distribution).
        params: parameter space of theta = (R_SN, log10_E_cut, gamma, delta, kappa0).
        n_nodes: quadrature nodes in u per energy.
        n_shells: distance shells of the spiral-arm density (one shell for the uniform disc).
    """

    def __init__(self, config: CREConfig | None = None, params=PARAMETERS, n_nodes: int = 384, n_shells: int = 100):
        if n_nodes < 16 or n_shells < 1:
            raise ConfigurationError(f"n_nodes={n_nodes!r} must be >= 16 and n_shells={n_shells!r} >= 1")
        self.config = config or CREConfig()
        self.params = params
        E = np.asarray(self.config.energies_GeV)
        self.observable = Observable("psi = log10(E^3 <phi>)", (E.size,), PSI_UNIT, grid=E, grid_unit="GeV")
        edges, w = shell_densities(self.config, n_shells=n_shells)
        self._ct_grid = (math.log(_CT_MIN_KPC), math.log(self.config.s_max_kpc), _N_CT)
        self._ln_H = jnp.asarray(_log_shell_table(edges, w, self._ct_grid))
        grid = _age_grid(self.config, E, n_nodes)
        self._u, self._E0, self._dt_du = (jnp.asarray(v) for v in grid[:3])
        self._ln_ct = jnp.asarray(np.log(np.clip(grid[3], _CT_MIN_KPC, self.config.s_max_kpc)))
        self._log_prefactor = jnp.asarray(np.log(_FLUX_FACTOR * E**3 * RATE_UNIT / grid[4]))
        self._psi = jax.jit(jnp.vectorize(self._psi_row, signature="(p)->(e)"))

    def psi(self, theta):
        """(..., 5) physical theta -> (..., n_E) psi. JAX: jit, grad and vmap through it."""
        if not isinstance(theta, jax.core.Tracer):
            check_batch(np.atleast_2d(np.asarray(theta)), self.params)
        return self._psi(jnp.asarray(theta))

    def _psi_row(self, theta_row):
        R_SN, delta, kappa0 = theta_row[0], theta_row[3], theta_row[4] * KAPPA_UNIT
        log_Q = log_source_spectrum(theta_row, self.config.source_energy_erg / C.GEV_ERG)
        dl2_du = kappa0 * self._E0**delta * self._dt_du
        du = self._u[:, 1:2] - self._u[:, :1]
        l2 = jnp.concatenate([jnp.zeros_like(du), jnp.cumsum(0.5 * (dl2_du[:, 1:] + dl2_du[:, :-1]) * du, axis=1)], 1)
        positive = l2 > 0
        ln_l2 = jnp.log(jnp.where(positive, l2, 1.0))  # the double where keeps gradients finite at u = 0
        ln_shells = _linear_cubic(self._ln_H, self._ct_grid, self._ln_ct, _LN_L2, ln_l2)
        integrand = 2.0 * self._u * self._E0 * slab_factor(jnp.exp(ln_l2), self.config.z_max_kpc) * jnp.exp(
            log_Q(jnp.log(self._E0)) + ln_shells)
        integrand = jnp.where(positive, integrand, 0.0)
        integral = jnp.sum(0.5 * (integrand[:, 1:] + integrand[:, :-1]), axis=1) * du[:, 0]
        return (self._log_prefactor + jnp.log(R_SN * integral)) / math.log(10.0)


def _age_grid(config: CREConfig, E, n_nodes, n_fine=20_001):
    """Per energy (rows): the u grid, E0(u) [GeV], dt/du [Myr], c t(u) [kpc] on n_nodes points from
    u = 0 to the u where t = t_max (or E0 = 1e8 GeV), and the loss rate b(E) [GeV/Myr].

    t(u) on the final grid is integrated on a fine grid first (n_fine points, trapezoid) and
    interpolated, so that the age cut t = t_max falls on the last node."""
    loss_rate = jax.jit(config.loss_rate)
    b = lambda e: np.asarray(loss_rate(jnp.asarray(e)))  # noqa: E731

    def initial_energy_and_dt_du(E_j, u):
        E0 = E_j * np.exp(u**2)
        return E0, 2.0 * u * E0 / b(E0)

    rows = []
    for E_j in E:
        u_top = math.sqrt(math.log(1e8 / E_j))
        u_fine = np.linspace(0.0, u_top, n_fine)
        dt_fine = initial_energy_and_dt_du(E_j, u_fine)[1]
        t_fine = np.concatenate([[0.0], np.cumsum(0.5 * (dt_fine[1:] + dt_fine[:-1]) * np.diff(u_fine))])
        u_max = float(np.interp(config.t_max_Myr, t_fine, u_fine)) if t_fine[-1] > config.t_max_Myr else u_top
        u = np.linspace(0.0, u_max, n_nodes)
        rows.append((u, *initial_energy_and_dt_du(E_j, u), C.C_KPC_MYR * np.interp(u, u_fine, t_fine)))
    u, E0, dt_du, ct = (np.stack(col) for col in zip(*rows))
    return u, E0, dt_du, ct, b(E)


_CT_MIN_KPC, _N_CT = 1e-6, 513
"""The shell table's grid in ln(c t / kpc): 513 points from ln 1e-6 to ln s_max (beyond: no cut)."""
_LN_L2 = (math.log(1e-8), math.log(1e5), 1025)
"""Grid of ln(l^2 / kpc^2) of the shell table: start, end, points."""


def _log_shell_table(edges, w, ct_grid):
    """ln H(c t, l^2) on the (ct_grid, _LN_L2) grid, H = sum_k w_k [exp(-a_k^2/4l^2) -
    exp(-min(b_k, c t)^2/4l^2)]_+ [kpc^-2]: the planar Gaussian integrated over the source
    density within the causal horizon. Interpolated on this grid in (ln c t, ln l^2) (both
    limits, c t << l and c t >> l, are linear in the logarithms)."""
    l2 = np.exp(np.linspace(*_LN_L2))[:, None]
    a, b = edges[:-1], edges[1:]
    rows = []
    for ct in np.exp(np.linspace(*ct_grid)):
        upper = np.clip(ct, a, b)
        rows.append((-np.exp(-a**2 / (4 * l2)) * np.expm1(-(upper**2 - a**2) / (4 * l2))) @ w)
    return np.log(np.maximum(np.stack(rows), 1e-300))


def _linear_cubic(table, y_grid, y, x_grid, x):
    """table[(y - y0)/dy, (x - x0)/dx]: linear in y, Catmull-Rom cubic in x, clamped at the edges;
    y, x broadcast. x (ln l^2) carries theta: a cubic keeps d psi / d theta continuous, where
    linear interpolation would jump at every table node that l^2 crosses (kinks that make
    NUTS's trajectories lose energy; docs/electron_fit.md). The 2 x 4 table values come from one
    gather on the flattened table (a third cheaper than two row-and-column gathers)."""
    step = lambda grid: (grid[1] - grid[0]) / (grid[2] - 1)
    i, wy = uniform_cell(y, y_grid[0], step(y_grid), table.shape[0])
    j, w = uniform_cell(x, x_grid[0], step(x_grid), table.shape[1])
    n = table.shape[1]
    cols = jnp.clip(j[..., None] + jnp.arange(-1, 3), 0, n - 1)
    rows = i[..., None] * n
    values = table.reshape(-1)[jnp.concatenate([rows + cols, rows + n + cols], axis=-1)]
    w, wy = w[..., None], wy[..., None]
    weights = jnp.concatenate([((2.0 - w) * w - 1.0) * w, (3.0 * w - 5.0) * w * w + 2.0,
                               ((4.0 - 3.0 * w) * w + 1.0) * w, (w - 1.0) * w * w], axis=-1) / 2.0
    return jnp.sum(values * jnp.concatenate([weights * (1.0 - wy), weights * wy], axis=-1), axis=-1)
