"""The all-electron flux at Earth from discrete supernova remnants (seed 003 section 2).

``CRESimulator.simulate(key, theta)`` draws one realisation of the source ensemble per row of
theta = (R_SN, log10_E_cut, gamma, delta, kappa0) and returns psi(E) = log10(E^3 phi / (GeV^2
m^-2 s^-1 sr^-1)) on the configured energy grid. Everything else (z_max, r_sun, t_max, s_max,
energies, radiation fields, B, source energy) is :class:`CREConfig`; docs/cre.md explains each
choice. JAX, float64, vectorised over sources, summed in chunks to bound memory.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from crinfer.core import ConfigurationError, Observable, Parameter, ParameterSpace, as_key, check_batch
from crinfer.physics import constants as C
from crinfer.physics.losses import electron_loss_rate
from crinfer.physics.radiation import LOCAL_ISRF

from .green import LossTables, source_density
from .sources import sample_distances

PSI_UNIT = "log10(GeV^2 m^-2 s^-1 sr^-1)"
KAPPA_UNIT = 1e28 * C.CM2_PER_S_TO_KPC2_PER_MYR
"""1e28 cm^2/s in kpc^2/Myr (0.0331)."""
RATE_UNIT = 1e4
"""R_SN is given in 1e4 per Myr."""

# c/(4 pi) in m/s per sr, and kpc^-3 -> m^-3
_FLUX_FACTOR = (C.C_CM_S / 100.0) / (4.0 * math.pi) / (C.KPC_CM / 100.0) ** 3

PARAMETERS = ParameterSpace([
    Parameter("R_SN", 0.5, 3.0, unit="1e4/Myr", description="rate of sources within s_max (N = R_SN t_max)"),
    Parameter("log10_E_cut", 3.5, 5.5, unit="log10(GeV)", description="source cutoff energy"),
    Parameter("gamma", 1.8, 2.6, description="source spectral index"),
    Parameter("delta", 0.2, 1.0, description="index of kappa(E) = kappa0 (E/GeV)^delta"),
    Parameter("kappa0", 1.0, 9.0, unit="1e28 cm^2/s", description="diffusion coefficient at 1 GeV"),
])
"""Seed 003 table 1 ranges."""

SINGLE_POINT = {"R_SN": 4.55, "log10_E_cut": 4.0, "gamma": 2.2, "delta": 0.6, "kappa0": 3.0}
"""Seed 003 section 3.2 reference point (R_SN outside table 1: use ``single_point_parameters``)."""


def single_point_parameters() -> ParameterSpace:
    """Table 1 ranges with R_SN widened to [0.5, 5] 1e4/Myr so that the single point fits."""
    return ParameterSpace([replace(p, high=5.0) if p.name == "R_SN" else p for p in PARAMETERS])


@dataclass(frozen=True)
class CREConfig:
    """Fixed physics and numerics of the electron Monte Carlo (defaults: seed 003).

    Attributes:
        energies_GeV: observed energies, default 19 log-spaced in 10^1.5-10^4.5 GeV.
        t_max_Myr: oldest source age (7 Myr covers E >= 10^1.5 GeV).
        s_max_kpc: sources farther than this from the Sun are not simulated.
        z_max_kpc: half-height of the diffusion halo (absorbing boundaries).
        r_sun_kpc: galactocentric radius of the Sun (seed 003 figure 1).
        B_muG: magnetic field for synchrotron losses.
        radiation: black-body components for inverse Compton (Klein-Nishina, closed form).
        source_energy_erg: energy per source in electrons above 1 GeV (sets Q*).
        distribution: "spiral" (four arms) or "uniform" (uniform disc of radius s_max).
        max_rate: largest R_SN [1e4/Myr] a batch may hold (sets the allocated source count).
        oversample: spiral candidates drawn per kept source (the fraction within 10 kpc is 0.44).
        prune_by_age: evaluate at each energy only the sources young enough to reach it
            (:func:`reach_fraction`); the result is unchanged up to summation order.
        source_chunk: sources summed per step (memory ~ 40 x 8 bytes x len(energies) x chunk).
        realisation_chunk: realisations evaluated together.
    """

    energies_GeV: tuple = tuple(np.logspace(1.5, 4.5, 19))
    t_max_Myr: float = 7.0
    s_max_kpc: float = 10.0
    z_max_kpc: float = 4.0
    r_sun_kpc: float = 7.9
    B_muG: float = 3.0
    radiation: tuple = LOCAL_ISRF
    source_energy_erg: float = 1.0e48
    distribution: str = "spiral"
    max_rate: float = 3.0
    oversample: float = 2.5
    prune_by_age: bool = True
    source_chunk: int = 4096
    realisation_chunk: int = 4
    table_points: int = 4097

    def __post_init__(self):
        for name in ("t_max_Myr", "s_max_kpc", "z_max_kpc", "r_sun_kpc", "source_energy_erg", "max_rate"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigurationError(f"CREConfig.{name}={v!r} is invalid: must be a finite number > 0")
        if self.B_muG < 0:
            raise ConfigurationError(f"CREConfig.B_muG={self.B_muG!r} is invalid: must be >= 0")
        if self.distribution not in ("spiral", "uniform"):
            raise ConfigurationError(
                f"CREConfig.distribution={self.distribution!r} is not one of 'spiral', 'uniform'")
        E = np.asarray(self.energies_GeV, dtype=float)
        if E.ndim != 1 or E.size == 0 or not np.all(np.diff(E) > 0) or E[0] < 1.0 or E[-1] > 1e6:
            raise ConfigurationError(
                f"CREConfig.energies_GeV={self.energies_GeV!r} is invalid: must be increasing, within 1-1e6 GeV")
        object.__setattr__(self, "energies_GeV", tuple(float(e) for e in E))
        for name in ("source_chunk", "realisation_chunk", "table_points"):
            if int(getattr(self, name)) < 1:
                raise ConfigurationError(f"CREConfig.{name}={getattr(self, name)!r} is invalid: must be >= 1")

    @property
    def n_sources_max(self) -> int:
        """Allocated sources per realisation: max_rate x 1e4 x t_max, rounded up to a chunk."""
        n = math.ceil(self.max_rate * RATE_UNIT * self.t_max_Myr)
        return self.source_chunk * math.ceil(n / self.source_chunk)

    def loss_rate(self, E):
        """b(E) [GeV/Myr]: Klein-Nishina IC on ``radiation`` plus synchrotron in B."""
        return electron_loss_rate(E, self.radiation, B_muG=self.B_muG)


def log_source_spectrum(theta_row, source_energy_GeV):
    """ln Q(E0) as a function of ln E0 [GeV^-1]: Q = Q* E0^-gamma exp(-E0/E_cut) with Q*
    fixed by int_{1 GeV}^inf E Q dE = source_energy (trapezoid on 1-1e8 GeV, 2049 points)."""
    gamma, E_cut = theta_row[2], 10.0 ** theta_row[1]
    ln_E = jnp.linspace(0.0, math.log(1e8), 2049)
    integrand = jnp.exp((2.0 - gamma) * ln_E - jnp.exp(ln_E) / E_cut)
    energy_per_Qstar = jnp.sum(0.5 * (integrand[1:] + integrand[:-1])) * (ln_E[1] - ln_E[0])
    ln_Qstar = jnp.log(source_energy_GeV / energy_per_Qstar)
    return lambda ln_E0: ln_Qstar - gamma * ln_E0 - jnp.exp(ln_E0) / E_cut


def sorted_ages(key, n_alloc, n_src, t_max):
    """Ages [Myr] of n_src sources uniform in [0, t_max], in ascending order (entries from index
    n_src on exceed t_max): order statistics U_(i) = S_i / S_{n+1} from partial sums S of n+1
    standard exponentials, O(n) without a sort."""
    S = jnp.cumsum(jax.random.exponential(key, (n_alloc + 1,)))
    return t_max * S[:-1] / S[jnp.asarray(n_src, jnp.int32)]


def reach_fraction(config: CREConfig) -> tuple[float, ...]:
    """Per energy, the fraction of source ages young enough to be seen: min(1, tau(E)/t_max).

    A source older than tau(E) = int_E^inf dE'/b cannot be seen at E (seed 003: E_max ~ 1/(b t)).
    All ones when ``prune_by_age`` is off.
    """
    if not config.prune_by_age:
        return (1.0,) * len(config.energies_GeV)
    tables = LossTables.build(config.loss_rate, 1.0, 0.0, n=config.table_points)
    tau = np.asarray(tables.at(tables.tau, jnp.log(jnp.asarray(config.energies_GeV))))
    return tuple(float(p) for p in np.minimum(tau / config.t_max_Myr, 1.0))


def sources_to_evaluate(n_src, fraction):
    """How many of the n_src age-ordered sources to evaluate at an energy reached by a fraction
    of the ages: the binomial mean + 7 sigma + 16, at most n_src (an overflow is reported)."""
    bound = jnp.ceil(n_src * fraction + 7.0 * jnp.sqrt(n_src * fraction * (1.0 - fraction)) + 16.0)
    return jnp.minimum(bound, n_src).astype(jnp.int32)


def _realisation(config: CREConfig, fractions, key, theta_row):
    """psi on the energy grid for one realisation, the number of sources placed, and whether an
    energy bin's source bound (:func:`sources_to_evaluate`) was too small."""
    E = jnp.asarray(config.energies_GeV)
    n_alloc = config.n_sources_max
    k_pos, k_age = jax.random.split(key)
    s, kept = sample_distances(k_pos, n_alloc, config.distribution, config.s_max_kpc, config.r_sun_kpc,
                               config.oversample)
    n_src = jnp.round(theta_row[0] * RATE_UNIT * config.t_max_Myr)
    t = sorted_ages(k_age, n_alloc, n_src, config.t_max_Myr)
    index = jnp.arange(n_alloc)
    active = (index < n_src) & (index < kept) & (C.C_KPC_MYR * t >= s)

    delta, kappa0 = theta_row[3], theta_row[4] * KAPPA_UNIT
    tables = LossTables.build(config.loss_rate, kappa0, delta, n=config.table_points)
    log_Q = log_source_spectrum(theta_row, config.source_energy_erg / C.GEV_ERG)

    def kappa_max(ln_E0):
        return kappa0 * jnp.exp(delta * ln_E0)

    chunk = config.source_chunk
    counts = sources_to_evaluate(n_src, jnp.asarray(fractions))
    n_chunks = (counts + chunk - 1) // chunk

    def energy_total(j):
        E_j = E[j]

        def add_chunk(c, acc):
            s_c, t_c, a_c = (jax.lax.dynamic_slice(x, (c * chunk,), (chunk,)) for x in (s, t, active))
            n = source_density(tables, E_j, s_c, t_c, config.z_max_kpc, kappa0 * E_j**delta, kappa_max, log_Q)
            return acc + jnp.sum(jnp.where(a_c, n, 0.0))

        return jax.lax.fori_loop(0, n_chunks[j], add_chunk, jnp.zeros(()))

    totals = jax.lax.map(energy_total, jnp.arange(E.size))
    # a source past an energy's bound that is still young enough to reach it?
    first_excluded = jnp.minimum(n_chunks * chunk, n_alloc - 1)
    tau = tables.at(tables.tau, jnp.log(E))
    overflow = jnp.any((n_chunks * chunk < n_src) & (t[first_excluded] < tau))
    flux = _FLUX_FACTOR * totals
    return jnp.log10(jnp.maximum(E**3 * flux, 1e-300)), kept, overflow


@partial(jax.jit, static_argnums=(0, 1))
def _simulate_batch(config: CREConfig, fractions, keys, theta):
    return jax.lax.map(lambda args: _realisation(config, fractions, *args), (keys, theta),
                       batch_size=config.realisation_chunk)


class CRESimulator:
    """Stochastic all-electron spectrum from discrete sources as a crinfer Simulator.

    Args:
        config: :class:`CREConfig` (default: seed 003 set-up).
        params: parameter space over (R_SN, log10_E_cut, gamma, delta, kappa0) in this order
            (default :data:`PARAMETERS`, seed 003 table 1).
    """

    def __init__(self, config: CREConfig | None = None, params: ParameterSpace | None = None):
        self.config = config or CREConfig()
        self.params = params or PARAMETERS
        if tuple(self.params.names) != tuple(PARAMETERS.names):
            raise ConfigurationError(
                f"CRESimulator parameters must be {list(PARAMETERS.names)} in this order, got {list(self.params.names)}")
        if float(self.params["R_SN"].high) > self.config.max_rate:
            self.config = replace(self.config, max_rate=float(self.params["R_SN"].high))
        self.reach_fraction = reach_fraction(self.config)
        self.observable = Observable(
            "psi = log10(E^3 phi)", (len(self.config.energies_GeV),), PSI_UNIT,
            grid=np.asarray(self.config.energies_GeV), grid_unit="GeV")

    def simulate(self, key, theta):
        """(B, 5) parameters -> (B, n_E) psi, one independent realisation per row."""
        check_batch(theta, self.params)
        theta = jnp.asarray(self.params.validate(np.asarray(theta), batched=True))
        keys = jax.random.split(as_key(key), theta.shape[0])
        psi, kept, overflow = _simulate_batch(self.config, self.reach_fraction, keys, theta)
        if np.asarray(overflow).any():
            raise ConfigurationError("a source beyond the per-energy age bound could reach an energy bin "
                                     "(probability < 1e-11); rerun with CREConfig(prune_by_age=False)")
        n_need = np.round(np.asarray(theta[:, 0]) * RATE_UNIT * self.config.t_max_Myr)
        short = np.asarray(kept) < n_need
        if short.any():
            raise ConfigurationError(
                f"only {int(np.asarray(kept)[short][0])} of {int(n_need[short][0])} spiral candidates fell within "
                f"s_max={self.config.s_max_kpc} kpc; raise CREConfig.oversample={self.config.oversample}")
        return np.asarray(psi)

    def simulate_many(self, key, theta_row, n_realisations: int, batch: int = 64, progress: bool = False):
        """n_realisations spectra at one parameter point (n, n_E), in batches of ``batch``."""
        theta_row = np.asarray(theta_row, dtype=float).reshape(1, -1)
        keys = jax.random.split(as_key(key), math.ceil(n_realisations / batch))
        out = []
        iterator = range(len(keys))
        if progress:
            from rich.progress import track
            iterator = track(iterator, description="realisations")
        for i in iterator:
            size = min(batch, n_realisations - i * batch)
            out.append(self.simulate(keys[i], np.repeat(theta_row, size, axis=0)))
        return np.concatenate(out)


def from_recipe(params: ParameterSpace, **config) -> CRESimulator:
    """Campaign factory (``simulator.name = "cre.electrons"``): the recipe's parameters and its
    ``[simulator.config]`` table as :class:`CREConfig` fields."""
    unknown = set(config) - set(CREConfig.__dataclass_fields__)
    if unknown:
        raise ConfigurationError(
            f"unknown CRE config keys {sorted(unknown)}; allowed: {sorted(CREConfig.__dataclass_fields__)}")
    if "energies_GeV" in config:
        config["energies_GeV"] = tuple(config["energies_GeV"])
    return CRESimulator(CREConfig(**config), params)
