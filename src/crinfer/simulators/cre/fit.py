"""Fits of the measured all-electron spectrum (seed 003's use case): NumPyro models with and
without the source stochasticity, and the same chain as a Simulator for sbi.

Parameters (:data:`FIT_PARAMETERS`): the five of the Monte Carlo (seed 003 table 1) and log10_L,
the electron power of all sources, L = R_SN x (energy per source), in units of 1e4/Myr x 1e48 erg
(the Monte Carlo's source energy) = 1e52 erg/Myr. The mean flux is proportional to L, so the data fix L while
R_SN, with L fixed, sets only how few (and so how stochastic) the sources are: psi_LIS =
psi_MC(theta) + log10_L - log10 R_SN. A smooth model cannot tell R_SN at all.

* :func:`stochastic_model`: psi_LIS from psi_src ~ SECRET(theta), a latent
  vector on the emulator's energy bins -- the marginalisation over where and when the nearby
  sources happened to be -- then the measurement chain of :mod:`.measurement`. The latent is
  psi_src itself with density SECRET(psi_src | theta) (centred, the default), SECRET's noise
  eps ~ N(0, I) with psi_src = SECRET.from_noise(eps, theta) (non-centred), or the first bins in
  SECRET's order centred and the rest as noise (mixed).
* :func:`smooth_model`: psi_LIS from the smooth-source mean (:mod:`.smooth`): the same fit
  without stochasticity.
* :class:`MeasuredSpectrumSimulator`: theta -> SECRET draw -> nuisances and noise: what sbi's NPE
  trains on, so that all three posteriors answer the same question.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from crinfer.core import ConfigurationError, Parameter, ParameterSpace, as_key, check_batch

from .measurement import MeasurementModel
from .simulator import PARAMETERS

FIT_PARAMETERS = ParameterSpace([
    *PARAMETERS,
    Parameter("log10_L", -0.5, 2.0, unit="log10(1e52 erg/Myr)",
              description="log10 of the electron power of all sources, R_SN x energy per source"),
])


def power_shift(theta):
    """log10_L - log10 R_SN (...): what turns the Monte Carlo's psi (1e48 erg per source) into psi
    at the power L; theta (..., 6) in :data:`FIT_PARAMETERS` order."""
    return theta[..., 5] - jnp.log10(theta[..., 0])


def nuisance_sites(measurement: MeasurementModel):
    """Inside a NumPyro model: energy scales, log10 normalisations (one per experiment) and the
    force-field potential from their priors."""
    import numpyro
    import numpyro.distributions as dist

    scale = numpyro.sample("energy_scale", dist.Normal(0.0, jnp.asarray(measurement.sigma_scale)).to_event(1))
    norm = numpyro.sample("log10_norm", dist.Normal(0.0, jnp.asarray(measurement.sigma_log10_norm)).to_event(1))
    mean, sd = measurement.phi_prior_GV
    phi = numpyro.sample("phi_GV", dist.TruncatedNormal(mean, sd, low=0.0))
    return scale, norm, phi


def _observe(measurement: MeasurementModel, psi_lis):
    import numpyro

    numpyro.deterministic("psi_lis", psi_lis)
    predicted = measurement.predict(psi_lis, *nuisance_sites(measurement))
    numpyro.deterministic("psi_predicted", predicted)
    numpyro.factor("measurements", measurement.log_likelihood(predicted))


LATENTS = ("centred", "noise", "mixed")
CENTRED_BINS = 8  # SECRET's first bins in its order, above its width floor 0.01 at the full fit's posterior
                  # (sd 0.011-0.16 secret_cpu, 0.029-1.85 secret_lhs_197k_trend5; docs/electron_fit.md)


def stochastic_model(secret, measurement: MeasurementModel, latent: str = "centred", centred_bins: int = CENTRED_BINS):
    """NumPyro model with psi_src ~ SECRET(theta) latent.

    The latent's coordinates are SECRET's network coordinates
    (:meth:`~crinfer.emulators.made.MADEEmulator.network_coordinates`: per-bin standardised, the
    per-theta trend removed), in which SECRET's density needs no Jacobian and, for a SECRET with a
    trend, does not move with theta wholesale. latent="centred": site ``psi_src_standardised``
    (bin order) with SECRET's density as a factor. SECRET's conditionals given the earlier bins
    are mostly at their width floor (the spectra have few degrees of freedom), so this density has
    thin, curved ridges, where NUTS can diverge. latent="noise": site ``psi_src_noise`` ~ N(0, I)
    mapped by SECRET's inverse Rosenblatt transform (``MADEEmulator.from_noise``): the ridges
    become a standard normal (fewer divergences), at ~19 network passes per gradient instead of
    one and a posterior curved between theta and eps (deeper trees). latent="mixed": the first
    ``centred_bins`` bins in SECRET's autoregressive order (the broad conditionals, which the data
    constrain) centred as site ``psi_src_head`` with their marginal density, the rest (the floored
    ones) as noise ``psi_src_noise``: docs/electron_fit.md.
    """
    import numpyro
    import numpyro.distributions as dist

    _check_grid(secret.observable.grid, measurement)
    if latent not in LATENTS:
        raise ConfigurationError(f"latent={latent!r}; allowed: {LATENTS}")
    features = secret.spec.features
    if latent == "mixed" and not 0 < centred_bins < features:
        raise ConfigurationError(f"centred_bins={centred_bins}; must be in 1..{features - 1} (0 is latent='noise', "
                                 f"{features} is latent='centred')")
    theta = FIT_PARAMETERS.numpyro_sample()
    if latent == "centred":
        z = numpyro.sample("psi_src_standardised", dist.ImproperUniform(dist.constraints.real, (), (features,)))
        z = z[np.asarray(secret.spec.order)]
        numpyro.factor("secret", secret.network_log_prob(z, theta[:5]))
        psi_src = secret.from_network_z(z, secret.to_network_theta(theta[:5]))
    else:
        k = centred_bins if latent == "mixed" else 0
        head = None
        if k:
            head = numpyro.sample("psi_src_head", dist.ImproperUniform(dist.constraints.real, (), (k,)))
            numpyro.factor("secret", secret.network_log_prob(head, theta[:5]))
        eps = numpyro.sample("psi_src_noise", dist.Normal(0.0, 1.0).expand((features - k,)).to_event(1))
        psi_src = secret.from_noise(eps, theta[:5], head=head)
    numpyro.deterministic("psi_src", psi_src)
    _observe(measurement, psi_src + power_shift(theta))


def smooth_model(smooth, measurement: MeasurementModel):
    """NumPyro model with the smooth-source mean spectrum and no stochasticity."""
    _check_grid(smooth.observable.grid, measurement)
    theta = FIT_PARAMETERS.numpyro_sample()
    _observe(measurement, smooth.psi(theta[:5]) + power_shift(theta))


class MeasuredSpectrumSimulator:
    """Simulator over :data:`FIT_PARAMETERS` of the measured points: a SECRET draw per row,
    shifted by :func:`power_shift`, through the measurement chain with nuisances from their priors."""

    def __init__(self, secret, measurement: MeasurementModel):
        _check_grid(secret.observable.grid, measurement)
        self.secret, self.measurement = secret, measurement
        self.params = FIT_PARAMETERS
        self.observable = measurement.observable

    def simulate(self, key, theta):
        check_batch(theta, self.params)
        k_src, k_obs = jax.random.split(as_key(key))
        theta = np.asarray(theta, dtype=float)
        psi_src = self.secret.simulate(k_src, theta[:, :5])
        return np.asarray(self.measurement.simulate(k_obs, psi_src + power_shift(theta)[:, None]))


def _check_grid(grid, measurement):
    if grid is None or not np.allclose(np.asarray(grid), measurement.grid_GeV, rtol=1e-9):
        raise ConfigurationError("the model's energy grid differs from the measurement model's grid_GeV")
