"""Radiation fields as sums of (diluted) black bodies, and the local ISRF model.

A component has temperature T_K [K] and energy density u_eV_cm3 [eV/cm^3]; its dilution factor
is W = u / (a T^4). ``LOCAL_ISRF`` near the Sun is the Delahaye et al. (2010) five-grey-body fit
plus the CMB (docs/physics.md for the choice and citations).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax

from crinfer.core.errors import ConfigurationError
from crinfer.physics import constants as C
from crinfer.physics import losses


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class BlackBody:
    """A (diluted) black-body photon field: temperature T_K [K], energy density u_eV_cm3."""

    T_K: float
    u_eV_cm3: float
    name: str = field(default="", metadata=dict(static=True))

    def __post_init__(self):
        for attr, unit in (("T_K", "K"), ("u_eV_cm3", "eV/cm^3")):
            v = getattr(self, attr)
            if isinstance(v, (int, float)) and not (math.isfinite(v) and v > 0):
                raise ConfigurationError(
                    f"BlackBody {self.name!r}: {attr}={v!r} {unit} is invalid: must be finite and > 0")

    @classmethod
    def from_dilution(cls, T_K: float, dilution: float = 1.0, name: str = "") -> "BlackBody":
        """Black body of temperature T_K [K] diluted by W (u = W a T^4)."""
        if not dilution > 0:
            raise ConfigurationError(f"BlackBody {name!r}: dilution={dilution!r} is invalid: must be > 0")
        return cls(T_K, dilution * C.A_RAD_EV_CM3_K4 * T_K**4, name)

    @property
    def dilution(self):
        """W = u / (a T^4)."""
        return self.u_eV_cm3 / (C.A_RAD_EV_CM3_K4 * self.T_K**4)

    @property
    def mean_photon_energy_eV(self):
        """<eps> = (pi^4 / (30 zeta(3))) k T = 2.701 k T [eV]."""
        return math.pi**4 / (30.0 * 1.2020569031595942) * C.K_B_EV_K * self.T_K

    @property
    def photon_density_cm3(self):
        """Photon number density u / <eps> [cm^-3]."""
        return self.u_eV_cm3 / self.mean_photon_energy_eV

    def ic_loss(self, E, method="closed_form"):
        """KN inverse-Compton loss [GeV/Myr] of electrons of total energy E [GeV] on this field."""
        return losses.ic_loss_on_fields(E, (self,), method)


CMB = BlackBody.from_dilution(C.T_CMB_K, 1.0, "CMB")
"""Cosmic microwave background, 2.7255 K, u = a T^4 = 0.2606 eV/cm^3 (Fixsen 2009)."""

# Delahaye et al. 2010 (A&A 524, A51), table 2 (local ISRF as grey bodies); the same
# temperatures/dilutions as DRAGON2's RadiationField_Delahaye10, u = W a T^4.
LOCAL_ISRF = (
    CMB,
    BlackBody.from_dilution(33.07, 4.5e-5, "IR (dust)"),
    BlackBody.from_dilution(313.32, 1.2e-9, "IR (warm dust)"),
    BlackBody.from_dilution(3249.3, 7.03e-13, "optical (K-M stars)"),
    BlackBody.from_dilution(6150.4, 3.39e-14, "optical (G stars)"),
    BlackBody.from_dilution(23209.0, 8.67e-17, "UV (O-B stars)"),
)
"""Local interstellar radiation field: CMB + 5 grey bodies, total u = 1.28 eV/cm^3."""


def total_energy_density(fields) -> float:
    """Sum of component energy densities [eV/cm^3]."""
    return sum(f.u_eV_cm3 for f in fields)


def ic_loss(E, fields=LOCAL_ISRF, method="closed_form"):
    """Total KN inverse-Compton loss [GeV/Myr] of electrons (total energy E [GeV]) on ``fields``."""
    return losses.ic_loss_on_fields(E, fields, method)
