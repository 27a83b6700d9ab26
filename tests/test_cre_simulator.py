"""Stochastic electron Monte Carlo: Green's function pieces against closed forms and quadrature,
the source sampler against seed 003's numbers, and the ensemble mean against the independent
smooth-source expectation."""
from dataclasses import replace

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from crinfer.core import ConfigurationError, ParameterError, ParameterSpace
from crinfer.simulators.cre import PARAMETERS, CREConfig, CRESimulator
from crinfer.simulators.cre.expectation import expected_psi
from crinfer.simulators.cre.green import LossTables, log_slab_correction, slab_factor
from crinfer.simulators.cre.simulator import KAPPA_UNIT
from crinfer.simulators.cre.sources import R_EDGE_KPC, sample_galactocentric_radius, spiral_fraction_within
from crinfer.physics.sources import case_bhattacharya

# A small ensemble (R_SN = 0.05e4/Myr: 3,500 sources) keeps the compile and the runs short.
SMALL_PARAMS = ParameterSpace([replace(p, low=0.01, high=0.05) if p.name == "R_SN" else p for p in PARAMETERS])
THETA = np.array([0.05, 4.0, 2.2, 0.6, 3.0])


@pytest.fixture(scope="module")
def uniform_sim():
    return CRESimulator(CREConfig(distribution="uniform", source_chunk=1024, realisation_chunk=8), SMALL_PARAMS)


@pytest.mark.slow
def test_slab_factor_images_equal_eigenmodes():
    """The image series and the eigenmode series are the same function (checked where both converge)."""
    z = 4.0
    for l2 in (0.5 * z**2, z**2, 2.0 * z**2):
        n = np.arange(-60, 61)
        images = np.sum((-1.0) ** n * np.exp(-(n * z) ** 2 / l2)) / np.sqrt(4 * np.pi * l2)
        m = np.arange(60)
        modes = np.sum(np.exp(-(((2 * m + 1) * np.pi / (2 * z)) ** 2) * l2)) / z
        assert images == pytest.approx(modes, rel=1e-12)
        assert float(slab_factor(l2, z)) == pytest.approx(images, rel=1e-12)
    # limits: free space for l << z, one eigenmode for l >> z
    assert float(slab_factor(0.01, z)) == pytest.approx(1 / np.sqrt(4 * np.pi * 0.01), rel=1e-12)
    assert float(slab_factor(100.0, z)) == pytest.approx(np.exp(-((np.pi / (2 * z)) ** 2) * 100.0) / z, rel=1e-12)
    # the tabulated correction used by the simulator
    l2 = np.geomspace(1e-3, 50.0, 97)
    exact = np.log(np.asarray(slab_factor(l2, z)) * np.sqrt(4 * np.pi * l2))
    np.testing.assert_allclose(np.asarray(log_slab_correction(jnp.asarray(l2), z)), exact, atol=1.5e-5)


def test_slab_factor_by_products_equals_the_series_term_by_term():
    """The slab factor's series terms formed as products of one exponential equal the direct sums
    of N_TERMS exponentials, in both branches, in JAX and NumPy; its l^2 derivative is continuous
    where the branches meet (l = z_max) and matches a finite difference."""
    import jax

    from crinfer.simulators.cre.green import N_TERMS

    z = 4.0
    l2 = np.geomspace(1e-3, 1e3, 301) * z**2 / 10.0
    n = np.arange(1, N_TERMS + 1)[:, None]
    images = (1 + 2 * np.sum((-1.0) ** n * np.exp(-(n * z) ** 2 / l2), axis=0)) / np.sqrt(4 * np.pi * l2)
    modes = np.sum(np.exp(-(((2 * n - 1) * np.pi / (2 * z)) ** 2) * l2), axis=0) / z
    direct = np.where(l2 < z**2, images, modes)
    np.testing.assert_allclose(slab_factor(l2, z, xp=np), direct, rtol=1e-13, atol=0)
    np.testing.assert_allclose(np.asarray(slab_factor(jnp.asarray(l2), z)), direct, rtol=1e-13, atol=0)
    d_ln = jax.vmap(jax.grad(lambda a: jnp.log(slab_factor(a, z))))
    edge = jnp.asarray([z**2 * (1 - 1e-9), z**2 * (1 + 1e-9)])
    below, above = np.asarray(d_ln(edge))
    assert below == pytest.approx(above, rel=1e-6)
    at = jnp.asarray([0.3 * z**2, 3.0 * z**2])
    h = 1e-6 * np.asarray(at)
    finite = (np.log(slab_factor(np.asarray(at) + h, z, xp=np)) - np.log(slab_factor(np.asarray(at) - h, z, xp=np))) / (2 * h)
    np.testing.assert_allclose(np.asarray(d_ln(at)), finite, rtol=1e-6)


@pytest.mark.slow
def test_loss_tables_match_thomson_closed_form():
    """b = b0 E^2: E0 = E / (1 - b0 E t) and l^2 = kappa0 (E^(d-1) - E0^(d-1)) / (b0 (1 - d))."""
    b0, kappa0, d = 1e-3, 0.1, 0.5
    tables = LossTables.build(lambda E: b0 * E**2, kappa0, d)
    E = np.array([30.0, 1000.0, 20000.0])
    t = np.array([5.0, 0.5, 0.02])
    ln_E0, ok = tables.initial_energy(tables.at(tables.tau, jnp.log(E)), t)
    E0 = E / (1 - b0 * E * t)
    assert np.all(np.asarray(ok))
    np.testing.assert_allclose(np.exp(np.asarray(ln_E0)), E0, rtol=1e-5)
    l2 = np.asarray(tables.at(tables.lam, jnp.log(E)) - tables.at(tables.lam, ln_E0))
    np.testing.assert_allclose(l2, kappa0 * (E ** (d - 1) - E0 ** (d - 1)) / (b0 * (1 - d)), rtol=1e-4)
    # too old to be seen: b0 E t > 1
    assert not bool(tables.initial_energy(tables.at(tables.tau, jnp.log(1000.0)), 1.5)[1])


@pytest.mark.slow
def test_loss_tables_match_quadrature_for_klein_nishina_losses():
    config = CREConfig()
    kappa0, d = 3.0 * KAPPA_UNIT, 0.6
    tables = LossTables.build(config.loss_rate, kappa0, d)
    b = lambda E: float(config.loss_rate(np.array([E]))[0])  # noqa: E731
    for E, E0 in ((31.6, 200.0), (1000.0, 5000.0), (3e4, 1e5)):
        tau, _ = quad(lambda x: 1 / b(x), E, E0, epsrel=1e-10)
        lam, _ = quad(lambda x: kappa0 * x**d / b(x), E, E0, epsrel=1e-10)
        got_tau = float(tables.at(tables.tau, np.log(E)) - tables.at(tables.tau, np.log(E0)))
        got_lam = float(tables.at(tables.lam, np.log(E)) - tables.at(tables.lam, np.log(E0)))
        assert got_tau == pytest.approx(tau, rel=2e-5)
        assert got_lam == pytest.approx(lam, rel=2e-5)


@pytest.mark.slow
def test_spiral_model_reproduces_seed_numbers():
    """Seed 003: 44% of the sources lie within 10 kpc of the Sun; radii follow r f_CB(r)."""
    assert spiral_fraction_within(10.0, 7.9) == pytest.approx(0.44, abs=0.02)
    r = np.sort(np.asarray(sample_galactocentric_radius(np.asarray([0, 7], dtype=np.uint32), 200_000)))
    grid = np.linspace(0, R_EDGE_KPC, 2001)
    pdf = grid * np.asarray(case_bhattacharya(grid))
    cdf = np.cumsum(pdf) / np.sum(pdf)
    ks = np.max(np.abs(np.interp(r, grid, cdf) - np.arange(1, r.size + 1) / r.size))
    assert ks < 1.63 / np.sqrt(r.size)  # KS test at the 1% level


@pytest.mark.slow
def test_same_key_same_spectra_and_pruning_changes_nothing(uniform_sim):
    theta = np.stack([THETA, THETA])
    a = uniform_sim.simulate(3, theta)
    assert np.array_equal(a, uniform_sim.simulate(3, theta))
    assert not np.allclose(a[0], a[1])  # two rows, two realisations
    full = CRESimulator(replace(uniform_sim.config, prune_by_age=False), SMALL_PARAMS)
    assert sum(uniform_sim.reach_fraction) < 0.5 * sum(full.reach_fraction)
    np.testing.assert_allclose(full.simulate(3, theta), a, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_ensemble_mean_equals_smooth_source_expectation(uniform_sim):
    """|MC mean - expectation| <= 3 standard errors at every energy (seed 003's check)."""
    n = 512
    psi = uniform_sim.simulate_many(11, THETA, n, batch=128)
    flux = 10.0**psi  # E^3 phi, linear
    mean, se = flux.mean(0), flux.std(0, ddof=1) / np.sqrt(n)
    expected = 10.0 ** expected_psi(uniform_sim.config, THETA)
    pulls = (mean - expected) / se
    assert np.all(np.abs(pulls) <= 3.0), f"pulls {np.round(pulls, 2)}"
    # spread grows with energy (fewer sources contribute)
    spread = np.subtract(*np.percentile(psi, [84, 16], axis=0))
    assert spread[-4:].mean() > 3 * spread[:4].mean()


@pytest.mark.slow
def test_spiral_arm_ensemble_mean_equals_its_expectation():
    """The same check for the four-arm source distribution (the expectation integrates the
    sampler's 200-shell distance histogram): <= 3 standard errors at every energy."""
    sim = CRESimulator(CREConfig(distribution="spiral", source_chunk=1024, realisation_chunk=8), SMALL_PARAMS)
    n = 512
    flux = 10.0 ** sim.simulate_many(12, THETA, n, batch=128)
    mean, se = flux.mean(0), flux.std(0, ddof=1) / np.sqrt(n)
    pulls = (mean - 10.0 ** expected_psi(sim.config, THETA)) / se
    assert np.all(np.abs(pulls) <= 3.0), f"pulls {np.round(pulls, 2)}"


@pytest.mark.slow
def test_bad_configuration_and_parameters_are_named(uniform_sim):
    with pytest.raises(ConfigurationError, match="distribution='disk'"):
        CREConfig(distribution="disk")
    with pytest.raises(ConfigurationError, match="z_max_kpc=-1"):
        CREConfig(z_max_kpc=-1.0)
    with pytest.raises(ConfigurationError, match="energies_GeV"):
        CREConfig(energies_GeV=(100.0, 50.0))
    with pytest.raises(ParameterError, match="gamma"):
        uniform_sim.simulate(0, np.array([[0.05, 4.0, 3.5, 0.6, 3.0]]))
    with pytest.raises(ConfigurationError, match="must be"):
        CRESimulator(params=PARAMETERS.subspace(["gamma", "delta"]))
