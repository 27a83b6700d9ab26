"""Relativistic kinematics: momentum, kinetic energy, velocity and rigidity.

Energies and momenta in GeV (GeV/c), masses in GeV/c^2, rigidities in GV. Particle quantities
refer to the whole particle; the ``*_per_nucleon`` functions take the kinetic energy per nucleon
Ek_n of a nucleus of mass number A and charge Z with mass A m_u (binding energy neglected).
All functions accept NumPy or JAX arrays and are traceable/differentiable with jax.
"""
from __future__ import annotations

import jax.numpy as jnp

from crinfer.physics.constants import M_U


def momentum_from_kinetic(Ek, mass):
    """p = sqrt(Ek (Ek + 2 m)) [GeV/c] from kinetic energy Ek [GeV] and mass [GeV/c^2]."""
    Ek = jnp.asarray(Ek)
    return jnp.sqrt(Ek * (Ek + 2.0 * mass))


def kinetic_from_momentum(p, mass):
    """Ek = sqrt(p^2 + m^2) - m [GeV], written to avoid cancellation at p << m."""
    p = jnp.asarray(p)
    return p**2 / (jnp.sqrt(p**2 + mass**2) + mass)


def total_energy_from_kinetic(Ek, mass):
    """E = Ek + m [GeV]."""
    return jnp.asarray(Ek) + mass


def lorentz_factor(Ek, mass):
    """gamma = 1 + Ek/m."""
    return 1.0 + jnp.asarray(Ek) / mass


def beta_from_kinetic(Ek, mass):
    """beta = v/c = p/E for kinetic energy Ek [GeV] and mass [GeV/c^2]."""
    Ek = jnp.asarray(Ek)
    return momentum_from_kinetic(Ek, mass) / (Ek + mass)


def beta_from_momentum(p, mass):
    """beta = p / sqrt(p^2 + m^2)."""
    p = jnp.asarray(p)
    return p / jnp.sqrt(p**2 + mass**2)


def rigidity(p, Z=1, A=1):
    """Rigidity R = p / |Z| [GV] for momentum p [GeV/c] per particle (``A`` unused; kept so
    calls can pass species tuples). For a momentum per nucleon use ``rigidity_per_nucleon``."""
    del A
    return jnp.asarray(p) / jnp.abs(Z)


def momentum_from_rigidity(R, Z=1):
    """p = |Z| R [GeV/c] for rigidity R [GV]."""
    return jnp.abs(Z) * jnp.asarray(R)


def momentum_per_nucleon(Ek_n, A=1, mass_per_nucleon=M_U):
    """Momentum per particle p = A sqrt(Ek_n (Ek_n + 2 m_u)) [GeV/c] from Ek per nucleon [GeV/n]."""
    return A * momentum_from_kinetic(Ek_n, mass_per_nucleon)


def kinetic_per_nucleon_from_momentum(p, A=1, mass_per_nucleon=M_U):
    """Ek per nucleon [GeV/n] from momentum per particle p [GeV/c]."""
    return kinetic_from_momentum(jnp.asarray(p) / A, mass_per_nucleon)


def rigidity_from_kinetic_per_nucleon(Ek_n, Z=1, A=1, mass_per_nucleon=M_U):
    """R = A sqrt(Ek_n (Ek_n + 2 m_u)) / |Z| [GV] from Ek per nucleon [GeV/n]."""
    return momentum_per_nucleon(Ek_n, A, mass_per_nucleon) / jnp.abs(Z)


def kinetic_per_nucleon_from_rigidity(R, Z=1, A=1, mass_per_nucleon=M_U):
    """Ek per nucleon [GeV/n] from rigidity R [GV]."""
    return kinetic_per_nucleon_from_momentum(jnp.abs(Z) * jnp.asarray(R), A, mass_per_nucleon)


def beta_from_kinetic_per_nucleon(Ek_n, mass_per_nucleon=M_U):
    """beta of a nucleus with kinetic energy per nucleon Ek_n [GeV/n]."""
    return beta_from_kinetic(Ek_n, mass_per_nucleon)


class Species:
    """A cosmic-ray species: charge number Z, mass number A and particle mass [GeV/c^2].

    ``A`` counts nucleons (1 for electrons and protons); energies passed to species methods are
    kinetic energies per nucleon Ek_n [GeV/n], which for A = 1 is the kinetic energy per particle.
    """

    def __init__(self, name: str, Z: int, A: int, mass: float):
        if A < 1:
            raise ValueError(f"Species {name!r}: mass number A={A} must be >= 1")
        if Z == 0:
            raise ValueError(f"Species {name!r}: charge Z=0 has no rigidity; need Z != 0")
        if not mass > 0:
            raise ValueError(f"Species {name!r}: mass={mass} GeV must be > 0")
        self.name, self.Z, self.A, self.mass = name, int(Z), int(A), float(mass)

    def __repr__(self) -> str:
        return f"Species({self.name!r}, Z={self.Z}, A={self.A}, mass={self.mass} GeV)"

    def momentum(self, Ek_n):
        """Momentum per particle [GeV/c] at kinetic energy per nucleon Ek_n [GeV/n]."""
        return momentum_from_kinetic(self.A * jnp.asarray(Ek_n), self.mass)

    def rigidity(self, Ek_n):
        """Rigidity [GV] at kinetic energy per nucleon Ek_n [GeV/n]."""
        return self.momentum(Ek_n) / abs(self.Z)

    def beta(self, Ek_n):
        """v/c at kinetic energy per nucleon Ek_n [GeV/n]."""
        return beta_from_kinetic(self.A * jnp.asarray(Ek_n), self.mass)

    def kinetic_per_nucleon_from_rigidity(self, R):
        """Ek per nucleon [GeV/n] from rigidity R [GV]."""
        return kinetic_from_momentum(abs(self.Z) * jnp.asarray(R), self.mass) / self.A


ELECTRON = Species("electron", -1, 1, 0.51099895000e-3)
POSITRON = Species("positron", 1, 1, 0.51099895000e-3)
PROTON = Species("proton", 1, 1, 0.93827208816)
