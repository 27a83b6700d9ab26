"""Node-centred axisymmetric (r, z) x log-energy grid of the transport solver.

Nodes (DRAGON2/GALPROP convention): r_i = i dr, i = 0..n_r-1, from the axis to R_h;
z_j = -z_h + j dz, j = 0..n_z-1; E_k = E_min f^k, k = 0..n_E-1 (kinetic energy, GeV, per
nucleon for nuclei). The nodes on r = R_h and |z| = z_h carry the free-escape condition
psi = 0; every other node is an unknown. Each node owns a finite-volume cell:
[r_i - dr/2, r_i + dr/2] (for the axis node [0, dr/2]), [z_j - dz/2, z_j + dz/2] and
[E_k f^-1/2, E_k f^1/2]. Lengths in kpc, energies in GeV.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from crinfer.core.errors import ConfigurationError


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be a finite number > 0, got {value!r}")
    return value


@dataclass(frozen=True, eq=False)
class TransportGrid:
    """Uniform node-centred grid in r and z, logarithmic in energy.

    Args:
        r_max: halo radius R_h [kpc] (> 0).
        z_h: halo half-height [kpc] (> 0); the domain is -z_h <= z <= z_h.
        n_r: number of r nodes including the axis and r = R_h (>= 3).
        n_z: number of z nodes including both boundaries (>= 3).
        energies: strictly increasing, positive kinetic energies [GeV] with a constant ratio.
    """

    r_max: float
    z_h: float
    n_r: int
    n_z: int
    energies: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "r_max", _check_positive("r_max (halo radius R_h, kpc)", self.r_max))
        object.__setattr__(self, "z_h", _check_positive("z_h (halo half-height, kpc)", self.z_h))
        for name in ("n_r", "n_z"):
            n = getattr(self, name)
            if int(n) != n or n < 3:
                raise ConfigurationError(f"{name} must be an integer >= 3, got {n!r}")
            object.__setattr__(self, name, int(n))
        E = np.asarray(self.energies, dtype=float)
        if E.ndim != 1 or E.size < 3:
            raise ConfigurationError(f"energy grid must be a 1-D array of >= 3 nodes, got shape {E.shape}")
        if not np.all(np.isfinite(E)) or np.any(E <= 0):
            raise ConfigurationError(f"energies must be finite and > 0 GeV, got min {float(E.min())!r}")
        steps = np.diff(np.log(E))
        if np.any(steps <= 0):
            k = int(np.argmax(steps <= 0))
            raise ConfigurationError(
                f"energy grid must be strictly increasing; E[{k}] = {float(E[k])!r} >= E[{k + 1}] = {float(E[k + 1])!r} GeV"
            )
        if np.ptp(steps) > 1e-9 * steps.mean():
            raise ConfigurationError(
                "energy grid must be logarithmic (constant ratio E[k+1]/E[k]); ratios range over "
                f"[{float(np.exp(steps.min()))!r}, {float(np.exp(steps.max()))!r}]"
            )
        E.setflags(write=False)
        object.__setattr__(self, "energies", E)

    @classmethod
    def logarithmic(cls, r_max, z_h, n_r, n_z, E_min, n_E, factor=None, E_max=None) -> "TransportGrid":
        """Build E_k = E_min factor^k (k < n_E); give ``factor`` or ``E_max`` (the top node)."""
        E_min = _check_positive("E_min (GeV)", E_min)
        if int(n_E) != n_E or n_E < 3:
            raise ConfigurationError(f"n_E must be an integer >= 3, got {n_E!r}")
        if (factor is None) == (E_max is None):
            raise ConfigurationError("give exactly one of factor (E ratio between nodes) or E_max (GeV)")
        if factor is None:
            E_max = _check_positive("E_max (GeV)", E_max)
            if E_max <= E_min:
                raise ConfigurationError(
                    f"energy grid must be increasing: E_max = {E_max!r} GeV <= E_min = {E_min!r} GeV"
                )
            factor = (E_max / E_min) ** (1.0 / (n_E - 1))
        factor = float(factor)
        if not np.isfinite(factor) or factor <= 1.0:
            raise ConfigurationError(f"energy factor must be > 1 (increasing grid), got {factor!r}")
        return cls(r_max, z_h, n_r, n_z, E_min * factor ** np.arange(int(n_E)))

    # -- coordinates -------------------------------------------------------------------
    @cached_property
    def r(self) -> np.ndarray:
        """r nodes [kpc], 0 .. R_h."""
        return np.linspace(0.0, self.r_max, self.n_r)

    @cached_property
    def z(self) -> np.ndarray:
        """z nodes [kpc], -z_h .. z_h."""
        return np.linspace(-self.z_h, self.z_h, self.n_z)

    @property
    def dr(self) -> float:
        return self.r_max / (self.n_r - 1)

    @property
    def dz(self) -> float:
        return 2.0 * self.z_h / (self.n_z - 1)

    @property
    def n_E(self) -> int:
        return self.energies.size

    @property
    def log_step(self) -> float:
        """h = ln(E[k+1]/E[k])."""
        return float(np.log(self.energies[1] / self.energies[0]))

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.n_r, self.n_z, self.n_E

    @property
    def n_cells(self) -> int:
        return self.n_r * self.n_z * self.n_E

    # -- interior (unknown) nodes ------------------------------------------------------
    @property
    def interior_shape(self) -> tuple[int, int]:
        """(n_r - 1, n_z - 2): nodes with r < R_h and |z| < z_h."""
        return self.n_r - 1, self.n_z - 2

    @property
    def n_interior(self) -> int:
        return (self.n_r - 1) * (self.n_z - 2)

    def interior(self, field: np.ndarray) -> np.ndarray:
        """Restrict a (n_r, n_z, ...) array to the unknown nodes."""
        return field[:-1, 1:-1]

    def embed(self, interior: np.ndarray) -> np.ndarray:
        """(n_r-1, n_z-2, ...) -> (n_r, n_z, ...) with zeros on the free-escape boundary."""
        out = np.zeros((self.n_r, self.n_z) + interior.shape[2:], dtype=interior.dtype)
        out[:-1, 1:-1] = interior
        return out

    # -- finite-volume geometry --------------------------------------------------------
    @cached_property
    def r_faces(self) -> np.ndarray:
        """Outer face radius r_{i+1/2} of each r cell [kpc] (n_r values; the last is R_h + dr/2)."""
        return self.r + 0.5 * self.dr

    @cached_property
    def r_volumes(self) -> np.ndarray:
        """Cell 'volumes' int r dr over each r cell [kpc^2]: dr^2/8 on the axis, r_i dr elsewhere."""
        vol = self.r * self.dr
        vol[0] = self.dr**2 / 8.0
        return vol

    @cached_property
    def E_faces(self) -> np.ndarray:
        """n_E + 1 energy faces E_{k-1/2} [GeV], geometric midpoints between nodes."""
        f = np.exp(0.5 * self.log_step)
        return np.concatenate([self.energies / f, self.energies[-1:] * f])

    @cached_property
    def E_widths(self) -> np.ndarray:
        """Cell widths Delta E_k = E_{k+1/2} - E_{k-1/2} [GeV]."""
        return np.diff(self.E_faces)

    # -- helpers -----------------------------------------------------------------------
    def contains(self, r: float, z: float) -> bool:
        """True when (r, z) lies inside the closed domain."""
        return 0.0 <= r <= self.r_max and -self.z_h <= z <= self.z_h

    def check_observer(self, r: float, z: float) -> None:
        """Raise ConfigurationError if the observer (r, z) [kpc] is outside the grid."""
        if not (np.isfinite(r) and np.isfinite(z)) or not self.contains(r, z):
            raise ConfigurationError(
                f"observer at (r, z) = ({r!r}, {z!r}) kpc lies outside the grid "
                f"0 <= r <= {self.r_max} kpc, |z| <= {self.z_h} kpc"
            )
        if r >= self.r_max or abs(z) >= self.z_h:
            raise ConfigurationError(
                f"observer at (r, z) = ({r!r}, {z!r}) kpc lies on the free-escape boundary "
                "where psi = 0; move it inside the halo"
            )

    def describe(self) -> str:
        return (
            f"{self.n_r} x {self.n_z} x {self.n_E} nodes (r x z x E): R_h = {self.r_max} kpc, "
            f"z_h = {self.z_h} kpc, dr = {self.dr:.4g} kpc, dz = {self.dz:.4g} kpc, "
            f"E = {self.energies[0]:.4g} .. {self.energies[-1]:.4g} GeV, "
            f"ratio {np.exp(self.log_step):.6g}"
        )
