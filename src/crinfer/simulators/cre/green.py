"""Green's function of electron transport with energy losses, for sources in the Galactic plane.

Solves 0 = dn/dt - kappa(E) Lap n + d/dE (b n) - q with kappa = kappa0 (E/GeV)^delta and the
loss rate b(E) = -dE/dt > 0 from :mod:`crinfer.physics.losses` (seed 003 eqs 2.5-2.10, after
Mertsch 2018). An electron observed at energy E after a time t left its source at E0 with
tau(E, E0) = int_E^E0 dE'/b = t; it diffused over l^2(E, E0) = int_E^E0 kappa/b dE'.

Both integrals come from cumulative tables on a log-energy grid (:class:`LossTables`), so one
source costs two interpolations. Units: E [GeV], t [Myr], lengths [kpc], kappa [kpc^2/Myr],
b [GeV/Myr]; densities n [GeV^-1 kpc^-3] per unit source spectrum Q [GeV^-1].
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

N_TERMS = 6
"""Terms kept in the image (l < z_max) or eigenmode (l >= z_max) series of the slab factor;
either series has converged to < 1e-15 relative by then."""


def uniform_cell(x, x0, dx, n: int):
    """(i, w): the cell [x0 + i dx, x0 + (i+1) dx] of a uniform grid of n nodes holding x, and
    x's weight on node i + 1 (clamped at both ends); no search."""
    f = jnp.clip((x - x0) / dx, 0.0, n - 1.0)
    i = jnp.minimum(jnp.floor(f).astype(jnp.int32), n - 2)
    return i, f - i


def _uniform_interp(x, x0, dx, y):
    """Linear interpolation of y sampled at x0 + i dx (clamped at both ends)."""
    i, w = uniform_cell(x, x0, dx, y.shape[-1])
    return y[i] * (1.0 - w) + y[i + 1] * w


def slab_factor(l2, z_max, xp=jnp):
    """Vertical factor [kpc^-1] for source and observer at z = 0 between absorbing boundaries at
    +-z_max: (4 pi l^2)^{-1/2} sum_n (-1)^n exp(-(n z_max)^2 / l^2) (image charges, seed 003 eq
    2.7), evaluated through its eigenmode form (1/z_max) sum_m exp(-((2m+1) pi/(2 z_max))^2 l^2)
    where l >= z_max, since the image series converges slowly there. The terms of either series
    are powers q^(n^2) or q^((2m+1)^2) of one exponential, formed by products (two exps in all,
    not 2 N_TERMS: the smooth fit's cost). ``xp=numpy`` evaluates it without JAX."""
    l2 = xp.maximum(xp.asarray(l2), 1e-300)
    images = 1.0 + 2.0 * _squared_power_sum(xp.exp(-z_max**2 / l2), odd=False, alternating=True)
    modes = _squared_power_sum(xp.exp(-(xp.pi / (2.0 * z_max)) ** 2 * l2), odd=True, alternating=False) / z_max
    return xp.where(l2 < z_max**2, images / xp.sqrt(4.0 * xp.pi * l2), modes)


def _squared_power_sum(q, *, odd: bool, alternating: bool):
    """sum_k s_k q^(j_k^2) over N_TERMS values j_k = 1, 2, 3, ... (odd=False) or 1, 3, 5, ...
    (odd=True), s_k = (-1)^j_k if alternating else 1; by products: q^(j^2) -> q^((j+d)^2) is one
    multiplication by q^(2 j d + d^2), which grows by the factor q^(2 d^2) each step."""
    d = 2 if odd else 1
    term, ratio, ratio_growth = q, q ** (2 * d + d * d), q ** (2 * d * d)
    total = -term if alternating else term
    for j in range(1 + d, 1 + d * N_TERMS, d):
        term = term * ratio
        ratio = ratio * ratio_growth
        total = total + (-term if alternating and j % 2 else term)
    return total


_SLAB_X = np.linspace(-8.0, 5.0, 4097)
"""Grid in x = ln(l^2 / z_max^2) of the tabulated slab correction (below: 1 to 1e-15; above: < e^-360)."""
_SLAB_LOG_CORRECTION = np.log(slab_factor(np.exp(_SLAB_X), 1.0, xp=np) * np.sqrt(4.0 * np.pi * np.exp(_SLAB_X)))


def log_slab_correction(l2, z_max):
    """ln[slab_factor(l^2, z_max) (4 pi l^2)^{1/2}], tabulated in ln(l^2/z_max^2) (error < 1.5e-5 relative)."""
    x = jnp.log(l2 / z_max**2)
    return _uniform_interp(x, _SLAB_X[0], _SLAB_X[1] - _SLAB_X[0], jnp.asarray(_SLAB_LOG_CORRECTION))


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class LossTables:
    """Cumulative loss integrals on a uniform grid in ln E [GeV] starting at ln_E_min.

    tau[j] = int_{E_j}^{E_top} dE/b [Myr] and lam[j] = int_{E_j}^{E_top} kappa/b dE [kpc^2]
    (E_top = last grid energy; both fall to 0 there); ln_b = ln b(E_j) [GeV/Myr]. For the
    inverse E0(tau), ln E is also tabulated on a uniform grid in ln tau (ln_E_of_ln_tau, from
    ln_tau_min in steps d_ln_tau). Uniform grids make every lookup O(1).
    """

    ln_E_min: jax.Array
    d_ln_E: jax.Array
    ln_b: jax.Array
    tau: jax.Array
    lam: jax.Array
    ln_tau_min: jax.Array
    d_ln_tau: jax.Array
    ln_E_of_ln_tau: jax.Array

    @classmethod
    def build(cls, loss_rate, kappa0, delta, E_min=1.0, E_max=1.0e8, n=4097):
        """Tables for ``loss_rate(E) -> b`` [GeV/Myr] and kappa = kappa0 (E/GeV)^delta [kpc^2/Myr].

        Trapezoid rule in ln E on ``n`` points (relative error ~1e-6 at the defaults; checked
        against adaptive quadrature in the tests). JAX-traceable in kappa0 and delta.
        """
        ln_E = jnp.linspace(np.log(E_min), np.log(E_max), n)
        E = jnp.exp(ln_E)
        b = loss_rate(E)
        dln = ln_E[1] - ln_E[0]

        def tail_integral(f):  # int_{E_j}^{E_top} f dE, f sampled on the grid
            g = f * E
            seg = 0.5 * (g[1:] + g[:-1]) * dln
            return jnp.concatenate([jnp.cumsum(seg[::-1])[::-1], jnp.zeros(1)])

        tau = tail_integral(1.0 / b)
        lam = tail_integral(kappa0 * E**delta / b)
        ln_tau = jnp.log(tau[:-1])[::-1]  # ascending, E_top excluded (tau = 0 there)
        ln_tau_grid = jnp.linspace(ln_tau[0], ln_tau[-1], n)
        ln_E_of_ln_tau = jnp.interp(ln_tau_grid, ln_tau, ln_E[:-1][::-1])
        return cls(ln_E_min=ln_E[0], d_ln_E=dln, ln_b=jnp.log(b), tau=tau, lam=lam,
                   ln_tau_min=ln_tau_grid[0], d_ln_tau=ln_tau_grid[1] - ln_tau_grid[0],
                   ln_E_of_ln_tau=ln_E_of_ln_tau)

    def at(self, table, ln_E):
        """A table (``ln_b``, ``tau`` or ``lam``) interpolated linearly at ln E."""
        return _uniform_interp(ln_E, self.ln_E_min, self.d_ln_E, table)

    def initial_energy(self, tau_E, t):
        """ln E0 of electrons that reach tau(E) = tau_E after a time t, and whether E0 lies on the
        table (False: E0 > E_top, so the source cannot contribute)."""
        target = tau_E - t
        reachable = target > self.tau[-2]
        ln_target = jnp.log(jnp.where(reachable, target, self.tau[-2]))
        return _uniform_interp(ln_target, self.ln_tau_min, self.d_ln_tau, self.ln_E_of_ln_tau), reachable


def source_density(tables: LossTables, E, s, t, z_max, kappa_E, kappa_max, log_Q):
    """n(s, t, E) [GeV^-1 kpc^-3] of one source at planar distance s [kpc] and age t [Myr]
    (seed 003 eq 2.9): Q(E0) b(E0)/b(E) (4 pi l^2)^-1 exp(-s^2/4l^2) x slab_factor(l^2).

    E: observed energies, broadcast against s and t; kappa_E = kappa(E); kappa_max bounds
    kappa on the path; log_Q(ln E0) is ln Q(E0). l^2 is clipped to its exact bounds
    [kappa(E) t, kappa(E0) t] against round-off in the difference of the cumulative table.
    """
    ln_E = jnp.log(E)
    ln_E0, reachable = tables.initial_energy(tables.at(tables.tau, ln_E), t)
    ln_b0, lam0 = tables.at(tables.ln_b, ln_E0), tables.at(tables.lam, ln_E0)
    ln_b_E, lam_E = tables.at(tables.ln_b, ln_E), tables.at(tables.lam, ln_E)
    l2 = jnp.clip(lam_E - lam0, kappa_E * t, kappa_max(ln_E0) * t)
    l2 = jnp.maximum(l2, 1e-300)
    log_n = (log_Q(ln_E0) + ln_b0 - ln_b_E - 1.5 * jnp.log(4.0 * jnp.pi * l2) - s**2 / (4.0 * l2)
             + log_slab_correction(l2, z_max))
    return jnp.where(reachable & (t > 0), jnp.exp(log_n), 0.0)
