"""Trained emulators as data: a folder with a frozen spec, safetensors weights, normalisation
statistics and a model card, plus the domain guard every emulator applies to its inputs.

    <dir>/spec.json                 architecture and schema version (what to rebuild)
    <dir>/weights.safetensors       named tensors (no pickles)
    <dir>/normalisation.safetensors named statistics (means, standard deviations, ...)
    <dir>/card.json                 training domain, dataset hash, metrics, code version, date

Loading checks the schema version and names what is missing; saving refuses to overwrite an
existing artifact unless asked to, so that nothing already written is lost.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from crinfer.core.errors import ConfigurationError, DomainError

FILES = ("spec.json", "weights.safetensors", "normalisation.safetensors", "card.json")


def dataset_hash(*arrays) -> str:
    """sha256 of the float64 bytes of the arrays, in order (``None`` entries are skipped)."""
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            a = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
            h.update(str(a.shape).encode())
            h.update(a.tobytes())
    return h.hexdigest()


@dataclass
class ModelCard:
    """What a user needs to trust (or not) an emulator.

    training_domain: parameter name -> [low, high] of the training parameters (physical units);
    empty for an unconditional emulator. metrics: name -> number (e.g. validation log prob).
    """

    name: str
    kind: str
    dataset_hash: str
    n_train: int
    n_validation: int
    training_domain: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    notes: str = ""
    code_version: str = ""
    created: str = ""

    def __post_init__(self):
        if not self.code_version:
            from crinfer import __version__

            self.code_version = __version__
        if not self.created:
            self.created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class DomainGuard:
    """Checks concrete parameter batches against the training domain.

    mode: "warn" (a warning naming the parameter, value and domain), "refuse" (DomainError)
    or "off". Traced (JAX) inputs are not inspected: guard the values before tracing.
    """

    names: tuple
    low: np.ndarray
    high: np.ndarray
    mode: str = "warn"

    def __post_init__(self):
        if self.mode not in ("warn", "refuse", "off"):
            raise ConfigurationError(f"domain guard mode={self.mode!r}; allowed: 'warn', 'refuse', 'off'")

    @classmethod
    def from_card(cls, card: ModelCard, mode="warn"):
        names = tuple(card.training_domain)
        bounds = np.array([card.training_domain[n] for n in names], dtype=float).reshape(-1, 2)
        return cls(names, bounds[:, 0], bounds[:, 1], mode)

    def check(self, theta) -> None:
        if self.mode == "off" or not self.names or _is_tracer(theta):
            return
        theta = np.asarray(theta, dtype=float).reshape(-1, len(self.names))
        outside = (theta < self.low) | (theta > self.high)
        if not outside.any():
            return
        row, col = (int(i) for i in np.argwhere(outside)[0])
        msg = (f"parameter {self.names[col]!r} = {float(theta[row, col])!r} (row {row}) is outside the "
               f"emulator's training domain [{self.low[col]}, {self.high[col]}]")
        if self.mode == "refuse":
            raise DomainError(msg)
        warnings.warn(msg + "; its output there is an extrapolation", stacklevel=3)


def _is_tracer(x) -> bool:
    import jax

    return isinstance(x, jax.core.Tracer)


def save_artifact(directory, spec: dict, weights: dict, normalisation: dict, card: ModelCard,
                  overwrite=False) -> Path:
    """Write the four files of an artifact into ``directory`` (created if needed)."""
    directory = Path(directory)
    existing = [f for f in FILES if (directory / f).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{directory} already holds an artifact ({', '.join(existing)}); "
                              "pass overwrite=True to replace it")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "spec.json").write_text(json.dumps(spec, indent=2) + "\n")
    save_file({k: np.ascontiguousarray(v) for k, v in weights.items()}, directory / "weights.safetensors")
    save_file({k: np.ascontiguousarray(v) for k, v in normalisation.items()},
              directory / "normalisation.safetensors")
    (directory / "card.json").write_text(json.dumps(asdict(card), indent=2) + "\n")
    return directory


def load_artifact(directory, schema: str):
    """(spec, weights, normalisation, card) from ``directory``; the spec's schema must be ``schema``."""
    directory = Path(directory)
    missing = [f for f in FILES if not (directory / f).exists()]
    if missing:
        raise FileNotFoundError(f"{directory} is not a complete emulator artifact: missing {', '.join(missing)}")
    spec = json.loads((directory / "spec.json").read_text())
    if spec.get("schema") != schema:
        raise ConfigurationError(f"{directory}/spec.json has schema={spec.get('schema')!r}; expected {schema!r}")
    card = ModelCard(**json.loads((directory / "card.json").read_text()))
    return (spec, load_file(directory / "weights.safetensors"),
            load_file(directory / "normalisation.safetensors"), card)
