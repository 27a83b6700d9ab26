"""The transport solver behind the crinfer :class:`~crinfer.core.Simulator` protocol.

``simulate(key, theta)`` maps a batch of propagation/source parameters to psi at the observer on
the energy grid (deterministic: the key is accepted and ignored). Each parameter overrides one
entry of the configuration (:data:`PARAMETER_PATHS`); ``z_h`` rescales the z grid at fixed n_z.
"""
from __future__ import annotations

import numpy as np

from crinfer.core import ConfigurationError, Observable, Parameter, ParameterSpace

from .config import TransportConfig
from .result import PSI_UNIT
from .solver import solve

PARAMETER_PATHS = {
    "D0": ("species.diffusion.D0_cm2_s", 1e28),
    "delta": ("species.diffusion.delta", 1.0),
    "eta": ("species.diffusion.eta", 1.0),
    "z_h": ("grid.z_h_kpc", 1.0),
    "gamma": ("species.source.spectrum.index_high", 1.0),
    "gamma_low": ("species.source.spectrum.index_low", 1.0),
    "vA": ("species.reacceleration.vA_km_s", 1.0),
}
"""Parameter name -> (config path, factor from the parameter's unit to the config's)."""

DEFAULT_PARAMETERS = ParameterSpace([
    Parameter("D0", 1.0, 10.0, unit="1e28 cm^2/s", scale="log", description="diffusion coefficient at R0 = 4 GV"),
    Parameter("delta", 0.2, 0.8, description="rigidity index of D"),
    Parameter("z_h", 2.0, 8.0, unit="kpc", description="halo half-height"),
    Parameter("gamma", 2.0, 3.0, description="injection index above the break"),
])

DEFAULT_CONFIG = {
    "title": "electrons, diffusion + IC on the CMB (DRAGON2 problem b setup), 41 x 81 x 52",
    "grid": {"r_max_kpc": 20.0, "z_h_kpc": 4.0, "n_r": 41, "n_z": 81, "E_min_GeV": 0.1, "n_E": 52,
             "E_factor": 1.2},
    "observer": {"r_kpc": 8.5, "z_kpc": 0.0},
    "species": [{
        "name": "electron", "particle": "electron",
        "diffusion": {"D0_cm2_s": 4e28, "delta": 0.33, "R0_GV": 4.0},
        "source": {"radial": "galprop", "r_cut_kpc": 15.0, "vertical": "exponential", "z_scale_kpc": 0.2,
                   "spectrum": {"variable": "momentum", "break": 4.0, "index_low": 1.6, "index_high": 2.5}},
        "losses": {"radiation": "cmb", "ic_method": "closed_form"},
    }],
}
"""Default problem: DRAGON2 benchmark (b) (simulators/transport_dragon2_b.toml)."""


class TransportSimulator:
    """Steady-state transport as a Simulator.

    Args:
        params: parameter space; names from :data:`PARAMETER_PATHS` (default
            :data:`DEFAULT_PARAMETERS`: D0, delta, z_h, gamma).
        config: a TOML path, dict or :class:`TransportConfig` (default :data:`DEFAULT_CONFIG`).
        species: the observed species (default: the first in the config).
    """

    def __init__(self, params: ParameterSpace | None = None, config=None, species: str | None = None):
        self.params = params or DEFAULT_PARAMETERS
        unknown = [n for n in self.params.names if n not in PARAMETER_PATHS]
        if unknown:
            raise ConfigurationError(
                f"transport simulator: unknown parameters {unknown}; supported {sorted(PARAMETER_PATHS)}")
        self.config = TransportConfig.coerce(DEFAULT_CONFIG if config is None else config)
        names = self.config.species_names
        self.species = names[0] if species is None else species
        if self.species not in names:
            raise ConfigurationError(f"species {self.species!r} is not in the config's species {names}")
        E = self.config.build_grid().energies
        self.observable = Observable("psi_sun", (E.size,), unit=PSI_UNIT, grid=E, grid_unit="GeV")

    def config_for(self, theta_row) -> TransportConfig:
        """The configuration for one parameter vector (physical units)."""
        changes = {}
        for name, value in zip(self.params.names, np.asarray(theta_row, dtype=float)):
            path, factor = PARAMETER_PATHS[name]
            changes[path] = float(value) * factor
        return self.config.updated(changes)

    def solve(self, theta_row):
        """The full :class:`TransportResult` for one parameter vector."""
        cfg = self.config_for(theta_row)
        opts = cfg.solver_options
        return solve(cfg.build_grid(), cfg.build_problems(), cfg.observer, **opts)

    def simulate(self, key, theta) -> np.ndarray:
        """(B, P) physical parameters -> (B, n_E) psi at the observer; deterministic."""
        del key
        theta = self.params.validate(theta)
        return np.stack([self.solve(row).sun_spectrum(self.species) for row in theta])
