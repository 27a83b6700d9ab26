"""Spatial diffusion coefficient D = D0 beta^eta (R/R0)^delta (GALPROP convention, R0 = 4 GV).

D is returned in the units of D0 (use ``constants.CM2_PER_S_TO_KPC2_PER_MYR`` to convert
cm^2/s to kpc^2/Myr). Rigidity R in GV. Seed 002 eq. 2.2; Strong, Moskalenko & Ptuskin 2007.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import jax
import jax.numpy as jnp

from crinfer.physics.kinematics import Species


def diffusion_coefficient(R, D0, delta, R0=4.0, eta=0.0, beta=1.0):
    """D = D0 beta^eta (R/R0)^delta in the units of D0; R and R0 in GV, beta = v/c."""
    return D0 * jnp.power(beta, eta) * (jnp.asarray(R) / R0) ** delta   # power keeps a Python beta weakly typed (float32 stays float32)


def exponential_halo_profile(z, z_t):
    """Spatial profile exp(|z|/z_t) (D grows away from the disc); z, z_t in kpc."""
    return jnp.exp(jnp.abs(jnp.asarray(z)) / z_t)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class DiffusionModel:
    """D(R, r, z) = D0 beta^eta (R/R0)^delta * profile(r, z).

    Fields D0 (units of choice, e.g. kpc^2/Myr), delta, eta are pytree leaves (differentiable);
    R0 [GV] and the optional ``profile(r, z)`` callable (dimensionless, kpc arguments) are static.
    """

    D0: float
    delta: float
    eta: float = 0.0
    R0: float = field(default=4.0, metadata=dict(static=True))
    profile: Optional[Callable] = field(default=None, metadata=dict(static=True))

    def of_rigidity(self, R, beta=1.0):
        """D at rigidity R [GV] and velocity beta (no spatial factor)."""
        return diffusion_coefficient(R, self.D0, self.delta, self.R0, self.eta, beta)

    def of_kinetic(self, species: Species, Ek_n):
        """D for ``species`` at kinetic energy per nucleon Ek_n [GeV/n] (no spatial factor)."""
        return self.of_rigidity(species.rigidity(Ek_n), species.beta(Ek_n))

    def __call__(self, species: Species, Ek_n, r=None, z=None):
        """D(Ek_n) times the spatial profile at (r, z) [kpc] when a profile is set."""
        D = self.of_kinetic(species, Ek_n)
        if self.profile is None:
            return D
        if r is None or z is None:
            raise ValueError("DiffusionModel has a spatial profile: pass both r and z (kpc)")
        return D * self.profile(r, z)
