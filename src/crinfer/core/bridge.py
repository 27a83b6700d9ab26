"""Zero-copy exchange between JAX and torch through DLPack (torch imported on first use)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

if TYPE_CHECKING:
    import torch


def jax_to_torch(x: jax.Array) -> torch.Tensor:
    """A torch view of a JAX array on the same device (no copy where DLPack allows)."""
    import torch

    return torch.from_dlpack(x)


def torch_to_jax(t: torch.Tensor) -> jax.Array:
    """A JAX view of a torch tensor on the same device (no copy where DLPack allows)."""
    t = t.detach()
    if not t.is_contiguous():
        t = t.contiguous()
    return jnp.from_dlpack(t)
