"""The smooth-source expectation of the electron flux: the Green's function integrated over the
source density and ages (seed 003's "expectation value"), computed independently of the Monte
Carlo: an adaptive ODE integration (scipy's DOP853) over the initial energy E0 instead of the MC's
tabulated loss integrals (in u = sqrt(ln E0/E), which removes the integrable l^-1 peak of the
youngest sources), and the distance integral done analytically.

With ages uniform in [0, t_max] and dt = dE0 / b(E0),

    <phi(E)> = c/(4 pi) N / (t_max b(E)) int dE0 Q(E0) S(l^2) sum_k w_k
               [exp(-a_k^2/4l^2) - exp(-min(b_k, c t)^2/4l^2)]_+

for a source surface density w_k [kpc^-2 per source] piecewise constant on distance shells
[a_k, b_k) (one shell of w = 1/(pi s_max^2) for the uniform disc; a histogram of the sampler
for the spiral arms), S the slab factor and the causal cut c t >= s in the upper limit.
The planar Gaussian (4 pi l^2)^-1 exp(-s^2/4l^2) integrates over a shell to exactly the bracket.
"""
from __future__ import annotations

import math

import jax
import numpy as np
from scipy.integrate import solve_ivp
from scipy.interpolate import CubicSpline

from crinfer.physics import constants as C

from .green import slab_factor
from .simulator import _FLUX_FACTOR, KAPPA_UNIT, RATE_UNIT, CREConfig
from .sources import sample_spiral


def shell_densities(config: CREConfig, n_samples=4_000_000, n_shells=200, seed=12345):
    """(edges [kpc], w [kpc^-2]) of the per-source surface density on distance shells around the
    Sun: exact for the uniform disc, from n_samples spiral positions otherwise (seed fixed and
    unrelated to the simulation keys)."""
    if config.distribution == "uniform":
        return np.array([0.0, config.s_max_kpc]), np.array([1.0 / (math.pi * config.s_max_kpc**2)])
    xy = np.asarray(sample_spiral(jax.random.PRNGKey(seed), n_samples))
    s = np.hypot(xy[:, 0], xy[:, 1] - config.r_sun_kpc)
    s = s[s < config.s_max_kpc]
    edges = np.linspace(0.0, config.s_max_kpc, n_shells + 1)
    counts, _ = np.histogram(s, edges)
    return edges, counts / (s.size * math.pi * (edges[1:] ** 2 - edges[:-1] ** 2))


def expected_psi(config: CREConfig, theta_row, shells=None, rtol=1e-9):
    """log10(E^3 <phi>) on ``config.energies_GeV`` for theta = (R_SN, log10_E_cut, gamma, delta,
    kappa0) in the units of :data:`~crinfer.simulators.cre.PARAMETERS`."""
    R_SN, log10_E_cut, gamma, delta, kappa0 = (float(v) for v in theta_row)
    kappa0 *= KAPPA_UNIT
    E_cut = 10.0**log10_E_cut
    edges, w = shells if shells is not None else shell_densities(config)
    a, b_edge = edges[:-1], edges[1:]
    n_src = round(R_SN * RATE_UNIT * config.t_max_Myr)
    Q_star = _q_star(gamma, E_cut, config.source_energy_erg / C.GEV_ERG)

    loss = _loss_rate_spline(config)

    out = []
    for E in config.energies_GeV:
        ln_E, b_E = math.log(E), loss(E)

        def rhs(u, y):  # u = sqrt(ln E0 - ln E) removes the l^-1 singularity of young sources
            t, l2, _ = y
            E0 = math.exp(ln_E + u * u)
            jac_over_b0 = 2.0 * u * E0 / loss(E0)
            l2 = max(l2, 1e-300)
            upper = np.clip(C.C_KPC_MYR * t, a, b_edge)
            # exp(-a^2/4l^2) - exp(-upper^2/4l^2) without cancellation when c t is tiny
            shell = -np.exp(-a**2 / (4 * l2)) * np.expm1(-(upper**2 - a**2) / (4 * l2))
            Q = Q_star * E0**-gamma * math.exp(-E0 / E_cut)
            slab = float(slab_factor(l2, config.z_max_kpc, xp=np))
            return [jac_over_b0, kappa0 * E0**delta * jac_over_b0,
                    2.0 * u * E0 * Q * slab * float(np.dot(w, shell))]

        too_old = lambda u, y: y[0] - config.t_max_Myr  # noqa: E731
        too_old.terminal = True
        # start at u0 with the leading-order t, l^2 (the skipped integral is ~u0 of the total)
        u0 = 1e-9
        y0 = [E / b_E * u0**2, kappa0 * E**delta * E / b_E * u0**2, 0.0]
        sol = solve_ivp(rhs, (u0, math.sqrt(math.log(1e8) - ln_E)), y0, rtol=rtol, atol=1e-300,
                        events=too_old, method="DOP853", first_step=1e-6)
        mean_flux = _FLUX_FACTOR * n_src / (config.t_max_Myr * b_E) * sol.y[2, -1]
        out.append(math.log10(E**3 * mean_flux))
    return np.array(out)


def _loss_rate_spline(config: CREConfig, n=8193):
    """b(E) [GeV/Myr] as a NumPy function: the configured loss rate evaluated once on n points
    in 1-1e8 GeV and interpolated by a cubic spline in ln b(ln E) (relative error < 1e-9), so
    that the ODE right-hand side runs without JAX dispatch."""
    ln_E = np.linspace(0.0, math.log(1e8), n)
    spline = CubicSpline(ln_E, np.log(np.asarray(jax.jit(config.loss_rate)(np.exp(ln_E)))))
    return lambda E: math.exp(spline(math.log(E)))


def _q_star(gamma, E_cut, source_energy_GeV):
    """Q* [GeV^-1] with int_{1 GeV}^inf E Q dE = source energy (scipy quad, independent of the MC)."""
    from scipy.integrate import quad

    integral, _ = quad(lambda u: math.exp((2.0 - gamma) * u - math.exp(u) / E_cut), 0.0, math.log(1e8),
                       limit=200, epsrel=1e-11)
    return source_energy_GeV / integral
