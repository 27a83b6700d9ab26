"""The exact vertical profile of the 1-D (z, E) problem with losses: the "exact_z" trial function.

With no radial structure (f = 1) the transport problem of :class:`PINNProblem` separates into
cosine modes cos(q_n zeta), q_n = (n + 1/2) pi, that vanish at zeta = +-1. Each mode's energy
dependence is the exact integral of PHYSICS.md section 1 (psi_n = g_n I_n / b, I_n by
``analytic.mode_energy_integrals``). Written as

    V(zeta, l) = psi / (Q z_h^2 / D) = p(zeta) + sum_n omega_n(l) cos(q_n zeta),

p(zeta) = eta (1 - |zeta|) - eta^2 (exp(-|zeta|/eta) - exp(-1/eta)) the diffusion-only slab
(p'' = -g), the remainder omega_n carries what the losses change. p holds the disc's curvature
spike in closed form, so the remainder is smooth and its modes fall off fast (|omega_63 / omega_0|
< 1e-9 for the fiducial electrons; the residual's d_zz of the truncated series converges as N^-3).
omega_n and its ln E derivative (fourth-order differences) are tabulated in float64 on a uniform
ln E grid and read back by cubic Hermite interpolation (C^1 in ln E, as the residual's first energy
derivative needs). The shape V(zeta, l) / V(0, l) is the trial factor; above ``l_cap`` (one e-fold
under the energy ceiling, where psi's boundary layer at the ceiling starts) it is held at l_cap's
shape.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

N_MODES = 96          # cosine modes of the remainder (the residual's d_zz converges as N^-3)
GRID_STEP = 0.02      # ln E spacing of the table (Hermite error ~ step^4)
CAP_BELOW_CEILING = 1.0   # l_cap = ln E_ceiling - this


@dataclass(frozen=True)
class VerticalTable:
    """omega_n(l) and d omega_n / d l on l = l0 + i step (float32 NumPy arrays (n_l, N_MODES):
    constants of every trace, so a table first built inside a jitted function does not leak)."""

    l0: float
    step: float
    l_cap: float
    eta: float
    q: np.ndarray
    omega: np.ndarray
    d_omega: np.ndarray

    def remainder(self, lnE):
        """omega_n at ln E [ln GeV], shape (..., N_MODES): cubic Hermite between the table's nodes."""
        l = jnp.clip(lnE, self.l0, self.l_cap)
        t = (l - self.l0) / self.step
        i = jnp.clip(jnp.floor(t), 0, self.omega.shape[0] - 2).astype(jnp.int32)
        s = (t - i)[..., None]
        h00, h10 = (1 + 2 * s) * (1 - s) ** 2, s * (1 - s) ** 2
        h01, h11 = s * s * (3 - 2 * s), s * s * (s - 1)
        omega, d_omega = jnp.asarray(self.omega), jnp.asarray(self.d_omega)
        return h00 * omega[i] + h01 * omega[i + 1] + self.step * (h10 * d_omega[i] + h11 * d_omega[i + 1])

    def slab(self, zeta):
        """p(zeta) = eta (1 - |zeta|) - eta^2 (exp(-|zeta|/eta) - exp(-1/eta)), p'' = -g."""
        eta, az = self.eta, jnp.abs(zeta)
        return eta * (1.0 - az) - eta**2 * (jnp.exp(-az / eta) - math.exp(-1.0 / eta))

    def _series(self, zeta, om):
        """p(zeta) + sum_n om_n cos(q_n zeta) for remainder coefficients om (..., N_MODES)."""
        return self.slab(zeta) + jnp.sum(om * jnp.cos(self.q * zeta[..., None]), axis=-1)

    def profile(self, zeta, lnE):
        """V(zeta, l) = psi / (Q z_h^2 / D) of the 1-D problem at ln E [ln GeV] (dimensionless;
        zeta and lnE broadcast together)."""
        zeta, lnE = jnp.broadcast_arrays(zeta, lnE)
        return self._series(zeta, self.remainder(lnE))

    def shape(self, zeta, lnE):
        """V(zeta, l) / V(0, l): the exact 1-D vertical profile at ln E [ln GeV], 1 at zeta = 0."""
        zeta, lnE = jnp.broadcast_arrays(zeta, lnE)
        om = self.remainder(lnE)
        return self._series(zeta, om) / self._series(jnp.zeros_like(zeta), om)


def build_table(problem, v: dict, s: int = 0) -> VerticalTable:
    """The table of species ``s`` of ``problem`` at the fixed parameter values ``v`` (float64)."""
    from crinfer.simulators.transport import analytic

    from .reference import coefficients

    z_h = float(v["z_h"])
    eta = problem.disc_h / z_h
    a = 1.0 / eta
    n = np.arange(N_MODES)
    q = (n + 0.5) * np.pi
    g_n = 2.0 * (a + (-1.0) ** n * math.exp(-a) * q) / (a * a + q * q)   # cosine coefficients of g

    lo = math.log(problem.E_min)
    l_cap = math.log(problem.E_ceiling) - CAP_BELOW_CEILING
    n_l = int(math.ceil((l_cap - lo) / GRID_STEP)) + 1
    l = lo + GRID_STEP * np.arange(-2, n_l + 2)       # two nodes beyond each end for the differences
    l_cap = float(l[-3])

    Q_of, D_of, b_of = coefficients(problem, v, s)
    E = np.exp(l)
    Q, D, b = Q_of(E), D_of(E), b_of(E)
    mu = (q / z_h) ** 2                                                    # kpc^-2
    I = analytic.mode_energy_integrals(mu, E, problem.E_ceiling, Q_of, D_of, b_of, points_per_decade=400)
    omega = g_n * I / (b * Q * z_h**2 / D)[:, None] - g_n / q**2
    # d omega / d l by fourth-order central differences: the mode equation would give it as
    # (D mu psi - Q g) / b, which cancels catastrophically where b is tiny (protons above ~100 GeV)
    d_omega = (omega[:-4] - 8.0 * omega[1:-3] + 8.0 * omega[3:-1] - omega[4:]) / (12.0 * GRID_STEP)
    omega = omega[2:-2]
    f32 = lambda x: np.asarray(x, dtype=np.float32)
    return VerticalTable(float(l[2]), GRID_STEP, l_cap, eta, f32(q), f32(omega), f32(d_omega))
