"""A linear-Gaussian toy simulator, ``x ~ N(A theta, sigma^2 I)``.

Small, exact and cheap: its likelihood and posterior are known in closed form, so it
serves the campaign machinery's tests and examples, and inference tests with an analytic
answer. Registered for campaigns as ``"toy.gaussian"``.
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from ..core import ConfigurationError, GaussianLikelihood, Observable, ParameterSpace, as_key


class GaussianToy:
    """``x = A theta + sigma * eps`` with ``eps ~ N(0, I)``; batched and key-deterministic.

    Args:
        params: the parameter space (``P`` parameters, physical units).
        n_obs: number of observed values; defaults to the number of rows of ``matrix``,
            or to ``P``.
        sigma: noise standard deviation (units of ``x``), ``> 0``.
        matrix: ``(n_obs, P)`` design matrix ``A``; default the identity tiled over the rows
            (observation ``i`` measures parameter ``i mod P``).
        delay_s: wall-clock seconds slept per ``simulate`` call, to stand in for an
            expensive simulator in examples and fault-tolerance tests; ``>= 0``.
    """

    def __init__(self, params: ParameterSpace, n_obs: int | None = None, sigma: float = 0.1,
                 matrix=None, delay_s: float = 0.0):
        p = len(params)
        if matrix is None:
            n = p if n_obs is None else n_obs
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ConfigurationError(f"toy.gaussian: n_obs must be a positive integer, got {n_obs!r}")
            a = np.zeros((int(n), p))
            a[np.arange(n), np.arange(n) % p] = 1.0
        else:
            a = np.asarray(matrix, dtype=float)
            if a.ndim != 2 or a.shape[1] != p or (n_obs is not None and a.shape[0] != n_obs):
                want = f"({n_obs if n_obs is not None else 'n_obs'}, {p})"
                raise ConfigurationError(f"toy.gaussian: matrix must have shape {want}, got {a.shape}")
            if not np.isfinite(a).all():
                raise ConfigurationError("toy.gaussian: matrix entries must be finite")
        sigma = float(sigma)
        if not (np.isfinite(sigma) and sigma > 0):
            raise ConfigurationError(f"toy.gaussian: sigma must be finite and > 0, got {sigma!r}")
        delay_s = float(delay_s)
        if not (np.isfinite(delay_s) and delay_s >= 0):
            raise ConfigurationError(f"toy.gaussian: delay_s must be finite and >= 0, got {delay_s!r}")
        self.params = params
        self.matrix = a
        self.sigma = sigma
        self.delay_s = delay_s
        self.observable = Observable("x", (a.shape[0],))

    def mean(self, theta):
        """``A theta``: ``(..., P) -> (..., n_obs)``, JAX-traceable."""
        return jnp.asarray(theta) @ jnp.asarray(self.matrix).T

    def simulate(self, key, theta) -> jax.Array:
        """``(B, P)`` physical parameters -> ``(B, n_obs)`` float64 draws; same key, same draws."""
        theta = self.params.validate(theta)
        x = _linear_gaussian(as_key(key), jnp.asarray(theta), jnp.asarray(self.matrix), self.sigma)
        if self.delay_s:
            time.sleep(self.delay_s)
        return x

    def likelihood(self) -> GaussianLikelihood:
        """The exact likelihood ``N(x; A theta, sigma^2 I)``."""
        return GaussianLikelihood(self.params, self.observable, self.mean,
                                  np.full(self.observable.size, self.sigma**2))


@jax.jit
def _linear_gaussian(key, theta, matrix, sigma):
    """``theta @ matrix.T + sigma * N(0, 1)``, one compiled program per batch shape."""
    mu = theta @ matrix.T
    return mu + sigma * jax.random.normal(key, mu.shape, dtype=mu.dtype)
