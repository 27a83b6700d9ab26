"""The measured all-electron (e+ + e-) spectra shipped with crinfer (files/electrons/, see its
PROVENANCE.md): AMS-02, DAMPE, Fermi-LAT, CALET and H.E.S.S.

Each experiment is a :class:`Spectrum`: energies E [GeV] (the geometric centre of a bin, or the
quoted point), the flux [m^-2 s^-1 sr^-1 GeV^-1] and its statistical and systematic errors
(symmetrised: the mean of the lower and upper values).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

from crinfer.core.errors import ConfigurationError

FILES = {  # name -> (file, layout)
    "AMS-02": ("AMS-02_e-e+_rigidity.txt", "bins"),
    "DAMPE": ("DAMPE_e-e+_energy.txt", "bins"),
    "Fermi-LAT": ("FERMI_e-e+_energy.txt", "bins"),
    "CALET": ("CALET_2311.05916.txt", "bins"),
    "H.E.S.S.": ("HESS_e+e-_totalEnergy.txt", "points"),
}


@dataclass(frozen=True)
class Spectrum:
    """One experiment's all-electron flux; arrays of equal length, sorted by energy."""

    experiment: str
    energy_GeV: np.ndarray
    flux: np.ndarray
    stat: np.ndarray
    sys: np.ndarray

    @property
    def e3_flux(self):
        """E^3 flux [GeV^2 m^-2 s^-1 sr^-1]."""
        return self.energy_GeV**3 * self.flux

    @property
    def psi(self):
        """log10(E^3 flux), the simulator's observable."""
        return np.log10(self.e3_flux)

    def total_relative_error(self):
        """sqrt(stat^2 + sys^2) / flux."""
        return np.hypot(self.stat, self.sys) / self.flux

    def within(self, e_min, e_max):
        """The points with e_min <= E <= e_max [GeV]."""
        keep = (self.energy_GeV >= e_min) & (self.energy_GeV <= e_max)
        return Spectrum(self.experiment, *(a[keep] for a in (self.energy_GeV, self.flux, self.stat, self.sys)))


def load_spectrum(experiment: str) -> Spectrum:
    """The shipped spectrum of ``experiment`` (one of :data:`FILES`)."""
    if experiment not in FILES:
        raise ConfigurationError(f"experiment={experiment!r}; allowed: {sorted(FILES)}")
    name, layout = FILES[experiment]
    text = resources.files("crinfer.data").joinpath("files", "electrons", name).read_text()
    rows = np.array([[float(v) for v in line.split()] for line in text.splitlines()
                     if line.strip() and not line.lstrip().startswith("#")])
    if layout == "bins":  # E_lo E_up flux stat- stat+ sys- sys+
        energy = np.sqrt(rows[:, 0] * rows[:, 1])
        flux, stat, sys = rows[:, 2], 0.5 * (rows[:, 3] + rows[:, 4]), 0.5 * (rows[:, 5] + rows[:, 6])
    else:  # E flux stat- stat+ sys- sys+
        energy, flux = rows[:, 0], rows[:, 1]
        stat, sys = 0.5 * (rows[:, 2] + rows[:, 3]), 0.5 * (rows[:, 4] + rows[:, 5])
    order = np.argsort(energy)
    return Spectrum(experiment, energy[order], flux[order], stat[order], sys[order])


def load_all(e_min=0.0, e_max=np.inf) -> dict:
    """Experiment name -> :class:`Spectrum` within [e_min, e_max] GeV (empty ones dropped)."""
    spectra = {name: load_spectrum(name).within(e_min, e_max) for name in FILES}
    return {k: s for k, s in spectra.items() if len(s.energy_GeV)}
