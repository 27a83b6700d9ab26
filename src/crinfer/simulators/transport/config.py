"""TOML/dict configuration of a transport problem -> grid and per-species solver arrays.

A configuration has four tables (see ``simulators/transport_*.toml`` for complete examples):

    [grid]      r_max_kpc, z_h_kpc, n_r, n_z, E_min_GeV, n_E, and E_factor or E_max_GeV
    [observer]  r_kpc, z_kpc
    [solver]    method ("auto" | "modal" | "sparse"), energy_scheme ("upwind2" | "upwind1")
    [[species]] name, particle ("electron" | "positron" | "proton") or Z, A, mass_GeV, with
                sub-tables diffusion, source (+ source.spectrum), losses, reacceleration, convection

Energies are kinetic [GeV] (per nucleon for nuclei). The physics (D, losses, source shapes)
comes from :mod:`crinfer.physics`; this module only turns it into arrays on the grid.
"""
from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crinfer.core.errors import ConfigurationError
from crinfer.physics import constants as C
from crinfer.physics import diffusion as phys_diffusion
from crinfer.physics import kinematics, sources

from .grid import TransportGrid
from .problem import SpeciesProblem

KM_S_TO_KPC_MYR = 1.0e5 * C.MYR_S / C.KPC_CM
"""1 km/s in kpc/Myr (1.0227e-3)."""

_PARTICLES = {
    "electron": kinematics.ELECTRON,
    "positron": kinematics.POSITRON,
    "proton": kinematics.PROTON,
}
_TOP_KEYS = {"grid", "observer", "solver", "species", "title"}
_GRID_KEYS = {"r_max_kpc", "z_h_kpc", "n_r", "n_z", "E_min_GeV", "n_E", "E_factor", "E_max_GeV"}
_SPECIES_KEYS = {"name", "particle", "Z", "A", "mass_GeV", "diffusion", "source", "losses",
                 "reacceleration", "convection"}
_DIFF_KEYS = {"D0_cm2_s", "delta", "R0_GV", "eta", "z_t_kpc"}
_SOURCE_KEYS = {"radial", "vertical", "sampling", "spectrum", "alpha", "beta", "r_sun_kpc",
                "r_cut_kpc", "r0_kpc", "width_kpc", "z_scale_kpc"}
_SPECTRUM_KEYS = {"variable", "break", "index_low", "index_high", "normalisation", "cutoff"}
_LOSS_KEYS = {"radiation", "ic_method", "B_muG", "n_H_cm3", "n_HII_cm3"}


def _check_keys(table: dict, allowed: set, where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise ConfigurationError(f"{where}: unknown keys {sorted(unknown)}; allowed {sorted(allowed)}")


def _positive(table: dict, key: str, where: str, default=None) -> float:
    value = table.get(key, default)
    if value is None:
        raise ConfigurationError(f"{where}: missing required key {key!r}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{where}: {key} must be finite and > 0, got {value!r}")
    return value


@dataclass(frozen=True)
class TransportConfig:
    """A validated configuration (a plain nested dict underneath; see module docstring)."""

    data: dict

    def __post_init__(self):
        d = self.data
        _check_keys(d, _TOP_KEYS, "transport config")
        for key in ("grid", "species"):
            if key not in d:
                raise ConfigurationError(f"transport config: missing required table [{key}]")
        if not isinstance(d["species"], list) or not d["species"]:
            raise ConfigurationError("transport config: [[species]] must list at least one species")
        grid = self.build_grid()
        grid.check_observer(*self.observer)
        for sp in d["species"]:
            self._check_species(sp, grid)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_toml(cls, path) -> "TransportConfig":
        path = Path(path)
        if not path.is_file():
            raise ConfigurationError(f"transport config file {str(path)!r} does not exist")
        with path.open("rb") as fh:
            try:
                return cls(tomllib.load(fh))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigurationError(f"{path}: invalid TOML: {exc}") from exc

    @classmethod
    def coerce(cls, config) -> "TransportConfig":
        """Accept a TransportConfig, a dict or a path to a TOML file."""
        if isinstance(config, TransportConfig):
            return config
        if isinstance(config, dict):
            return cls(copy.deepcopy(config))
        return cls.from_toml(config)

    def updated(self, changes: dict) -> "TransportConfig":
        """A new config with dotted-path ``changes``, e.g. ``{"grid.z_h_kpc": 6.0}``;
        ``species.*`` paths apply to every species."""
        data = copy.deepcopy(self.data)
        for path, value in changes.items():
            keys = path.split(".")
            targets = data["species"] if keys[0] == "species" else [data]
            keys = keys[1:] if keys[0] == "species" else keys
            for t in targets:
                for k in keys[:-1]:
                    t = t.setdefault(k, {})
                t[keys[-1]] = value
        return TransportConfig(data)

    # -- accessors -----------------------------------------------------------------------
    @property
    def observer(self) -> tuple[float, float]:
        obs = self.data.get("observer", {})
        _check_keys(obs, {"r_kpc", "z_kpc"}, "[observer]")
        return float(obs.get("r_kpc", 8.5)), float(obs.get("z_kpc", 0.0))

    @property
    def solver_options(self) -> dict:
        opts = dict(self.data.get("solver", {}))
        _check_keys(opts, {"method", "energy_scheme", "rtol"}, "[solver]")
        return opts

    @property
    def species_names(self) -> list[str]:
        return [sp["name"] for sp in self.data["species"]]

    def build_grid(self) -> TransportGrid:
        g = self.data["grid"]
        _check_keys(g, _GRID_KEYS, "[grid]")
        for key in ("r_max_kpc", "z_h_kpc", "n_r", "n_z", "E_min_GeV", "n_E"):
            if key not in g:
                raise ConfigurationError(f"[grid]: missing required key {key!r}")
        if g["z_h_kpc"] <= 0:
            raise ConfigurationError(f"[grid]: z_h_kpc (halo half-height) must be > 0, got {g['z_h_kpc']!r}")
        return TransportGrid.logarithmic(
            g["r_max_kpc"], g["z_h_kpc"], g["n_r"], g["n_z"], g["E_min_GeV"], g["n_E"],
            factor=g.get("E_factor"), E_max=g.get("E_max_GeV"))

    # -- species -------------------------------------------------------------------------
    @staticmethod
    def particle(sp: dict) -> kinematics.Species:
        where = f"species {sp.get('name')!r}"
        if "particle" in sp:
            if sp["particle"] not in _PARTICLES:
                raise ConfigurationError(
                    f"{where}: particle {sp['particle']!r} is not one of {sorted(_PARTICLES)}; "
                    "or give Z, A and mass_GeV")
            return _PARTICLES[sp["particle"]]
        try:
            return kinematics.Species(sp["name"], int(sp["Z"]), int(sp["A"]), float(sp["mass_GeV"]))
        except KeyError as exc:
            raise ConfigurationError(f"{where}: give particle or all of Z, A, mass_GeV") from exc
        except ValueError as exc:
            raise ConfigurationError(f"{where}: {exc}") from exc

    def _check_species(self, sp: dict, grid: TransportGrid) -> None:
        where = f"species {sp.get('name')!r}"
        if "name" not in sp:
            raise ConfigurationError("every [[species]] needs a name")
        _check_keys(sp, _SPECIES_KEYS, where)
        self.particle(sp)
        diff = sp.get("diffusion", {})
        _check_keys(diff, _DIFF_KEYS, f"{where} [diffusion]")
        _positive(diff, "D0_cm2_s", f"{where} [diffusion]")
        _positive(diff, "R0_GV", f"{where} [diffusion]", 4.0)
        if "z_t_kpc" in diff:
            _positive(diff, "z_t_kpc", f"{where} [diffusion]")
        src = sp.get("source", {})
        _check_keys(src, _SOURCE_KEYS, f"{where} [source]")
        _check_keys(src.get("spectrum", {}), _SPECTRUM_KEYS, f"{where} [source.spectrum]")
        r0 = src.get("r0_kpc")
        if r0 is not None and not 0 <= r0 < grid.r_max:
            raise ConfigurationError(
                f"{where}: source ring radius r0_kpc = {r0!r} lies outside the halo 0 <= r < {grid.r_max} kpc")
        r_cut = src.get("r_cut_kpc")
        if r_cut is not None and r_cut <= 0:
            raise ConfigurationError(f"{where}: source r_cut_kpc must be > 0, got {r_cut!r}")
        h = src.get("z_scale_kpc", 0.2)
        if not 0 < h < grid.z_h:
            raise ConfigurationError(
                f"{where}: source z_scale_kpc = {h!r} must lie in (0, z_h = {grid.z_h}) kpc: the source "
                "disc must fit inside the halo")
        _check_keys(sp.get("losses", {}), _LOSS_KEYS, f"{where} [losses]")
        reacc = sp.get("reacceleration", {})
        _check_keys(reacc, {"vA_km_s"}, f"{where} [reacceleration]")
        if reacc.get("vA_km_s", 0.0) < 0:
            raise ConfigurationError(f"{where}: vA_km_s must be >= 0, got {reacc['vA_km_s']!r}")
        if reacc.get("vA_km_s", 0.0) > 0 and not 0 < diff.get("delta", 0.33) < 2:
            raise ConfigurationError(
                f"{where}: reacceleration needs 0 < delta < 2 (Dpp formula), got {diff.get('delta')!r}")
        _check_keys(sp.get("convection", {}), {"v0_km_s", "dvdz_km_s_kpc"}, f"{where} [convection]")

    def build_problems(self, grid: TransportGrid | None = None) -> list[SpeciesProblem]:
        """One :class:`SpeciesProblem` per species, arrays on ``grid`` (default: the config's)."""
        grid = grid or self.build_grid()
        return [_species_problem(sp, self.particle(sp), grid) for sp in self.data["species"]]


# ---------------------------------------------------------------------------------------------
def _radial_profile(src: dict):
    kind = src.get("radial", "galprop")
    if kind == "galprop":
        return lambda r: np.asarray(sources.galprop_radial(
            r, src.get("alpha", 1.25), src.get("beta", 3.56), src.get("r_sun_kpc", 8.5), src.get("r_cut_kpc")))
    if kind == "gaussian":
        r0, w = src.get("r0_kpc", 0.0), src.get("width_kpc", 5.0)
        return lambda r: np.exp(-(((np.asarray(r) - r0) / w) ** 2))
    if kind == "lorimer":
        return lambda r: np.asarray(sources.lorimer(r))
    if kind == "case_bhattacharya":
        return lambda r: np.asarray(sources.case_bhattacharya(r))
    raise ConfigurationError(
        f"source radial profile {kind!r} is not one of 'galprop', 'gaussian', 'lorimer', 'case_bhattacharya'")


def _vertical_profile(src: dict):
    kind, h = src.get("vertical", "exponential"), src.get("z_scale_kpc", 0.2)
    if kind == "exponential":
        return lambda z: np.asarray(sources.exponential_disc(z, h))
    if kind == "gaussian":
        return lambda z: np.exp(-((np.asarray(z) / h) ** 2))
    raise ConfigurationError(f"source vertical profile {kind!r} is not one of 'exponential', 'gaussian'")


def _cell_average(fn, centres, lo, hi, weight=None, n=8):
    """Mean of fn over [lo, hi] per cell (weighted by ``weight``), split at the node."""
    x, w = np.polynomial.legendre.leggauss(n)
    total = np.zeros_like(centres)
    norm = np.zeros_like(centres)
    for a, b in ((lo, centres), (centres, hi)):
        half = 0.5 * (b - a)
        pts = 0.5 * (a + b)[:, None] + half[:, None] * x[None, :]
        wt = half[:, None] * w[None, :] * (weight(pts) if weight else 1.0)
        total += np.sum(wt * fn(pts), axis=1)
        norm += np.sum(wt, axis=1)
    return total / norm


def spatial_source(src: dict, grid: TransportGrid) -> np.ndarray:
    """S(r, z) on the nodes: point values (``sampling = "node"``, DRAGON2's choice) or
    finite-volume cell averages (``"cell_average"``)."""
    fr, fz = _radial_profile(src), _vertical_profile(src)
    sampling = src.get("sampling", "node")
    if sampling == "node":
        return fr(grid.r)[:, None] * fz(grid.z)[None, :]
    if sampling == "cell_average":
        r, z = grid.r, grid.z
        rr = _cell_average(fr, r, np.maximum(r - grid.dr / 2, 0.0), r + grid.dr / 2, weight=lambda x: x)
        zz = _cell_average(fz, z, z - grid.dz / 2, z + grid.dz / 2)
        return rr[:, None] * zz[None, :]
    raise ConfigurationError(f"source sampling {sampling!r} is not one of 'node', 'cell_average'")


def source_spectrum(spec: dict, particle: kinematics.Species, E: np.ndarray) -> np.ndarray:
    """q(E) per unit kinetic energy: a broken power law in ``variable`` (DRAGON2 uses q(p)
    directly as the source per unit kinetic energy; so does ``variable = "momentum"``)."""
    variable = spec.get("variable", "momentum")
    x = {"momentum": lambda: np.asarray(particle.momentum(E)),
         "rigidity": lambda: np.asarray(particle.rigidity(E)),
         "kinetic": lambda: E}.get(variable)
    if x is None:
        raise ConfigurationError(f"spectrum variable {variable!r} is not one of 'momentum', 'rigidity', 'kinetic'")
    q = np.asarray(sources.broken_power_law(x(), spec.get("break", 4.0), spec.get("index_low", 1.6),
                                            spec.get("index_high", 2.5), spec.get("cutoff")))
    return spec.get("normalisation", 1.0) * q


def _loss_rate(losses: dict, particle: kinematics.Species, E: np.ndarray):
    if not losses:
        return None
    from crinfer.physics import losses as L
    from crinfer.physics import radiation as R

    rad = losses.get("radiation", "none")
    if rad == "none":
        fields = ()
    elif rad == "cmb":
        fields = (R.CMB,)
    elif rad == "local_isrf":
        fields = R.LOCAL_ISRF
    elif isinstance(rad, list):
        fields = tuple(R.BlackBody(float(c["T_K"]), float(c["u_eV_cm3"])) for c in rad)
    else:
        raise ConfigurationError(
            f"losses.radiation {rad!r} is not 'none', 'cmb', 'local_isrf' or a list of {{T_K, u_eV_cm3}}")
    n_H, n_HII = losses.get("n_H_cm3", 0.0), losses.get("n_HII_cm3", 0.0)
    if abs(particle.Z) == 1 and particle.A == 1 and particle.mass < 0.01:
        b = L.electron_loss_rate(E + particle.mass, fields, losses.get("B_muG", 0.0), n_H,
                                 n_HII=n_HII, ic_method=losses.get("ic_method", "closed_form"))
    else:
        b = L.proton_loss_rate(particle.A * E, n_H, n_e=n_HII, Z=particle.Z, mass=particle.mass) / particle.A
    return np.asarray(b, dtype=float)


def _species_problem(sp: dict, particle: kinematics.Species, grid: TransportGrid) -> SpeciesProblem:
    E = grid.energies
    diff = sp.get("diffusion", {})
    D0 = diff["D0_cm2_s"] * C.CM2_PER_S_TO_KPC2_PER_MYR
    delta = float(diff.get("delta", 0.33))
    R, beta = np.asarray(particle.rigidity(E)), np.asarray(particle.beta(E))
    D = np.asarray(phys_diffusion.diffusion_coefficient(
        R, D0, delta, diff.get("R0_GV", 4.0), diff.get("eta", 0.0), beta), dtype=float)
    profile = None
    if "z_t_kpc" in diff:
        profile = np.broadcast_to(
            np.asarray(phys_diffusion.exponential_halo_profile(grid.z, diff["z_t_kpc"]))[None, :],
            (grid.n_r, grid.n_z)).copy()
    src = sp.get("source", {})
    S = spatial_source(src, grid)
    q = source_spectrum(src.get("spectrum", {}), particle, E)
    b = _loss_rate(sp.get("losses", {}), particle, E)
    mass_n = particle.mass / particle.A
    rate = None
    vA = sp.get("reacceleration", {}).get("vA_km_s", 0.0)
    if vA > 0:
        vA_kpc = vA * KM_S_TO_KPC_MYR
        factor = 4.0 * vA_kpc**2 / (3.0 * delta * (4.0 - delta**2) * (4.0 - delta))
        rate = factor / D if profile is None else factor / (profile[:, :, None] * D[None, None, :])
    wind = None
    conv = sp.get("convection", {})
    v0, dvdz = conv.get("v0_km_s", 0.0), conv.get("dvdz_km_s_kpc", 0.0)
    if v0 or dvdz:
        def wind(z, v0=v0 * KM_S_TO_KPC_MYR, g=dvdz * KM_S_TO_KPC_MYR):
            z = np.asarray(z, dtype=float)
            return np.sign(z) * (v0 + g * np.abs(z))
    return SpeciesProblem(name=sp["name"], diffusion=D, source=S, source_spectrum=q,
                          diffusion_profile=profile, loss_rate=b, reacceleration_rate=rate,
                          wind=wind, mass=mass_n)
