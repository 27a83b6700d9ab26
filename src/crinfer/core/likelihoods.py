"""Likelihoods that implement :class:`~crinfer.core.protocols.Likelihood`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

from .errors import ShapeError
from .parameters import ParameterSpace
from .protocols import Observable


@dataclass(frozen=True)
class GaussianLikelihood:
    """``x ~ N(mean(theta), cov)`` with a fixed covariance.

    Args:
        params: the parameter space.
        observable: the data's description; ``x`` has shape ``observable.shape``.
        mean: JAX function ``(..., P) -> (..., *observable.shape)``.
        cov: ``(n, n)`` covariance of the flattened observation, or ``(n,)`` variances.
    """

    params: ParameterSpace
    observable: Observable
    mean: Callable
    cov: np.ndarray

    def __post_init__(self):
        cov = np.asarray(self.cov, dtype=float)
        n = self.observable.size
        if cov.shape not in ((n,), (n, n)):
            raise ShapeError(f"cov must have shape ({n},) or ({n}, {n}), got {cov.shape}")
        full = np.diag(cov) if cov.ndim == 1 else cov
        chol = np.linalg.cholesky(full)
        object.__setattr__(self, "_chol", jnp.asarray(chol))
        object.__setattr__(self, "_logdet", float(2 * np.log(np.diag(chol)).sum()))

    def log_prob(self, x, theta):
        mu = self.mean(theta)
        resid = (jnp.asarray(x) - mu).reshape(mu.shape[: mu.ndim - len(self.observable.shape)] + (-1,))
        z = jsl.solve_triangular(self._chol, resid[..., None], lower=True)[..., 0]
        n = self.observable.size
        return -0.5 * (jnp.sum(z**2, axis=-1) + self._logdet + n * jnp.log(2 * jnp.pi))
