"""A trained PINN as an emulator: artifact on disk, psi anywhere, the Simulator interface.

    emu = PINNEmulator.load("emulators/pinn_a_diffusion")
    psi = emu.psi(r=8.5, z=0.0, E=np.logspace(-1, 6, 50))       # GeV^-1 kpc^-3

psi is per unit source normalisation: Q(E) = (R / GV)^-gamma / beta GeV^-1 kpc^-3 Myr^-1
((E / GeV)^-gamma for electrons) times the profiles of :class:`PINNProblem`. It is a JAX function
of theta, differentiable for likelihoods. A PINN of several species takes ``species="proton"``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from crinfer.core.errors import ConfigurationError, DomainError, ShapeError
from crinfer.core.protocols import Observable
from crinfer.emulators.artifact import DomainGuard, ModelCard, load_artifact, save_artifact

from .networks import FactorisedPINN, build
from .problem import PINNProblem
from .residual import psi as psi_from_model

SCHEMA = "crinfer.pinn/1"


def model_weights(model: FactorisedPINN) -> dict:
    """Named arrays of the model (path strings as names)."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(eqx.filter(model, eqx.is_array))
    return {jax.tree_util.keystr(p): np.asarray(v) for p, v in leaves}


def model_from_weights(problem: PINNProblem, arch: dict, weights: dict) -> FactorisedPINN:
    """Rebuild the architecture and fill it with ``weights`` (names must match exactly)."""
    skeleton = build(len(problem.names), len(problem.species), arch, jax.random.key(0))
    params, static = eqx.partition(skeleton, eqx.is_array)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
    names = [jax.tree_util.keystr(p) for p, _ in leaves]
    missing = [n for n in names if n not in weights]
    if missing or len(names) != len(weights):
        raise ShapeError(f"PINN weights do not match the architecture: missing {missing[:3]}, "
                         f"{len(weights)} stored vs {len(names)} expected")
    bad = [n for (n, (_, v)) in zip(names, leaves) if weights[n].shape != v.shape]
    if bad:
        raise ShapeError(f"PINN weight {bad[0]!r} has shape {weights[bad[0]].shape}, expected "
                         f"{dict(zip(names, (v.shape for _, v in leaves)))[bad[0]]}")
    filled = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(weights[n]) for n in names])
    return eqx.combine(filled, static)


def problem_hash(problem: PINNProblem) -> str:
    """A PINN sees no data: the card's dataset hash is the sha256 of the problem definition,
    including the order of the conditioned parameters (the order of the network's inputs)."""
    definition = {"problem": problem.to_dict(), "input_order": list(problem.names)}
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()


class PINNEmulator:
    """psi(r, z, E; theta) from a trained factorised PINN.

    Args:
        problem, model, arch: the PDE, the trained network and its hyper-parameters.
        card: the model card (training domain, residual and validation metrics).
        points: (r [kpc], z [kpc], E [GeV]) arrays of equal length, the observable of
            :meth:`simulate`; default the local spectrum at (8.5, 0) kpc, 1e-1..1e6 GeV
            (for several species, one row per species: shape (S, N)).
        guard: domain-guard mode for theta: "warn", "refuse" or "off".
    """

    def __init__(self, problem: PINNProblem, model: FactorisedPINN, arch: dict, card: ModelCard,
                 points=None, guard: str = "warn"):
        self.problem, self.model, self.arch, self.card = problem, model, dict(arch), card
        self.params = problem.params
        self.guard = DomainGuard(problem.names, problem.params.low, problem.params.high, guard) \
            if problem.names else DomainGuard((), np.zeros(0), np.zeros(0), guard)   # params None: fixed
        if points is None:
            E = np.logspace(np.log10(problem.E_min), np.log10(problem.E_max), 57)
            points = (np.full_like(E, 8.5), np.zeros_like(E), E)
        self.points = tuple(np.asarray(p, dtype=float) for p in points)
        n_species = len(problem.species)
        shape = (self.points[0].size,) if n_species == 1 else (n_species, self.points[0].size)
        self.observable = Observable("psi", shape, "GeV^-1 kpc^-3", grid=self.points[2], grid_unit="GeV")
        self._psi = eqx.filter_jit(lambda m, rho, zeta, lnE, a: psi_from_model(m, problem, rho, zeta, lnE, a))

    # -- evaluation -----------------------------------------------------------------------------
    def _check_points(self, r, z, E, z_h):
        checks = (("r", r, 0.0, self.problem.R_h, "kpc"), ("|z|", np.abs(z), 0.0, z_h, "kpc"),
                  ("E", E, self.problem.E_min, self.problem.E_max, "GeV"))
        for name, arr, lo, hi, unit in checks:
            arr = np.asarray(arr, dtype=float)
            bad = ~((arr >= lo * (1 - 1e-9)) & (arr <= hi * (1 + 1e-9)))
            if bad.any():
                val = float(arr.ravel()[np.argmax(bad.ravel())])
                raise DomainError(f"{name} = {val!r} {unit} is outside the PINN's domain [{lo}, {hi}] {unit}")

    def species_index(self, species: str | None) -> int:
        """Output index of ``species`` (None: the only species of a one-species PINN)."""
        names = self.problem.species
        if species is None and len(names) == 1:
            return 0
        if species not in names:
            raise ConfigurationError(f"species={species!r}; this PINN's outputs are {list(names)}")
        return names.index(species)

    def psi(self, r, z, E, theta=None, species: str | None = None):
        """psi [GeV^-1 kpc^-3] of ``species`` at broadcastable r, z [kpc], E [kinetic, GeV] for
        physical theta (P,)."""
        s = self.species_index(species)
        return self.psi_all(r, z, E, theta)[..., s]

    def psi_all(self, r, z, E, theta=None):
        """psi of every species from one network evaluation; the species are the last axis."""
        theta = jnp.zeros(0, jnp.float32) if theta is None else jnp.asarray(theta, dtype=jnp.float32)
        if theta.shape != (len(self.problem.names),):
            raise ShapeError(f"theta must have shape ({len(self.problem.names)},) with "
                             f"{list(self.problem.names)}, got {theta.shape}")
        self.guard.check(theta[None, :])
        z_h = self.problem.values(theta)["z_h"]
        if not isinstance(r, jax.core.Tracer):
            self._check_points(r, z, E, float(z_h) if not isinstance(z_h, jax.core.Tracer) else np.inf)
        r, z, E = jnp.broadcast_arrays(*(jnp.asarray(v, dtype=jnp.float32) for v in (r, z, E)))
        a = self.problem.to_unit(theta) if self.problem.names else theta
        return self._psi(self.model, r / self.problem.R_h, z / z_h, jnp.log(E), a)

    def simulate(self, key, theta):
        """(B, P) physical parameters -> (B, N) psi at ``points``, (B, S, N) for several species
        (deterministic; key unused)."""
        del key
        theta = jnp.asarray(theta, dtype=jnp.float32)
        if theta.ndim != 2 or theta.shape[1] != len(self.problem.names):
            raise ShapeError(f"theta must have shape (B, {len(self.problem.names)}), got {theta.shape}")
        out = jnp.stack([self.psi_all(*self.points, t) for t in theta])      # (B, N, S)
        return out[..., 0] if len(self.problem.species) == 1 else jnp.moveaxis(out, -1, 1)

    # -- artifact -------------------------------------------------------------------------------
    def save(self, directory, train_config: dict | None = None, overwrite: bool = False) -> Path:
        spec = dict(schema=SCHEMA, problem=self.problem.to_dict(), architecture=self.arch,
                    train=train_config or {})
        return save_artifact(directory, spec, model_weights(self.model), {}, self.card, overwrite=overwrite)

    @classmethod
    def load(cls, directory, points=None, guard: str = "warn") -> "PINNEmulator":
        spec, weights, _, card = load_artifact(directory, SCHEMA)
        problem = PINNProblem.from_dict(spec["problem"])
        model = model_from_weights(problem, spec["architecture"], weights)
        return cls(problem, model, spec["architecture"], card, points=points, guard=guard)
