"""Explicit random keys.

Every random function in crinfer takes a JAX PRNG key (or an int seed, turned into
one here). Torch and NumPy generators are seeded *from* the key, so the same key
always gives the same numbers whichever backend does the work. torch is imported where it is
used, so that the JAX-only parts of crinfer (physics, transport, NumPyro fits) load without it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import numpy as np

if TYPE_CHECKING:
    import torch


def as_key(key) -> jax.Array:
    """Return a JAX PRNG key from a key or a non-negative int seed."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if key < 0:
            raise ValueError(f"seed must be a non-negative integer, got {key}")
        return jax.random.PRNGKey(int(key))
    if isinstance(key, jax.Array) and (
        jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
        or (key.dtype == np.uint32 and key.shape == (2,))
    ):
        return key
    raise TypeError(
        f"expected a jax.random key or an int seed, got {type(key).__name__} {key!r}"
    )


def key_to_seed(key) -> int:
    """A 63-bit integer seed derived deterministically from ``key``."""
    bits = jax.random.bits(as_key(key), (2,), dtype=np.uint32)
    hi, lo = (int(b) for b in np.asarray(bits))
    return ((hi & 0x7FFFFFFF) << 32) | lo


def torch_generator(key, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch.Generator seeded from ``key``."""
    import torch

    gen = torch.Generator(device=device)
    gen.manual_seed(key_to_seed(key))
    return gen


def numpy_rng(key) -> np.random.Generator:
    """A NumPy Generator seeded from ``key``."""
    return np.random.default_rng(key_to_seed(key))


def torch_seeded(key) -> None:
    """Seed torch's global generator from ``key`` (for libraries that take no generator, e.g. sbi)."""
    import torch

    torch.manual_seed(key_to_seed(key))
