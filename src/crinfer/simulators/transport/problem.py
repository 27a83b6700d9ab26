"""What the solver is given for one species: arrays on the grid, independent of the physics
that produced them.

    0 = Q + div(D grad psi) - d/dz(V psi) + d/dE(b psi) + [momentum diffusion] [+ adiabatic]

psi(r, z, E): particles per GeV per kpc^3 (per GeV/n for nuclei) when Q is in particles
GeV^-1 kpc^-3 Myr^-1. D in kpc^2/Myr, b = -dE/dt in GeV/Myr, V in kpc/Myr, Dpp/p^2 in 1/Myr.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from crinfer.core.errors import ConfigurationError

from .grid import TransportGrid


@dataclass(frozen=True, eq=False)
class SpeciesProblem:
    """One species' coefficients and source on a :class:`TransportGrid`.

    Args:
        name: species label (key of the result).
        diffusion: D [kpc^2/Myr] at the nodes, shape (n_E,) (spatially uniform, or times
            ``diffusion_profile``) or (n_r, n_z, n_E).
        source: Q [GeV^-1 kpc^-3 Myr^-1] at the nodes, shape (n_r, n_z, n_E), or the spatial
            factor S(r, z), shape (n_r, n_z), when ``source_spectrum`` is given.
        source_spectrum: q(E), shape (n_E,), with Q = S(r, z) q(E).
        diffusion_profile: dimensionless (n_r, n_z) factor multiplying a (n_E,) ``diffusion``.
        loss_rate: b = -dE/dt >= 0 [GeV/Myr], shape (n_E,) or (n_r, n_z, n_E); None for none.
        reacceleration_rate: Dpp/p^2 >= 0 [1/Myr], shape (n_E,) or (n_r, n_z, n_E); None for none.
        wind: V_z(z) [kpc/Myr], a vectorised callable of z [kpc]; also adds the adiabatic loss
            b = (beta p / 3) dV_z/dz. None for none.
        mass: particle mass per nucleon [GeV], needed for reacceleration and the adiabatic term.
    """

    name: str
    diffusion: np.ndarray
    source: np.ndarray
    source_spectrum: Optional[np.ndarray] = None
    diffusion_profile: Optional[np.ndarray] = None
    loss_rate: Optional[np.ndarray] = None
    reacceleration_rate: Optional[np.ndarray] = None
    wind: Optional[Callable] = None
    mass: Optional[float] = None

    # -- derived properties -------------------------------------------------------------
    @property
    def separable_source(self) -> bool:
        return self.source_spectrum is not None

    @property
    def uniform_diffusion(self) -> bool:
        return np.ndim(self.diffusion) == 1 and self.diffusion_profile is None

    def spatially_uniform(self) -> bool:
        """True when every coefficient is independent of (r, z) (the modal solver applies)."""
        return (
            self.uniform_diffusion
            and self.wind is None
            and (self.loss_rate is None or np.ndim(self.loss_rate) == 1)
            and (self.reacceleration_rate is None or np.ndim(self.reacceleration_rate) == 1)
        )

    def source_at(self, k: int) -> np.ndarray:
        """Q(r, z, E_k) on the full (n_r, n_z) grid."""
        if self.separable_source:
            return self.source * self.source_spectrum[k]
        return self.source[:, :, k]

    # -- validation -----------------------------------------------------------------------
    def validate(self, grid: TransportGrid) -> "SpeciesProblem":
        """Check shapes and signs; raise ConfigurationError naming the bad input."""
        n_r, n_z, n_E = grid.shape
        who = f"species {self.name!r}"

        def arr(name, value, shapes, positive=False, nonneg=False):
            a = np.asarray(value, dtype=float)
            if a.shape not in shapes:
                raise ConfigurationError(f"{who}: {name} must have shape one of {shapes}, got {a.shape}")
            bad = ~np.isfinite(a)
            if bad.any():
                raise ConfigurationError(
                    f"{who}: {name} has a non-finite value at index {tuple(np.argwhere(bad)[0])}"
                )
            if positive and np.any(a <= 0):
                idx = tuple(int(i) for i in np.argwhere(a <= 0)[0])
                raise ConfigurationError(
                    f"{who}: {name} must be > 0 everywhere, got {a[idx]!r} at index {idx}"
                )
            if nonneg and np.any(a < 0):
                idx = tuple(int(i) for i in np.argwhere(a < 0)[0])
                raise ConfigurationError(
                    f"{who}: {name} must be >= 0 everywhere, got {a[idx]!r} at index {idx}"
                )
            return a

        arr("diffusion D [kpc^2/Myr]", self.diffusion, [(n_E,), (n_r, n_z, n_E)], positive=True)
        if self.diffusion_profile is not None:
            if np.ndim(self.diffusion) != 1:
                raise ConfigurationError(f"{who}: diffusion_profile needs a (n_E,) diffusion array")
            arr("diffusion_profile", self.diffusion_profile, [(n_r, n_z)], positive=True)
        if self.separable_source:
            S = arr("spatial source S(r, z)", self.source, [(n_r, n_z)])
            q = arr("source_spectrum q(E)", self.source_spectrum, [(n_E,)])
            inside = np.abs(grid.interior(S)).max() * np.abs(q).max()
            total = np.abs(S).max() * np.abs(q).max()
        else:
            Q = arr("source Q(r, z, E)", self.source, [(n_r, n_z, n_E)])
            inside = np.abs(grid.interior(Q)).max()
            total = np.abs(Q).max()
        if inside == 0:
            where = "only on the free-escape boundary" if total > 0 else "everywhere"
            raise ConfigurationError(
                f"{who}: the source is zero {where}: it must be non-zero somewhere inside the "
                f"domain r < {grid.r_max} kpc, |z| < {grid.z_h} kpc"
            )
        if self.loss_rate is not None:
            arr("loss rate b = -dE/dt [GeV/Myr]", self.loss_rate, [(n_E,), (n_r, n_z, n_E)], nonneg=True)
        if self.reacceleration_rate is not None:
            arr("reacceleration rate Dpp/p^2 [1/Myr]", self.reacceleration_rate,
                [(n_E,), (n_r, n_z, n_E)], nonneg=True)
        if (self.reacceleration_rate is not None or self.wind is not None) and not (
            self.mass is not None and np.isfinite(self.mass) and self.mass > 0
        ):
            raise ConfigurationError(
                f"{who}: reacceleration and winds need the particle mass per nucleon [GeV] > 0, "
                f"got mass={self.mass!r}"
            )
        if self.wind is not None:
            zf = grid.z[:-1] + 0.5 * grid.dz
            v = np.asarray(self.wind(zf), dtype=float)
            if v.shape != zf.shape or not np.all(np.isfinite(v)):
                raise ConfigurationError(
                    f"{who}: wind(z) must return finite velocities [kpc/Myr] of the shape of z"
                )
        return self
