"""Cosmic-ray source terms: injection spectra and spatial (radial, vertical) distributions.

Radii r and heights z in kpc. Spectral shapes are dimensionless (normalised at the break);
radial profiles are relative densities (``galprop_radial`` is 1 at r_sun). All functions accept
NumPy or JAX arrays and are jax-traceable. Citations in docs/physics.md.
"""
from __future__ import annotations

import jax.numpy as jnp


def broken_power_law(p, p_break, index_low, index_high, cutoff=None):
    """(p/p_b)^-index_low for p <= p_b, (p/p_b)^-index_high above; 1 at p = p_b.

    ``cutoff`` (same unit as p) multiplies by exp(-p/cutoff) when given, which then makes the
    value at the break exp(-p_b/cutoff) instead of 1. DRAGON2/GALPROP injection convention.
    """
    x = jnp.asarray(p) / p_break
    q = jnp.where(x <= 1.0, x ** (-index_low), x ** (-index_high))
    if cutoff is not None:
        q = q * jnp.exp(-jnp.asarray(p) / cutoff)
    return q


def power_law_cutoff(E, E_ref, index, E_cut=None):
    """(E/E_ref)^-index exp(-E/E_cut) (no cutoff when E_cut is None); seed 003 eq. 2.3."""
    q = (jnp.asarray(E) / E_ref) ** (-index)
    if E_cut is not None:
        q = q * jnp.exp(-jnp.asarray(E) / E_cut)
    return q


def galprop_radial(r, alpha, beta, r_sun=8.5, r_max=None):
    """(r/r_sun)^alpha exp(-beta (r - r_sun)/r_sun), zero for r >= r_max (if given).

    GALPROP/DRAGON "Galprop" SNR profile: alpha = 1.25, beta = 3.56, r_sun = 8.5, r_max = 15 kpc
    (Strong et al. 2004 style); with alpha = 2, beta = 3.53 it is the power-law form of
    Case & Bhattacharya 1998 used by GALPROP.
    """
    r = jnp.asarray(r)
    f = (r / r_sun) ** alpha * jnp.exp(-beta * (r - r_sun) / r_sun)
    if r_max is not None:
        f = jnp.where(r < r_max, f, 0.0)
    return f


def case_bhattacharya(r, A=1.96, r0=17.2, theta0=0.08, beta=0.13, xp=jnp):
    """SNR surface density A sin(pi r/r0 + theta0) exp(-beta r) [kpc^-2], 0 where the sine < 0.

    Case & Bhattacharya 1998 (ApJ 504, 761) fit, as used by seed 003 (A = 1.96 kpc^-2,
    r0 = 17.2 kpc, theta0 = 0.08, beta = 0.13 kpc^-1). The sine changes sign at
    r = r0 (1 - theta0/pi) = 16.76 kpc, beyond which the density is 0. ``xp=numpy``
    evaluates it without JAX (tables built at import time).
    """
    r = xp.asarray(r)
    f = A * xp.sin(xp.pi * r / r0 + theta0) * xp.exp(-beta * r)
    return xp.where(f > 0.0, f, 0.0)


def lorimer(r, A=41.0, B=1.9, C=5.0, r_sun=8.5):
    """Pulsar surface density A (r/r_sun)^B exp(-C (r - r_sun)/r_sun) [kpc^-2].

    Lorimer et al. 2006 (MNRAS 372, 777), their best fit: A = 41 kpc^-2, B = 1.9, C = 5.0,
    r_sun = 8.5 kpc.
    """
    r = jnp.asarray(r)
    return A * (r / r_sun) ** B * jnp.exp(-C * (r - r_sun) / r_sun)


def exponential_disc(z, h):
    """Vertical profile exp(-|z|/h) (1 at z = 0); DRAGON2 uses h = 0.2 kpc.

    Its column integral is 2h; the thin-disc limit h -> 0 is 2h delta(z) (``thin_disc_column``).
    """
    return jnp.exp(-jnp.abs(jnp.asarray(z)) / h)


def thin_disc_column(h):
    """Column int exp(-|z|/h) dz = 2h [kpc]: the weight of delta(z) in the thin-disc limit
    q(r, z) = 2h q(r) delta(z) used by the Bessel-series reference solution (PHYSICS.md 1)."""
    return 2.0 * h
