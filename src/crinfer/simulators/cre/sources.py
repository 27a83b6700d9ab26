"""Positions of supernova remnants around the Sun: four logarithmic spiral arms, or a uniform disc.

Spiral model (Ahlers, Mertsch & Sarkar 2009, used by seed 003): galactocentric radius from the
Case & Bhattacharya (1998) surface density, one of four arms theta(r) = k ln(r/r0) + theta0
with the arm parameters of Faucher-Giguere & Kaspi (2006, table 2), an angular blur
theta_corr exp(-0.35 r/kpc) with theta_corr uniform in [0, 2 pi), and a radial blur
N(0, 0.07 r) (their section 3.2). The Sun sits at (x, y) = (0, r_sun).

Only sources within s_max of the Sun are simulated: candidates are drawn from the whole Galaxy
and the first n_sources that fall within s_max are kept (fixed shapes, so it jits).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from crinfer.physics.sources import case_bhattacharya

ARMS = np.array([  # k, r0 [kpc], theta0 [rad]: Norma, Carina-Sagittarius, Perseus, Crux-Scutum
    [4.25, 3.48, 1.57],
    [4.25, 3.48, 4.71],
    [4.89, 4.90, 4.09],
    [4.89, 4.90, 0.95],
])
"""Logarithmic spiral arms of Faucher-Giguere & Kaspi (2006), table 2."""

R_EDGE_KPC = 16.76
"""Outer edge of the Case & Bhattacharya density, r0 (1 - theta0/pi) [kpc]."""

_N_RADIAL = 4097
_r_grid = np.linspace(0.0, R_EDGE_KPC, _N_RADIAL)
_pdf = _r_grid * case_bhattacharya(_r_grid, xp=np)
_cdf = np.concatenate([[0.0], np.cumsum(0.5 * (_pdf[1:] + _pdf[:-1]))])
_cdf /= _cdf[-1]


def sample_galactocentric_radius(key, n):
    """n radii [kpc] with density proportional to r f_CB(r) (inverse CDF on a 4097-point grid)."""
    return jnp.interp(jax.random.uniform(key, (n,)), _cdf, _r_grid)


def sample_spiral(key, n):
    """(x, y) [kpc] of n sources of the four-arm spiral model, shape (n, 2)."""
    k_r, k_arm, k_blur_t, k_blur_r = jax.random.split(key, 4)
    r_raw = sample_galactocentric_radius(k_r, n)
    k, r0, theta0 = (jnp.asarray(ARMS[:, i])[jax.random.randint(k_arm, (n,), 0, 4)] for i in range(3))
    theta = k * jnp.log(jnp.maximum(r_raw, 1e-3) / r0) + theta0
    theta = theta + jax.random.uniform(k_blur_t, (n,), maxval=2.0 * jnp.pi) * jnp.exp(-0.35 * r_raw)
    r = r_raw + 0.07 * r_raw * jax.random.normal(k_blur_r, (n,))
    return jnp.stack([r * jnp.cos(theta), r * jnp.sin(theta)], axis=-1)


def sample_uniform_disc(key, n, radius):
    """(x, y) [kpc] of n points uniform in a disc of ``radius`` around the Sun (offsets)."""
    k_r, k_phi = jax.random.split(key)
    s = radius * jnp.sqrt(jax.random.uniform(k_r, (n,)))
    phi = jax.random.uniform(k_phi, (n,), maxval=2.0 * jnp.pi)
    return jnp.stack([s * jnp.cos(phi), s * jnp.sin(phi)], axis=-1)


def spiral_fraction_within(s_max, r_sun, key=0, n=2_000_000):
    """Monte Carlo fraction of the spiral model's sources within s_max [kpc] of the Sun."""
    xy = sample_spiral(jax.random.PRNGKey(key), n)
    s = jnp.hypot(xy[:, 0], xy[:, 1] - r_sun)
    return float(jnp.mean(s < s_max))


def sample_distances(key, n_sources, distribution, s_max, r_sun, oversample):
    """Planar distances s [kpc] of n_sources sources within s_max of the Sun.

    ``distribution`` is "spiral" or "uniform" (uniform disc of radius s_max). For the spiral
    model, ``oversample`` x n_sources candidates are drawn and the first n_sources within s_max
    kept; returns (s, n_kept) so that callers can check the candidates sufficed.
    """
    if distribution == "uniform":
        xy = sample_uniform_disc(key, n_sources, s_max)
        return jnp.hypot(xy[:, 0], xy[:, 1]), jnp.asarray(n_sources)
    n_cand = int(np.ceil(oversample * n_sources))
    xy = sample_spiral(key, n_cand)
    s = jnp.hypot(xy[:, 0], xy[:, 1] - r_sun)
    inside = s < s_max
    (idx,) = jnp.nonzero(inside, size=n_sources, fill_value=0)
    kept = jnp.minimum(jnp.sum(inside), n_sources)
    return s[idx], kept
