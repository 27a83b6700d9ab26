"""The PINN's solution with hard boundary conditions, and its PDE residual by autodiff.

    u_s(rho, zeta, x; a) = phi_s(rho, zeta, x) e_s(x) exp(log N_s(rho, zeta, x, a)),   s: species,
    phi_s = PINNProblem.hard_factor = (1 - rho^2) sigma(zeta): zero on r = R_h and |z| = z_h, even
            in rho and zeta; sigma the 1-D slab solution of the disc (with the "loss_length_z"
            trial, at the loss length of each energy; with "exact_z", the exact 1-D profile
            with losses),
    e_s(x) = 1 - E/E_ceiling for electrons with losses  (psi = 0 at the energy ceiling), else 1.

A collocation point is the row y = (rho, zeta, x, a_1..a_P), all dimensionless. Derivatives are
nested forward-mode JVPs of u(y), a vector over the species (one pass gives every species). The
residual is divided by a^2 + kappa, the coefficient of the larger of the vertical-diffusion and
loss terms, which keeps it O(1) at every energy and halo height. (Dividing by the local size of u
as well, a relative residual, diverged.)
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .problem import PINNProblem


def _energy_and_values(problem: PINNProblem, y):
    """(ln E [ln GeV], the parameter values) at one point y = (rho, zeta, x, a_1..a_P)."""
    lnE = problem.l_range[0] + (y[2] + 1.0) * problem.dl_dx
    return lnE, problem.values(problem.from_unit(y[3:]) if problem.names else y[3:])


def _hard_factors(problem: PINNProblem, rho, zeta, lnE, v, loss_weight):
    """The ADF times the energy factor of every species, shape (S,)."""
    return jnp.stack([problem.hard_factor(rho, zeta, lnE, v, s, loss_weight) * problem.energy_factor(lnE, s)
                      for s in range(len(problem.species))])


def log_u(model, problem: PINNProblem, y, loss_weight=1.0):
    """ln u_s at one point y (shape (3 + P,)); shape (S,) for the S species. ``loss_weight``
    is the curriculum's weight of the loss term (the trial function's losses follow it)."""
    lnE, v = _energy_and_values(problem, y)
    return jnp.log(_hard_factors(problem, y[0], y[1], lnE, v, loss_weight)) + model(y[0], y[1], y[2], y[3:])


def trial_gain(problem: PINNProblem, y, loss_weight=1.0):
    """The trial (with losses) over the diffusion-only one at one point y, shape (S,): how much
    of psi's fall from the disc the trial carries (1 for the "slab" trial). Evaluated at
    zeta <= 0.99, so that it stays finite on the boundary, where both vanish."""
    zeta = jnp.minimum(y[1], 0.99)
    lnE, v = _energy_and_values(problem, y)
    slab = problem.vertical_trial(zeta, v)
    return jnp.stack([problem.hard_factor(0.0, zeta, lnE, v, s, loss_weight) / slab
                      for s in range(len(problem.species))])


# The validated domain's edge (issue 4's acceptance: r <= 0.95 R_h, |z| <= 0.95 z_h).
EDGE = 0.95


def edge_hard_factor(problem: PINNProblem, y, loss_weight=1.0):
    """u's hard factors (ADF times the energy factor) at one point y, shape (S,), evaluated at
    rho, |zeta| <= EDGE and E <= E_max: u's own factors inside the validated domain, their value
    at its edge beyond it (so that R/u stays finite where u vanishes)."""
    lnE, v = _energy_and_values(problem, y)
    return _hard_factors(problem, jnp.minimum(y[0], EDGE), jnp.minimum(jnp.abs(y[1]), EDGE),
                         jnp.minimum(lnE, math.log(problem.E_max)), v, loss_weight)


def u_value(model, problem: PINNProblem, y, loss_weight=1.0):
    return jnp.exp(log_u(model, problem, y, loss_weight))


def _along(f, i: int):
    """y -> d f / d y_i (forward mode)."""
    return lambda y: jax.jvp(f, (y,), (_unit(y, i),))[1]


def _unit(y, i: int):
    return jnp.zeros_like(y).at[i].set(1.0)


def residual(model, problem: PINNProblem, y, loss_weight=1.0):
    """Relative residual of the non-dimensional PDE at one point, shape (S,) over the species;
    ``loss_weight`` multiplies the loss term (the curriculum ramps it from 0 to 1)."""
    f = lambda yy: u_value(model, problem, yy, loss_weight)
    u_r = _along(f, 0)
    u_z = _along(f, 1)
    u, d_r = jax.jvp(f, (y,), (_unit(y, 0),))
    d_rr = _along(u_r, 0)(y)
    d_z, d_zz = jax.jvp(u_z, (y,), (_unit(y, 1),))
    rho, zeta = y[0], y[1]
    lnE, v = _energy_and_values(problem, y)
    aspect2 = (problem.R_h / v["z_h"]) ** 2
    lap = d_rr + d_r / rho + aspect2 * d_zz
    per_species = lambda fn: jnp.stack([fn(lnE, v, s) for s in range(len(problem.species))])
    kappa = per_species(problem.kappa)
    if problem.losses == "none":
        loss_term = 0.0
    else:
        d_x = _along(f, 2)(y)
        loss_term = loss_weight * kappa * (d_x / problem.dl_dx + u * per_species(problem.dln_bG))
    src = problem.source(rho, zeta, v)
    size = aspect2 + loss_weight * kappa
    return (lap + loss_term + src) / size


def psi(model, problem: PINNProblem, rho, zeta, lnE, a):
    """psi [GeV^-1 kpc^-3] at arrays rho, zeta, lnE (same shape) for unit coordinates a (P,);
    the species are the last axis."""
    x = problem.to_x(lnE)
    ys = jnp.stack([rho, zeta, x], axis=-1)
    ys = jnp.concatenate([ys, jnp.broadcast_to(a, ys.shape[:-1] + a.shape)], axis=-1)
    flat = ys.reshape(-1, ys.shape[-1])
    u = jax.vmap(lambda y: u_value(model, problem, y))(flat).reshape(rho.shape + (-1,))
    theta = problem.from_unit(a) if problem.names else a
    v = problem.values(theta)
    return jnp.stack([problem.scale(lnE, v, s) for s in range(len(problem.species))], axis=-1) * u
