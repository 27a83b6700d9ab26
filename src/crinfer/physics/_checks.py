"""Input checks for physics functions that stay silent under jax tracing.

Concrete (NumPy / Python / non-traced JAX) inputs are checked and raise ConfigurationError
naming the argument, the offending value and what is allowed; traced values pass unchecked.
"""
from __future__ import annotations

import jax
import numpy as np

from crinfer.core.errors import ConfigurationError


def _concrete(x):
    if isinstance(x, jax.core.Tracer):
        return None
    return np.asarray(x)


def require_positive(name: str, x, unit: str = "") -> None:
    """Raise ConfigurationError if any concrete element of x is <= 0 or not finite."""
    a = _concrete(x)
    if a is None:
        return
    bad = ~(np.isfinite(a) & (a > 0))
    if np.any(bad):
        v = (a[bad].flat[0] if a.ndim else a).item()
        raise ConfigurationError(f"{name}={v!r} {unit}".rstrip() + " is invalid: must be finite and > 0")


def require_nonnegative(name: str, x, unit: str = "") -> None:
    """Raise ConfigurationError if any concrete element of x is < 0 or not finite."""
    a = _concrete(x)
    if a is None:
        return
    bad = ~(np.isfinite(a) & (a >= 0))
    if np.any(bad):
        v = (a[bad].flat[0] if a.ndim else a).item()
        raise ConfigurationError(f"{name}={v!r} {unit}".rstrip() + " is invalid: must be finite and >= 0")


def require_above(name: str, x, minimum: float, unit: str = "", note: str = "") -> None:
    """Raise ConfigurationError if any concrete element of x is <= minimum or not finite."""
    a = _concrete(x)
    if a is None:
        return
    bad = ~(np.isfinite(a) & (a > minimum))
    if np.any(bad):
        v = (a[bad].flat[0] if a.ndim else a).item()
        raise ConfigurationError(f"{name}={v!r} {unit} is invalid: must be finite and > {minimum} {unit}{note}")
