"""The two interfaces everything in crinfer plugs into.

* :class:`Simulator` -- ``simulate(key, theta)`` maps a ``(B, P)`` batch of physical
  parameters to ``(B, *observable.shape)`` outputs, deterministically given ``key``.
* :class:`Likelihood` -- ``log_prob(x, theta)``: the log density of an observation
  ``x`` (shape ``observable.shape``) for parameters ``theta`` (shape ``(..., P)``),
  returning shape ``(...)``. JAX-traceable and differentiable in ``theta``, so it can be
  a ``numpyro.factor`` inside NUTS.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .errors import ObservationError, ShapeError
from .parameters import ParameterSpace


@dataclass(frozen=True)
class Observable:
    """What a simulator returns.

    Args:
        name: e.g. ``"log10(E^3 flux)"``.
        shape: per-simulation output shape (no batch axis).
        unit: unit of the values.
        grid: optional coordinate of the last axis (e.g. energy bin centres).
        grid_unit: unit of ``grid``.
    """

    name: str
    shape: tuple[int, ...]
    unit: str = ""
    grid: Any = None
    grid_unit: str = ""
    labels: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    def validate(self, x, *, batched: bool = False) -> np.ndarray:
        """Check an observation's shape and finiteness; return it as a float64 array.

        Raises:
            ShapeError: the shape is not ``shape`` (or ``(B, *shape)`` when ``batched``).
            ObservationError: an entry is NaN or infinite (the message gives its index).
        """
        if type(x).__module__.startswith("torch"):
            x = x.detach().cpu().numpy()
        arr = np.asarray(x, dtype=float)
        want = arr.shape[1:] if batched else arr.shape
        if (batched and arr.ndim < 1) or want != self.shape:
            expect = f"(B, {', '.join(map(str, self.shape))})" if batched else str(self.shape)
            raise ShapeError(f"observation {self.name!r} must have shape {expect}, got {arr.shape}")
        bad = ~np.isfinite(arr)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ObservationError(
                f"observation {self.name!r} has a non-finite value {float(arr[idx])!r} at index {idx}; "
                "all entries must be finite"
            )
        return arr


@runtime_checkable
class Simulator(Protocol):
    """A (possibly stochastic) forward model, batched over the leading axis."""

    params: ParameterSpace
    observable: Observable

    def simulate(self, key, theta) -> Any:
        """``(B, P)`` physical parameters -> ``(B, *observable.shape)``; same key, same output."""
        ...


@runtime_checkable
class Likelihood(Protocol):
    """A log density of observations given parameters, JAX-traceable in ``theta``."""

    params: ParameterSpace
    observable: Observable

    def log_prob(self, x, theta) -> Any:
        """``x``: ``observable.shape``; ``theta``: ``(..., P)`` physical -> ``(...)``."""
        ...


def check_batch(theta, params: ParameterSpace) -> None:
    """Shape-only check of a batch (traceable-safe: no value inspection)."""
    shape = getattr(theta, "shape", None)
    if shape is None or len(shape) != 2 or shape[-1] != len(params):
        raise ShapeError(
            f"theta must have shape (B, {len(params)}) with columns {list(params.names)}, got {shape}"
        )
