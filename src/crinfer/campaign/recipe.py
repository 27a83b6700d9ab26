"""Campaign recipes: TOML files saying what to simulate, where and how often.

A recipe names a registered simulator and its configuration, the parameter space, a
design (prior draws, Latin hypercube or grid), the number of stochastic realisations per
design point, the chunk size and seed, and (optionally) the output store. See
``docs/campaigns.md`` for the format.
"""
from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import ConfigurationError, CrinferError, ParameterSpace
from . import registry

DESIGN_TYPES = ("prior", "latin_hypercube", "grid")

_TOP_KEYS = {"title", "simulator", "parameters", "design", "campaign", "store"}
_SIM_KEYS = {"name", "config"}
_DESIGN_KEYS = {"type", "n", "points_per_dim", "seed"}
_CAMPAIGN_KEYS = {"realisations", "chunk_size", "seed"}
_STORE_KEYS = {"path"}


@dataclass(frozen=True)
class Design:
    """Where in parameter space to simulate.

    Args:
        type: ``"prior"``, ``"latin_hypercube"`` or ``"grid"``.
        n: number of points (prior, latin_hypercube).
        points_per_dim: grid points per parameter, one int or one per parameter (grid).
        seed: seed of the design draw (prior, latin_hypercube).
    """

    type: str
    n: int | None = None
    points_per_dim: int | tuple[int, ...] | None = None
    seed: int | None = None

    def points(self, params: ParameterSpace) -> np.ndarray:
        """The ``(n_points, P)`` design in physical units, clipped to the bounds.

        Clipping removes the last-ulp overshoot of ``10**log10(bound)`` at log-scale edges.
        """
        if self.type == "grid":
            theta = params.grid(self.points_per_dim)
        elif self.type == "prior":
            theta = params.sample_prior(self.seed, self.n)
        else:
            theta = params.latin_hypercube(self.seed, self.n)
        return np.clip(theta, params.low, params.high)

    def size(self, n_params: int) -> int:
        if self.type != "grid":
            return self.n
        per = self.points_per_dim
        return int(np.prod([per] * n_params if isinstance(per, int) else per))

    def to_dict(self) -> dict:
        out = {"type": self.type}
        if self.type == "grid":
            out["points_per_dim"] = self.points_per_dim if isinstance(self.points_per_dim, int) \
                else list(self.points_per_dim)
        else:
            out.update(n=self.n, seed=self.seed)
        return out


@dataclass(frozen=True)
class Recipe:
    """A parsed, validated campaign recipe.

    Rows of the dataset are ``(design point, realisation)`` pairs, point-major:
    row ``r`` is point ``r // realisations``, realisation ``r % realisations``.
    """

    simulator: str
    config: dict
    params: ParameterSpace
    design: Design
    realisations: int
    chunk_size: int
    seed: int
    store: Path | None = None
    title: str = ""
    text: str = field(default="", compare=False, repr=False)

    @property
    def n_points(self) -> int:
        return self.design.size(len(self.params))

    @property
    def n_rows(self) -> int:
        return self.n_points * self.realisations

    @property
    def n_chunks(self) -> int:
        return -(-self.n_rows // self.chunk_size)

    def chunk_rows(self, index: int) -> range:
        """Global row indices of chunk ``index``."""
        return range(index * self.chunk_size, min((index + 1) * self.chunk_size, self.n_rows))

    def data_dict(self) -> dict:
        """Everything that determines the dataset's numbers (the store path does not)."""
        return {
            "simulator": {"name": self.simulator, "config": self.config},
            "parameters": self.params.to_dict(),
            "design": self.design.to_dict(),
            "campaign": {"realisations": self.realisations, "chunk_size": self.chunk_size,
                         "seed": self.seed},
        }

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of :meth:`data_dict`."""
        canon = json.dumps(self.data_dict(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canon.encode()).hexdigest()

    # -- construction -------------------------------------------------------
    @classmethod
    def from_toml(cls, path: str | Path) -> "Recipe":
        """Read and validate the recipe file ``path``."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigurationError(f"cannot read recipe {str(path)!r}: {exc}") from exc
        return cls.from_text(text, source=str(path))

    @classmethod
    def from_text(cls, text: str, source: str = "<recipe>") -> "Recipe":
        """Parse TOML ``text``; ``source`` names it in error messages."""
        try:
            table = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"recipe {source}: invalid TOML: {exc}") from exc
        return cls.from_dict(table, text=text, source=source)

    @classmethod
    def from_dict(cls, table: dict, *, text: str = "", source: str = "<recipe>") -> "Recipe":
        """Validate a recipe table; every error names the offending key or value."""
        where = f"recipe {source}"
        _check_keys(table, _TOP_KEYS, where)
        for section in ("simulator", "parameters", "design", "campaign"):
            if section not in table:
                raise ConfigurationError(f"{where}: missing section [{section}]")
            if not isinstance(table[section], dict):
                raise ConfigurationError(f"{where}: [{section}] must be a table, got {table[section]!r}")

        sim = table["simulator"]
        _check_keys(sim, _SIM_KEYS, f"{where} [simulator]")
        name = sim.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"{where} [simulator]: 'name' must be a non-empty string, got {name!r}")
        if not registry.is_known(name):
            raise ConfigurationError(
                f"{where} [simulator]: unknown simulator {name!r}; registered: "
                f"{registry.registered_simulators()} (or an importable 'module:attribute')"
            )
        config = sim.get("config", {})
        if not isinstance(config, dict):
            raise ConfigurationError(f"{where} [simulator]: 'config' must be a table, got {config!r}")

        try:
            params = ParameterSpace.from_dict(table["parameters"])
        except (CrinferError, TypeError) as exc:
            raise ConfigurationError(f"{where} [parameters]: {exc}") from exc

        design = _parse_design(table["design"], len(params), f"{where} [design]")
        normal = [p.name for p in params if p.prior == "normal"]
        if design.type == "grid" and normal:
            raise ConfigurationError(f"{where} [design]: a grid needs finite bounds, but {normal} "
                                     "have a normal prior; use 'prior' or 'latin_hypercube'")

        camp = table["campaign"]
        _check_keys(camp, _CAMPAIGN_KEYS, f"{where} [campaign]")
        realisations = _positive_int(camp.get("realisations", 1), "realisations", f"{where} [campaign]")
        chunk_size = _positive_int(camp.get("chunk_size"), "chunk_size", f"{where} [campaign]")
        seed = _seed(camp.get("seed"), f"{where} [campaign]")

        store = table.get("store", {})
        if not isinstance(store, dict):
            raise ConfigurationError(f"{where}: [store] must be a table, got {store!r}")
        _check_keys(store, _STORE_KEYS, f"{where} [store]")
        path = store.get("path")
        if path is not None and (not isinstance(path, str) or not path):
            raise ConfigurationError(f"{where} [store]: 'path' must be a non-empty string, got {path!r}")

        title = table.get("title", "")
        if not isinstance(title, str):
            raise ConfigurationError(f"{where}: 'title' must be a string, got {title!r}")
        return cls(simulator=name, config=dict(config), params=params, design=design,
                   realisations=realisations, chunk_size=chunk_size, seed=seed,
                   store=Path(path) if path else None, title=title, text=text)


def load_recipe(recipe: "Recipe | str | Path") -> Recipe:
    """A :class:`Recipe` from itself or from a TOML file path."""
    return recipe if isinstance(recipe, Recipe) else Recipe.from_toml(recipe)


def _parse_design(d: dict, n_params: int, where: str) -> Design:
    _check_keys(d, _DESIGN_KEYS, where)
    kind = d.get("type")
    if kind not in DESIGN_TYPES:
        raise ConfigurationError(f"{where}: design type {kind!r} is not one of {list(DESIGN_TYPES)}")
    if kind == "grid":
        for key in ("n", "seed"):
            if key in d:
                raise ConfigurationError(
                    f"{where}: a grid takes 'points_per_dim', not {key!r} (got {key} = {d[key]!r})"
                )
        per = d.get("points_per_dim")
        if isinstance(per, list):
            if len(per) != n_params:
                raise ConfigurationError(
                    f"{where}: points_per_dim has {len(per)} entries, need one per parameter ({n_params})"
                )
            per = tuple(_positive_int(k, "points_per_dim", where) for k in per)
        else:
            per = _positive_int(per, "points_per_dim", where)
        return Design("grid", points_per_dim=per)
    if "points_per_dim" in d:
        raise ConfigurationError(f"{where}: 'points_per_dim' is only for a grid, not for {kind!r}")
    return Design(kind, n=_positive_int(d.get("n"), "n", where), seed=_seed(d.get("seed"), where))


def _check_keys(table: dict, allowed: set, where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigurationError(f"{where}: unknown key(s) {unknown}; allowed {sorted(allowed)}")


def _positive_int(value, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{where}: {name} must be a positive integer, got {value!r}")
    return value


def _seed(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{where}: seed must be a non-negative integer, got {value!r}")
    return value
