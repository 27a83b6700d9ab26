"""Solution container of the transport solver: psi(r, z, E) per species, with its grid.

psi is in particles GeV^-1 kpc^-3 (per GeV/n for nuclei) for a source in
GeV^-1 kpc^-3 Myr^-1; r, z in kpc, E in GeV (kinetic, per nucleon for nuclei).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.interpolate import RegularGridInterpolator

from crinfer.core.errors import ConfigurationError

from .grid import TransportGrid

PSI_UNIT = "GeV^-1 kpc^-3 (for a source in GeV^-1 kpc^-3 Myr^-1)"


@dataclass(frozen=True, eq=False)
class TransportResult:
    """psi(r, z, E) for each species on ``grid``, the observer position and solver info."""

    grid: TransportGrid
    psi: dict
    observer: tuple = (8.5, 0.0)
    info: dict = field(default_factory=dict)

    @property
    def species(self) -> tuple[str, ...]:
        return tuple(self.psi)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.psi:
            raise KeyError(f"no species {name!r}; have {list(self.psi)}")
        return self.psi[name]

    # -- evaluation ------------------------------------------------------------------------
    def interpolate(self, name: str, r, z, E, method: str = "linear") -> np.ndarray:
        """psi at arbitrary points (broadcast r, z [kpc], E [GeV]); linear in r, z and ln E.

        Raises ConfigurationError for points outside the grid.
        """
        g = self.grid
        r, z, E = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (r, z, E)))
        if np.any(E <= 0):
            raise ConfigurationError("energies must be > 0 GeV")
        lnE = np.log(E)
        lo, hi = np.log(g.energies[[0, -1]])
        outside = (r < 0) | (r > g.r_max) | (np.abs(z) > g.z_h) | (lnE < lo - 1e-12) | (lnE > hi + 1e-12)
        if np.any(outside):
            i = tuple(int(v) for v in np.argwhere(outside)[0])
            raise ConfigurationError(
                f"point (r, z, E) = ({r[i]}, {z[i]}, {E[i]}) lies outside the grid "
                f"(r <= {g.r_max}, |z| <= {g.z_h} kpc, E in [{g.energies[0]:.4g}, {g.energies[-1]:.4g}] GeV)"
            )
        interp = RegularGridInterpolator((g.r, g.z, np.log(g.energies)), self[name], method=method)
        pts = np.stack([r.ravel(), z.ravel(), np.clip(lnE, lo, hi).ravel()], axis=-1)
        return interp(pts).reshape(r.shape)

    def spectrum_at(self, name: str, r: float, z: float) -> np.ndarray:
        """psi(r, z, E_k) on the energy grid; bilinear in (r, z), exact at a node."""
        g = self.grid
        if not g.contains(r, z):
            raise ConfigurationError(f"(r, z) = ({r}, {z}) kpc lies outside the grid")
        fi = min(r / g.dr, g.n_r - 1 - 1e-12)
        fj = min((z + g.z_h) / g.dz, g.n_z - 1 - 1e-12)
        i, j = int(fi), int(fj)
        wi, wj = fi - i, fj - j
        if wi < 1e-9:
            wi = 0.0
        if wj < 1e-9:
            wj = 0.0
        P = self[name]
        i1, j1 = min(i + 1, g.n_r - 1), min(j + 1, g.n_z - 1)
        return ((1 - wi) * (1 - wj) * P[i, j] + wi * (1 - wj) * P[i1, j]
                + (1 - wi) * wj * P[i, j1] + wi * wj * P[i1, j1])

    def sun_spectrum(self, name: str) -> np.ndarray:
        """psi at the observer on the energy grid."""
        return self.spectrum_at(name, *self.observer)

    # -- storage ---------------------------------------------------------------------------
    def to_xarray(self):
        """An xarray Dataset with coordinates r, z [kpc], E [GeV] and one variable per species."""
        import xarray as xr

        g = self.grid
        data = {f"psi_{n}": (("r", "z", "E"), p, {"units": PSI_UNIT}) for n, p in self.psi.items()}
        ds = xr.Dataset(
            data,
            coords={"r": ("r", g.r, {"units": "kpc"}), "z": ("z", g.z, {"units": "kpc"}),
                    "E": ("E", g.energies, {"units": "GeV", "long_name": "kinetic energy (per nucleon)"})},
        )
        ds.attrs.update(observer_r_kpc=self.observer[0], observer_z_kpc=self.observer[1],
                        info_json=json.dumps(self.info, default=float))
        return ds

    def save(self, path) -> Path:
        """Write to ``.nc`` (NetCDF4 via h5netcdf) or ``.npz``, chosen by the suffix."""
        path = Path(path)
        if path.suffix == ".nc":
            self.to_xarray().to_netcdf(path, engine="h5netcdf")
        elif path.suffix == ".npz":
            g = self.grid
            arrays = {f"psi_{n}": p for n, p in self.psi.items()}
            np.savez_compressed(path, r_kpc=g.r, z_kpc=g.z, E_GeV=g.energies,
                                observer=np.asarray(self.observer), species=np.asarray(self.species),
                                info_json=json.dumps(self.info, default=float), **arrays)
        else:
            raise ConfigurationError(f"unknown output format {path.suffix!r}; use .nc or .npz")
        return path

    @classmethod
    def load(cls, path) -> "TransportResult":
        """Read a file written by :meth:`save`."""
        path = Path(path)
        if path.suffix == ".npz":
            d = np.load(path, allow_pickle=False)
            r, z, E = d["r_kpc"], d["z_kpc"], d["E_GeV"]
            psi = {str(n): d[f"psi_{n}"] for n in d["species"]}
            observer, info = tuple(d["observer"]), json.loads(str(d["info_json"]))
        else:
            import xarray as xr

            with xr.open_dataset(path, engine="h5netcdf") as ds:
                r, z, E = ds.r.values, ds.z.values, ds.E.values
                psi = {k[4:]: ds[k].values for k in ds.data_vars if k.startswith("psi_")}
                observer = (ds.attrs["observer_r_kpc"], ds.attrs["observer_z_kpc"])
                info = json.loads(ds.attrs["info_json"])
        grid = TransportGrid(r[-1], z[-1], r.size, z.size, E)
        return cls(grid=grid, psi=psi, observer=observer, info=info)

    # -- plots -----------------------------------------------------------------------------
    def plot_spectra(self, ax=None, power: float = 2.0, at=None):
        """E^power psi at the observer (or at ``at`` = (r, z)) for every species."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(6, 4))[1]
        r, z = at if at is not None else self.observer
        E = self.grid.energies
        for name in self.species:
            ax.loglog(E, E**power * self.spectrum_at(name, r, z), label=name)
        ax.set_xlabel("E [GeV]")
        ax.set_ylabel(f"E^{power:g} psi  [GeV^{power - 1:g} kpc^-3]")
        ax.set_title(f"spectra at r = {r:g} kpc, z = {z:g} kpc")
        ax.legend()
        return ax

    def plot_rz_map(self, name: str, E: float, ax=None):
        """log10 psi(r, z) at the grid energy closest to E [GeV]."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(6, 4))[1]
        g = self.grid
        k = int(np.argmin(np.abs(np.log(g.energies / E))))
        P = self[name][:, :, k]
        with np.errstate(divide="ignore"):
            img = np.log10(np.where(P > 0, P, np.nan)).T
        m = ax.pcolormesh(g.r, g.z, img, shading="nearest")
        ax.figure.colorbar(m, ax=ax, label="log10 psi")
        ax.plot(*self.observer, "r*", ms=10)
        ax.set_xlabel("r [kpc]")
        ax.set_ylabel("z [kpc]")
        ax.set_title(f"{name}, E = {g.energies[k]:.4g} GeV")
        return ax

    def plot_relative_difference(self, name: str, E_ref, psi_ref, label: str = "reference", ax=None):
        """psi_sun / reference - 1 against energy, for a reference Sun spectrum."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(6, 3))[1]
        ours = np.interp(np.log(E_ref), np.log(self.grid.energies), self.sun_spectrum(name))
        ax.semilogx(E_ref, ours / np.asarray(psi_ref) - 1.0, label=f"{name} / {label} - 1")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("E [GeV]")
        ax.set_ylabel("relative difference")
        ax.legend()
        return ax

    def plot_residual_map(self, residual: np.ndarray, E: float, ax=None):
        """|residual| (e.g. from :func:`solver.residual`) in the (r, z) plane at energy E."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(6, 4))[1]
        g = self.grid
        k = int(np.argmin(np.abs(np.log(g.energies / E))))
        with np.errstate(divide="ignore"):
            img = np.log10(np.abs(residual[:, :, k])).T
        m = ax.pcolormesh(g.r, g.z, img, shading="nearest")
        ax.figure.colorbar(m, ax=ax, label="log10 |Q - A psi|")
        ax.set_xlabel("r [kpc]")
        ax.set_ylabel("z [kpc]")
        ax.set_title(f"residual, E = {g.energies[k]:.4g} GeV")
        return ax
