"""Zero-copy exchange between JAX and torch through DLPack."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import torch


def jax_to_torch(x: jax.Array) -> torch.Tensor:
    """A torch view of a JAX array on the same device (no copy where DLPack allows)."""
    return torch.from_dlpack(x)


def torch_to_jax(t: torch.Tensor) -> jax.Array:
    """A JAX view of a torch tensor on the same device (no copy where DLPack allows)."""
    t = t.detach()
    if not t.is_contiguous():
        t = t.contiguous()
    return jnp.from_dlpack(t)
