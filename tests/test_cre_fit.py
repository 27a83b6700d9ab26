"""The all-electron fit's pieces: the smooth-source mean in JAX, the measurement chain, the NumPyro
models (wiring checked against the log density assembled by hand) and the sbi simulator."""
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crinfer.core import ConfigurationError, ShapeError
from crinfer.simulators.cre import CREConfig
from crinfer.simulators.cre.expectation import expected_psi, shell_densities
from crinfer.simulators.cre.measurement import ElectronData, MeasurementModel
from crinfer.simulators.cre.smooth import SmoothMeanSpectrum

ROOT = Path(__file__).resolve().parents[1]
SECRET_CPU = ROOT / "emulators" / "secret_cpu"
THETAS = np.array([[1.0, 4.0, 2.2, 0.4, 2.0], [2.5, 5.2, 2.5, 0.9, 7.0]])


@pytest.fixture(scope="module")
def uniform_smooth():
    return SmoothMeanSpectrum(CREConfig(distribution="uniform"), n_nodes=512)


@pytest.fixture(scope="module")
def measurement():
    grid = np.asarray(CREConfig().energies_GeV)
    return MeasurementModel(grid, ElectronData.load(grid[0], grid[-1]))


def test_smooth_mean_equals_the_ode_expectation(uniform_smooth):
    """Fixed quadrature (JAX, 512 nodes) against the adaptive ODE integration (scipy): < 1.5e-3 dex
    everywhere (0.35%; the smallest error of a measured point is 0.006 dex)."""
    config = uniform_smooth.config
    shells = shell_densities(config)
    got = np.asarray(uniform_smooth.psi(THETAS))
    want = np.array([expected_psi(config, row, shells, rtol=1e-8) for row in THETAS])
    assert np.max(np.abs(got - want)) < 1.5e-3


def test_smooth_mean_scales_with_the_rate_and_has_gradients(uniform_smooth):
    theta = THETAS[0].copy()
    doubled = theta.copy()
    doubled[0] *= 2
    shift = np.asarray(uniform_smooth.psi(doubled) - uniform_smooth.psi(theta))
    np.testing.assert_allclose(shift, np.log10(2.0), rtol=0, atol=1e-12)  # the mean is linear in N
    grad = np.asarray(jax.grad(lambda t: uniform_smooth.psi(t).sum())(jnp.asarray(theta)))
    assert np.all(np.isfinite(grad)) and np.all(np.abs(grad) > 1e-3), grad
    # a softer source spectrum (larger gamma) lowers the flux at 30 TeV relative to 30 GeV
    softer = theta.copy()
    softer[2] += 0.2
    tilt = np.asarray(uniform_smooth.psi(softer) - uniform_smooth.psi(theta))
    assert tilt[-1] < tilt[0]
    with pytest.raises(ShapeError):
        uniform_smooth.psi(theta[:4])


def test_smooth_mean_gradient_is_continuous_in_theta():
    """d psi / d delta along 101 points in 0.80-0.85: its second differences are smooth
    (max |2nd diff| <= 0.1 max |1st diff| in every bin). Linear interpolation of the shell
    table in ln l^2 failed this at 1.17 (a jump at every node crossed), which NUTS felt as
    divergences; the cubic gives 0.01."""
    smooth = SmoothMeanSpectrum(n_nodes=128)
    theta = np.tile([1.4, 5.3, 2.25, 0.85, 6.0], (101, 1))
    theta[:, 3] = np.linspace(0.80, 0.85, 101)
    grad = np.asarray(jax.vmap(jax.jacfwd(smooth.psi))(jnp.asarray(theta)))[:, :, 3]
    first, second = np.abs(np.diff(grad, axis=0)).max(0), np.abs(np.diff(grad, 2, axis=0)).max(0)
    assert np.all(second <= 0.1 * first), (second / first).max()


def test_energy_scale_and_modulation_of_a_power_law(measurement):
    """psi_LIS = c + (3 - G) log10 E: the chain's shifts are analytic for a power law (the spline
    in log E is exact on a straight line). Energy scale s: (G - 1) log10(1 + s); modulation phi:
    psi(E) - psi_LIS(E) = (G + 2) log10(E / (E + phi))."""
    G, c = 3.1, 4.0
    grid = measurement.grid_GeV
    psi_lis = c + (3 - G) * np.log10(grid)
    E = measurement.data.energy_GeV
    K = len(measurement.experiments)
    s = np.linspace(-0.03, 0.04, K)
    pred = np.asarray(measurement.predict(psi_lis, s, np.zeros(K), 0.0))
    np.testing.assert_allclose(pred - (c + (3 - G) * np.log10(E)),
                               (G - 1) * np.log10(1 + s[measurement.data.experiment_index]), atol=1e-12)
    norm = np.linspace(-0.02, 0.02, K)
    moved = np.asarray(measurement.predict(psi_lis, np.zeros(K), norm, 0.7))
    np.testing.assert_allclose(moved - (c + (3 - G) * np.log10(E)),
                               (G + 2) * np.log10(E / (E + 0.7)) + norm[measurement.data.experiment_index],
                               atol=1e-12)


def test_spectrum_interpolation_is_a_smooth_spline_through_the_grid(measurement):
    """psi at Earth between grid energies: equal to psi_LIS at the grid energies, within 2e-3 dex
    of a smooth curved spectrum between them, and d psi / d phi continuous across a grid energy
    (linear interpolation jumps there: a kink NUTS feels as a divergence)."""
    grid = measurement.grid_GeV
    curved = lambda E: 2.2 + 0.3 * np.sin(np.log(E))  # noqa: E731
    psi_lis = curved(grid)
    inner = grid[1:-1]
    np.testing.assert_allclose(measurement.at_earth(psi_lis, 0.0, inner), psi_lis[1:-1], atol=1e-12)
    between = np.sqrt(grid[3:-4] * grid[4:-3])
    assert np.max(np.abs(np.asarray(measurement.at_earth(psi_lis, 0.0, between)) - curved(between))) < 2e-3
    node = grid[5]
    slope = jax.grad(lambda phi: measurement.at_earth(psi_lis, phi, jnp.array([node - 0.5]))[0])
    left, right = float(slope(0.5 - 1e-7)), float(slope(0.5 + 1e-7))
    assert abs(left - right) < 1e-6 * abs(left), (left, right)


def test_energy_scale_conserves_the_counts(measurement):
    """A rescaled energy axis moves events, it does not create them: the integral of the
    measured flux over [(1+s) a, (1+s) b] equals the true flux's over [a, b]."""
    grid = measurement.grid_GeV
    psi_lis = 2.2 + 0.3 * np.sin(np.log(grid))  # a curved spectrum
    s, a, b = 0.05, 100.0, 1000.0
    E_true = np.geomspace(a, b, 4001)
    E_meas = (1 + s) * E_true
    at = lambda psi, E: 10 ** psi / E**3  # noqa: E731
    true = at(np.asarray(measurement.at_earth(psi_lis, 0.0, E_true)), E_true)
    shifted = MeasurementModel(grid, ElectronData(("x",), np.zeros(E_meas.size, int), E_meas,
                                                  np.zeros(E_meas.size), np.ones(E_meas.size)),
                               widths={"x": (0.01, 0.01)}, margin_sigma=0.0)
    meas = at(np.asarray(shifted.predict(psi_lis, np.array([s]), np.zeros(1), 0.0)), E_meas)
    np.testing.assert_allclose(np.trapezoid(meas, E_meas), np.trapezoid(true, E_true), rtol=1e-9)


def test_measurement_model_checks_its_input(measurement):
    grid = measurement.grid_GeV
    data = ElectronData.load(grid[0], grid[-1])
    assert len(measurement.data) < len(data)  # points whose shifted energy may leave the grid are dropped
    kept = measurement.data
    sigma_s = measurement.sigma_scale[kept.experiment_index]
    assert np.all(kept.energy_GeV / (1 + 3 * sigma_s) >= grid[0])
    assert np.all(kept.energy_GeV / (1 - 3 * sigma_s) + 0.6 + 3 * 0.2 <= grid[-1])
    with pytest.raises(ConfigurationError, match="uniform in log10 E"):
        MeasurementModel(np.array([10.0, 20.0, 50.0]), data)
    with pytest.raises(ConfigurationError, match="no nuisance widths"):
        MeasurementModel(grid, data, widths={"AMS-02": (0.01, 0.01)})
    with pytest.raises(ConfigurationError, match="allowed"):
        ElectronData.load(10, 1000, experiments=("PAMELA",))
    with pytest.raises(ShapeError, match="19"):
        measurement.predict(np.zeros(7), np.zeros(5), np.zeros(5), 0.5)


def test_mock_measurements_are_keyed_and_have_the_stated_errors(measurement):
    psi = np.tile(2.0 + 0.1 * np.log10(measurement.grid_GeV), (400, 1))
    a, b = measurement.simulate(3, psi), measurement.simulate(3, psi)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    exact = MeasurementModel(measurement.grid_GeV, measurement.data,
                             widths={e: (0.0, 0.0) for e in measurement.experiments}, phi_prior_GV=(0.5, 1e-9))
    x = np.asarray(exact.simulate(4, psi))
    centre = np.asarray(exact.predict(psi[0], np.zeros(len(exact.experiments)), np.zeros(len(exact.experiments)), 0.5))
    pulls = (x - centre) / exact.data.sigma_psi
    assert abs(pulls.std() - 1.0) < 0.02 and abs(pulls.mean()) < 0.02


def test_stochastic_model_log_density_is_prior_plus_secret_plus_data(measurement):
    """NumPyro's joint density of the stochastic model, assembled by hand from its parts, for
    the three latents, with a SECRET that has a per-theta trend: centred (SECRET's density on
    psi_src times the Jacobian of its network coordinates, y = m(theta) + s(theta) z), noise (a
    standard normal on eps with psi_src = SECRET.from_noise(eps)) and mixed (SECRET's marginal of
    the centred head coordinates, a standard normal on the rest's noise)."""
    import numpyro.distributions as dist
    from numpyro.infer.util import log_density

    from crinfer.emulators.made import MADEEmulator
    from crinfer.simulators.cre.fit import FIT_PARAMETERS, power_shift, stochastic_model

    secret = MADEEmulator.load(SECRET_CPU.with_name("secret_cpu_trend"))
    K = len(measurement.experiments)
    theta = np.array([1.5, 4.5, 2.3, 0.5, 4.0, 0.8])
    z = np.linspace(-1, 1, secret.spec.features)
    s, n, phi = np.linspace(-0.01, 0.01, K), np.linspace(0.01, -0.01, K), 0.4
    values = {p: v for p, v in zip(FIT_PARAMETERS.names, theta)}
    values.update(psi_src_standardised=z, energy_scale=s, log10_norm=n, phi_GV=phi)
    got, _ = log_density(lambda: stochastic_model(secret, measurement), (), {}, values)  # centred

    loc, log_scale = (np.asarray(v) for v in secret.residual_map(secret.to_network_theta(theta[:5])))
    assert np.ptp(log_scale) > 0.1  # a real per-theta trend
    x_std = secret.normalisation["x_std"]
    psi_src = secret.normalisation["x_mean"] + x_std * (loc + np.exp(log_scale) * z)
    prior = -np.sum(np.log(FIT_PARAMETERS.high - FIT_PARAMETERS.low))
    prior += float(dist.Normal(0, measurement.sigma_scale).log_prob(s).sum())
    prior += float(dist.Normal(0, measurement.sigma_log10_norm).log_prob(n).sum())
    prior += float(dist.TruncatedNormal(0.6, 0.2, low=0.0).log_prob(phi))

    def data_term(psi):
        return float(measurement.log_likelihood(measurement.predict(psi + float(power_shift(theta)), s, n, phi)))

    jacobian = np.sum(np.log(x_std) + log_scale)
    want = prior + float(secret.log_prob(psi_src, theta[:5])) + jacobian + data_term(psi_src)
    np.testing.assert_allclose(float(got), want, rtol=1e-10)

    eps = np.linspace(1.5, -1.5, secret.spec.features)
    values.pop("psi_src_standardised")
    got, _ = log_density(lambda: stochastic_model(secret, measurement, "noise"), (), {},
                         {**values, "psi_src_noise": eps})
    normal = float(dist.Normal(0, 1).log_prob(eps).sum())
    want = prior + normal + data_term(np.asarray(secret.from_noise(eps, theta[:5])))
    np.testing.assert_allclose(float(got), want, rtol=1e-10)

    head, k = z[:8], 8  # mixed: 8 network coordinates (SECRET's order) centred, the rest noise
    got, _ = log_density(lambda: stochastic_model(secret, measurement, "mixed", k), (), {},
                         {**values, "psi_src_head": head, "psi_src_noise": eps[k:]})
    psi = np.asarray(secret.from_noise(eps[k:], theta[:5], head=head))
    want = prior + float(dist.Normal(0, 1).log_prob(eps[k:]).sum()) + float(secret.network_log_prob(head, theta[:5]))
    np.testing.assert_allclose(float(got), want + data_term(psi), rtol=1e-10)
    with pytest.raises(ConfigurationError, match="centred_bins=19"):
        log_density(lambda: stochastic_model(secret, measurement, "mixed", 19), (), {}, values)
    with pytest.raises(ConfigurationError, match="latent='raw'"):
        log_density(lambda: stochastic_model(secret, measurement, "raw"), (), {}, values)


def test_measured_spectrum_simulator_is_keyed(measurement):
    from crinfer.emulators.made import MADEEmulator
    from crinfer.simulators.cre.fit import FIT_PARAMETERS, MeasuredSpectrumSimulator

    sim = MeasuredSpectrumSimulator(MADEEmulator.load(SECRET_CPU), measurement)
    theta = FIT_PARAMETERS.sample_prior(0, 8)
    x = sim.simulate(1, theta)
    assert x.shape == (8, len(measurement.data)) and np.all(np.isfinite(x))
    np.testing.assert_array_equal(x, sim.simulate(1, theta))
    assert not np.array_equal(x, sim.simulate(2, theta))
    # the power L moves every point by exactly its change in log10 L (same keys)
    brighter = theta.copy()
    brighter[:, 5] += 0.5
    np.testing.assert_allclose(sim.simulate(1, brighter) - x, 0.5, atol=1e-9)
    with pytest.raises(ShapeError):
        sim.simulate(1, theta[:, :5])


@pytest.mark.slow
def test_smooth_fit_recovers_the_parameters_of_noise_free_mock_data(measurement):
    """Asimov data: the smooth model at a known theta, nuisances at their prior means, no noise.
    The NUTS posterior must hold the truth within 2 sd for the parameters the data constrain."""
    from numpyro.infer import init_to_value

    from crinfer.inference.numpyro_runner import sample_model
    from crinfer.simulators.cre.fit import FIT_PARAMETERS, power_shift, smooth_model

    smooth = SmoothMeanSpectrum(n_nodes=256)
    truth = np.array([1.5, 4.5, 2.3, 0.6, 3.0, 0.8])
    K = len(measurement.experiments)
    asimov = np.asarray(measurement.predict(smooth.psi(truth[:5]) + float(power_shift(truth)),
                                            np.zeros(K), np.zeros(K), 0.6))
    mock = MeasurementModel(measurement.grid_GeV, ElectronData(measurement.experiments, measurement.data.experiment_index,
                                                               measurement.data.energy_GeV, asimov,
                                                               measurement.data.sigma_psi))
    start = {n: 0.5 * (p.low + p.high) for n, p in zip(FIT_PARAMETERS.names, FIT_PARAMETERS)}
    start.update(energy_scale=np.zeros(K), log10_norm=np.zeros(K), phi_GV=0.6)  # nuisances at their prior centres
    _, idata = sample_model(lambda: smooth_model(smooth, mock), key=0, num_warmup=300, num_samples=300,
                            num_chains=1, dense_mass=True, progress_bar=False,
                            init_strategy=init_to_value(values=start))
    for name, value in zip(FIT_PARAMETERS.names, truth):
        if name == "R_SN":  # the smooth mean does not depend on R_SN at fixed L: the posterior is the prior
            draws = np.asarray(idata.posterior[name]).ravel()
            assert 1.4 < draws.mean() < 2.1 and 0.55 < draws.std() < 0.9
            continue
        draws = np.asarray(idata.posterior[name]).ravel()
        assert abs(draws.mean() - value) < 2 * draws.std() + 1e-3, (name, draws.mean(), draws.std(), value)
