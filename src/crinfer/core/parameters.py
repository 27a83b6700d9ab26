"""Parameters and parameter spaces.

A :class:`ParameterSpace` is the single source of names, order, units, bounds,
scalings and priors. It validates batches, converts to NumPyro sample sites and to
an sbi (torch) prior, and draws designs (prior samples, Latin hypercube, grid).

Two coordinate systems are used:

* *physical*: the values a simulator takes, in ``Parameter.unit``;
* *internal*: the coordinates in which priors are uniform/normal and networks are
  trained -- log10 of the physical value for ``scale="log"``, the value itself
  otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import numpy as np

from .errors import ParameterError, ShapeError
from .rng import as_key, numpy_rng

_PRIORS = ("uniform", "normal")
_SCALES = ("linear", "log")


@dataclass(frozen=True)
class Parameter:
    """One named model parameter.

    Args:
        name: identifier (no units in it).
        low, high: bounds in physical units; infinite only for a normal prior.
        unit: unit string, e.g. ``"1e28 cm^2/s"``; ``""`` for dimensionless.
        scale: ``"linear"`` or ``"log"`` (prior uniform in log10 of the value).
        description: one line for reports.
        prior: ``"uniform"`` (between the bounds, in the scale) or ``"normal"``.
        loc, scale_sd: mean and standard deviation of a normal prior (internal coordinates).
    """

    name: str
    low: float
    high: float
    unit: str = ""
    scale: str = "linear"
    description: str = ""
    prior: str = "uniform"
    loc: float = 0.0
    scale_sd: float = 1.0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ParameterError(f"parameter name must be an identifier, got {self.name!r}")
        if self.scale not in _SCALES:
            raise ParameterError(
                f"parameter {self.name!r}: scale {self.scale!r} is not one of {_SCALES}"
            )
        if self.prior not in _PRIORS:
            raise ParameterError(
                f"parameter {self.name!r}: prior {self.prior!r} is not one of {_PRIORS}"
            )
        low, high = float(self.low), float(self.high)
        if math.isnan(low) or math.isnan(high) or not low < high:
            raise ParameterError(
                f"parameter {self.name!r}: bounds must satisfy low < high, got [{low}, {high}]"
            )
        if self.prior == "uniform" and not (math.isfinite(low) and math.isfinite(high)):
            raise ParameterError(
                f"parameter {self.name!r}: a uniform prior needs finite bounds, got [{low}, {high}]"
            )
        if self.scale == "log" and low <= 0:
            raise ParameterError(
                f"parameter {self.name!r}: log scale needs low > 0, got low={low}"
            )
        if self.prior == "normal":
            if self.scale == "log":
                raise ParameterError(
                    f"parameter {self.name!r}: a normal prior is only defined on a linear scale"
                )
            if math.isfinite(low) or math.isfinite(high):
                raise ParameterError(
                    f"parameter {self.name!r}: a normal prior takes infinite bounds "
                    f"(truncation is not supported), got [{low}, {high}]"
                )
            if not self.scale_sd > 0:
                raise ParameterError(
                    f"parameter {self.name!r}: normal prior needs scale_sd > 0, got {self.scale_sd}"
                )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @property
    def internal_bounds(self) -> tuple[float, float]:
        """Bounds in internal coordinates (log10 for log scale)."""
        if self.scale == "log":
            return math.log10(self.low), math.log10(self.high)
        return self.low, self.high

    @classmethod
    def from_dict(cls, name: str, spec: dict) -> "Parameter":
        """Build from a TOML/JSON table such as ``{low=0.5, high=3, unit="1e4/Myr"}``."""
        allowed = {"low", "high", "unit", "scale", "description", "prior", "loc", "scale_sd"}
        unknown = set(spec) - allowed
        if unknown:
            raise ParameterError(
                f"parameter {name!r}: unknown keys {sorted(unknown)}; allowed {sorted(allowed)}"
            )
        spec = dict(spec)
        spec.setdefault("low", -math.inf)
        spec.setdefault("high", math.inf)
        return cls(name=name, **spec)

    def to_dict(self) -> dict:
        out = {"low": self.low, "high": self.high, "unit": self.unit, "scale": self.scale,
               "description": self.description, "prior": self.prior}
        if self.prior == "normal":
            out.update(loc=self.loc, scale_sd=self.scale_sd)
        return out


@dataclass(frozen=True)
class ParameterSpace:
    """An ordered collection of :class:`Parameter`.

    Batches of parameter vectors have shape ``(B, P)`` with columns in this order.
    """

    parameters: tuple[Parameter, ...] = field(default_factory=tuple)

    def __init__(self, parameters: Iterable[Parameter]):
        params = tuple(parameters)
        if not params:
            raise ParameterError("a ParameterSpace needs at least one parameter")
        names = [p.name for p in params]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ParameterError(f"duplicate parameter names: {dupes}")
        object.__setattr__(self, "parameters", params)

    # -- container protocol -------------------------------------------------
    def __len__(self) -> int:
        return len(self.parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        return self.parameters[self.index(name)]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(p.unit for p in self.parameters)

    def index(self, name: str) -> int:
        """Column of parameter ``name``; a clear error for an unknown name."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ParameterError(
                f"unknown parameter {name!r}; this space has {list(self.names)}"
            ) from None

    @property
    def low(self) -> np.ndarray:
        return np.array([p.low for p in self.parameters])

    @property
    def high(self) -> np.ndarray:
        return np.array([p.high for p in self.parameters])

    @classmethod
    def from_dict(cls, table: dict) -> "ParameterSpace":
        """From an ordered mapping name -> parameter table (TOML ``[parameters]``)."""
        return cls(Parameter.from_dict(n, s) for n, s in table.items())

    def to_dict(self) -> dict:
        return {p.name: p.to_dict() for p in self.parameters}

    def subspace(self, names: Sequence[str]) -> "ParameterSpace":
        return ParameterSpace(self[n] for n in names)

    # -- conversions --------------------------------------------------------
    def from_mapping(self, values: dict) -> np.ndarray:
        """A ``(B, P)`` batch (or ``(P,)`` vector) from a name -> value(s) mapping."""
        unknown = sorted(set(values) - set(self.names))
        if unknown:
            raise ParameterError(f"unknown parameter(s) {unknown}; this space has {list(self.names)}")
        missing = [n for n in self.names if n not in values]
        if missing:
            raise ParameterError(f"missing parameter(s) {missing}")
        cols = [np.asarray(values[n], dtype=float) for n in self.names]
        return np.stack(cols, axis=-1)

    def to_mapping(self, theta) -> dict:
        """Name -> column(s) of ``theta`` (shape ``(..., P)``)."""
        theta = self._as_array(theta)
        return {n: theta[..., i] for i, n in enumerate(self.names)}

    def to_internal(self, theta):
        """Physical -> internal coordinates (log10 on log-scale columns). NumPy, JAX or torch."""
        return self._map_log(theta, forward=True)

    def from_internal(self, u):
        """Internal -> physical coordinates."""
        return self._map_log(u, forward=False)

    def _map_log(self, x, forward: bool):
        mask = np.array([p.scale == "log" for p in self.parameters])
        if not mask.any():
            return x
        if _is_torch(x):
            import torch

            m = torch.as_tensor(mask, device=x.device)
            y = torch.log10(x.clamp_min(1e-300)) if forward else torch.pow(10.0, x)
            return torch.where(m, y, x)
        if _is_jax(x):
            import jax.numpy as jnp

            y = jnp.log10(x) if forward else jnp.power(10.0, x)
            return jnp.where(mask, y, x)
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.log10(x) if forward else np.power(10.0, x)
        return np.where(mask, y, x)

    # -- validation ---------------------------------------------------------
    def validate(self, theta, *, batched: bool = True) -> np.ndarray:
        """Check shape, finiteness and bounds; return ``theta`` as a float64 array.

        Raises:
            ShapeError: ``theta`` is not ``(B, P)`` (or ``(P,)`` with ``batched=False``).
            ParameterError: a value is NaN/inf or outside its bounds; the message names
                the parameter, the value, the row and the bounds.
        """
        arr = self._as_array(theta)
        want = f"(B, {len(self)})" if batched else f"({len(self)},)"
        if (batched and arr.ndim != 2) or (not batched and arr.ndim != 1) or arr.shape[-1] != len(self):
            raise ShapeError(
                f"theta must have shape {want} with columns {list(self.names)}, got {arr.shape}"
            )
        rows = arr if batched else arr[None]
        for j, p in enumerate(self.parameters):
            col = rows[:, j]
            bad = ~np.isfinite(col) | (col < p.low) | (col > p.high)
            if bad.any():
                i = int(np.argmax(bad))
                where = f" (row {i})" if batched else ""
                raise ParameterError(
                    f"parameter {p.name!r} = {float(col[i])!r}{where} is outside its bounds "
                    f"[{p.low}, {p.high}] {p.unit}".rstrip()
                )
        return arr

    @staticmethod
    def _as_array(theta) -> np.ndarray:
        if _is_torch(theta):
            theta = theta.detach().cpu().numpy()
        return np.asarray(theta, dtype=float)

    # -- priors -------------------------------------------------------------
    def numpyro_sample(self, prefix: str = ""):
        """Inside a NumPyro model: one sample site per parameter; returns the ``(P,)`` vector.

        Uniform -> ``dist.Uniform``, log scale -> ``dist.LogUniform`` (physical units),
        normal -> ``dist.Normal``.
        """
        import jax.numpy as jnp
        import numpyro

        values = [numpyro.sample(prefix + p.name, _numpyro_dist(p)) for p in self.parameters]
        return jnp.stack(values, axis=-1)

    def sbi_prior(self, device: str = "cpu"):
        """A torch prior over *internal* coordinates, usable by sbi.

        ``BoxUniform`` when every parameter is uniform, else sbi's ``MultipleIndependent``
        of one-dimensional torch distributions.
        """
        import torch
        from torch.distributions import Normal, Uniform

        if all(p.prior == "uniform" for p in self.parameters):
            from sbi.utils import BoxUniform

            lo, hi = zip(*(p.internal_bounds for p in self.parameters))
            return BoxUniform(torch.tensor(lo, dtype=torch.float32, device=device),
                              torch.tensor(hi, dtype=torch.float32, device=device), device=device)
        from sbi.utils import MultipleIndependent

        dists = []
        for p in self.parameters:
            if p.prior == "normal":
                dists.append(Normal(torch.tensor([p.loc], device=device), torch.tensor([p.scale_sd], device=device)))
            else:
                lo, hi = p.internal_bounds
                dists.append(Uniform(torch.tensor([lo], device=device), torch.tensor([hi], device=device)))
        return MultipleIndependent(dists, device=device)

    # -- designs ------------------------------------------------------------
    def sample_prior(self, key, n: int) -> np.ndarray:
        """``n`` prior draws in physical units, shape ``(n, P)``."""
        _check_n(n)
        rng = numpy_rng(as_key(key))
        u = np.empty((n, len(self)))
        for j, p in enumerate(self.parameters):
            if p.prior == "normal":
                u[:, j] = rng.normal(p.loc, p.scale_sd, size=n)
            else:
                lo, hi = p.internal_bounds
                u[:, j] = rng.uniform(lo, hi, size=n)
        return self.from_internal(u)

    def latin_hypercube(self, key, n: int) -> np.ndarray:
        """``n`` points of a Latin hypercube, uniform in internal coordinates, shape ``(n, P)``.

        Parameters with a normal prior are stratified through the normal quantile function.
        """
        from scipy.stats import norm, qmc

        _check_n(n)
        sampler = qmc.LatinHypercube(d=len(self), rng=numpy_rng(as_key(key)))
        unit = sampler.random(n)
        return self._from_unit(unit, norm)

    def grid(self, points_per_dim: int | Sequence[int]) -> np.ndarray:
        """A regular grid (cell edges included) in internal coordinates, shape ``(prod(n), P)``."""
        n = [points_per_dim] * len(self) if np.isscalar(points_per_dim) else list(points_per_dim)
        if len(n) != len(self) or any(int(k) < 1 for k in n):
            raise ParameterError(
                f"grid needs {len(self)} positive point counts, got {points_per_dim!r}"
            )
        axes = []
        for p, k in zip(self.parameters, n):
            if p.prior == "normal":
                raise ParameterError(f"parameter {p.name!r} has a normal prior and no finite grid")
            lo, hi = p.internal_bounds
            axes.append(np.linspace(lo, hi, int(k)) if k > 1 else np.array([(lo + hi) / 2]))
        mesh = np.meshgrid(*axes, indexing="ij")
        return self.from_internal(np.stack([m.ravel() for m in mesh], axis=-1))

    def _from_unit(self, unit: np.ndarray, norm) -> np.ndarray:
        u = np.empty_like(unit)
        for j, p in enumerate(self.parameters):
            if p.prior == "normal":
                u[:, j] = norm.ppf(unit[:, j], loc=p.loc, scale=p.scale_sd)
            else:
                lo, hi = p.internal_bounds
                u[:, j] = lo + (hi - lo) * unit[:, j]
        return self.from_internal(u)


def _numpyro_dist(p: Parameter):
    import numpyro.distributions as dist

    if p.prior == "normal":
        return dist.Normal(p.loc, p.scale_sd)
    if p.scale == "log":
        return dist.LogUniform(p.low, p.high)
    return dist.Uniform(p.low, p.high)


def _check_n(n) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ParameterError(f"number of points must be a positive integer, got {n!r}")


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _is_jax(x) -> bool:
    import jax

    return isinstance(x, jax.Array)
