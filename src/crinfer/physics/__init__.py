"""Physics building blocks in crinfer units (kpc, Myr, GeV): constants, kinematics, diffusion,
sources, energy losses and radiation fields. See docs/physics.md."""
from crinfer.physics import constants, diffusion, kinematics, losses, radiation, sources

__all__ = ["constants", "diffusion", "kinematics", "losses", "radiation", "sources"]
