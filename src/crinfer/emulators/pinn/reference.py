"""Reference solutions of a :class:`PINNProblem` (float64): the exact Fourier-Bessel-sine series
of crinfer.simulators.transport.analytic -- ``poisson_series`` for diffusion only, the
semi-analytic ``losses_series`` (exact per energy segment) with losses."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from crinfer.simulators.transport import analytic

from .problem import PINNProblem


def in_float64(fn):
    """Evaluate a JAX expression of the problem in float64 and return NumPy (concrete even when
    called while a jitted function is traced: the "exact_z" table is built on first use)."""
    def wrapped(*args):
        with jax.enable_x64(True), jax.ensure_compile_time_eval():
            return np.asarray(fn(*(jnp.asarray(a, dtype=jnp.float64) for a in args)))
    return wrapped


def parameter_values(problem: PINNProblem, theta) -> dict:
    """Every named value of the problem (fixed and conditioned, e.g. D0, z_h [kpc]) as Python floats,
    the conditioned ones from ``theta`` (P,)."""
    theta = np.asarray(theta, dtype=float).reshape(len(problem.names))
    return {k: float(np.asarray(x)) for k, x in problem.values(theta).items()}


def source_profiles(problem: PINNProblem):
    """The source's radial and vertical profiles f(r), g(z) [r, z in kpc; f scaled to a maximum of 1]
    as float64 NumPy functions."""
    return in_float64(problem.radial_profile), in_float64(problem.vertical_profile)


def coefficients(problem: PINNProblem, v: dict, species: int = 0):
    """(Q, D, b) of species ``species`` at parameter values ``v``: float64 NumPy functions of E
    [GeV] giving Q [GeV^-1 kpc^-3 Myr^-1], D [kpc^2/Myr] and b [GeV/Myr] (b from the loss table)."""
    Q = in_float64(lambda e: problem.injection(jnp.log(e), v, species))
    D = in_float64(lambda e: problem.diffusion(jnp.log(e), v, species))

    def b(e):
        lg, ln_b, _ = (np.asarray(t, dtype=float) for t in problem.loss_table(species))
        return np.exp(np.interp(np.log(e), lg, ln_b))
    return Q, D, b


def reference_psi(problem: PINNProblem, theta, r, z, E, n_bessel: int = 100, n_sine: int = 800,
                  points_per_decade: int = 400, species: int = 0) -> np.ndarray:
    """psi [GeV^-1 kpc^-3] of the species with index ``species`` on the outer grid r x z x E
    [kpc, kpc, GeV] for physical parameters ``theta`` (P,) of the conditioned names; shape
    (len(r), len(z), len(E))."""
    v = parameter_values(problem, theta)
    r, z, E = (np.atleast_1d(np.asarray(a, dtype=float)) for a in (r, z, E))
    f, g = source_profiles(problem)
    Q, D, b = coefficients(problem, v, species)
    if problem.losses == "none":
        F = analytic.poisson_series(r, z, f, g, problem.R_h, v["z_h"], n_bessel, n_sine)
        return F[:, :, None] * (Q(E) / D(E))[None, None, :]
    return analytic.losses_series(r, z, E, f=f, g=g, Q=Q, D=D, b=b, R_h=problem.R_h, z_h=v["z_h"],
                                  E_max=problem.E_ceiling, n_bessel=n_bessel, n_sine=n_sine,
                                  points_per_decade=points_per_decade)
