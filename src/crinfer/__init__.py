"""crinfer: Bayesian inference for cosmic-ray physics.

Simulators and neural emulators behind one Simulator/Likelihood interface, sampled by
NumPyro (NUTS, JAX) or sbi (neural posterior/likelihood/ratio estimation, torch).
"""
from importlib.metadata import PackageNotFoundError, version

import jax

jax.config.update("jax_enable_x64", True)

try:
    __version__ = version("crinfer")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"
