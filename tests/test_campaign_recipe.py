"""Campaign recipes, the simulator registry, and the toy linear-Gaussian simulator."""
from pathlib import Path

import jax
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from crinfer.campaign import Recipe, register_simulator, registered_simulators
from crinfer.campaign import registry
from crinfer.core import ConfigurationError, Parameter, ParameterError, ParameterSpace
from crinfer.simulators.toy import GaussianToy

REPO = Path(__file__).resolve().parents[1]

GOOD = """
title = "t"
[simulator]
name = "toy.gaussian"
config = { n_obs = 3, sigma = 0.2 }
[parameters]
a = { low = -1.0, high = 1.0 }
b = { low = 0.1, high = 10.0, scale = "log" }
[design]
type = "latin_hypercube"
n = 10
seed = 3
[campaign]
realisations = 3
chunk_size = 7
seed = 5
"""


@pytest.mark.slow
def test_good_recipe_sizes_and_rows():
    r = Recipe.from_text(GOOD)
    assert (r.n_points, r.n_rows, r.n_chunks) == (10, 30, 5)
    assert list(r.chunk_rows(4)) == [28, 29]
    assert r.params.names == ("a", "b") and r.store is None
    d = r.design.points(r.params)
    assert d.shape == (10, 2)
    r.params.validate(d)
    # Latin hypercube: one point per stratum of each internal coordinate
    u = r.params.to_internal(d)
    for j, (lo, hi) in enumerate(p.internal_bounds for p in r.params):
        strata = np.floor((u[:, j] - lo) / (hi - lo) * 10).astype(int)
        assert sorted(strata) == list(range(10))


def test_fingerprint_ignores_store_and_comments_not_data():
    a = Recipe.from_text(GOOD)
    b = Recipe.from_text("# comment\n" + GOOD + '[store]\npath = "x"\n')
    c = Recipe.from_text(GOOD.replace("seed = 5", "seed = 6"))
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_grid_design_hits_bounds_exactly():
    r = Recipe.from_text(GOOD.replace('type = "latin_hypercube"\nn = 10\nseed = 3',
                                      'type = "grid"\npoints_per_dim = [3, 5]'))
    d = r.design.points(r.params)
    assert r.n_points == 15 and d.shape == (15, 2)
    assert d[:, 0].min() == -1.0 and d[:, 0].max() == 1.0
    assert d[:, 1].min() == 0.1 and d[:, 1].max() == 10.0
    np.testing.assert_allclose(np.unique(d[:, 1]), np.logspace(-1, 1, 5), rtol=1e-14)


def test_shipped_recipes_parse():
    for path in sorted((REPO / "simulators").glob("toy_*.toml")):
        r = Recipe.from_toml(path)
        assert r.simulator == "toy.gaussian" and r.store is not None and r.n_chunks >= 1


@pytest.mark.parametrize("old,new,match", [
    ('name = "toy.gaussian"', 'name = "toy.nope"', r"unknown simulator 'toy.nope'.*toy\.gaussian"),
    ("[campaign]", "typo = 1\n[campaign]", r"unknown key\(s\) \['typo'\]"),
    ("seed = 3", "sead = 3", r"\[design\]: unknown key\(s\) \['sead'\]"),
    ("chunk_size = 7", "chunksize = 7", r"\[campaign\]: unknown key\(s\) \['chunksize'\]"),
    ('type = "latin_hypercube"', 'type = "sobol"', r"design type 'sobol' is not one of"),
    ("n = 10", "n = 0", r"n must be a positive integer, got 0"),
    ("n = 10", "n = -4", r"n must be a positive integer, got -4"),
    ("n = 10", "n = 2.5", r"n must be a positive integer, got 2.5"),
    ("chunk_size = 7", "chunk_size = 0", r"chunk_size must be a positive integer, got 0"),
    ("realisations = 3", "realisations = -1", r"realisations must be a positive integer, got -1"),
    ("seed = 5", "seed = -2", r"seed must be a non-negative integer, got -2"),
    ("seed = 3", "", r"seed must be a non-negative integer, got None"),
    ("high = 1.0 }", "high = -2.0 }", r"\[parameters\].*'a'.*low < high"),
    ("[design]", "[design]\npoints_per_dim = 4", r"'points_per_dim' is only for a grid"),
    ("[simulator]", "[simulator]\nextra = 1", r"\[simulator\]: unknown key\(s\) \['extra'\]"),
])
def test_bad_recipes_name_the_value(old, new, match):
    assert old in GOOD
    with pytest.raises(ConfigurationError, match=match):
        Recipe.from_text(GOOD.replace(old, new, 1))


def test_bad_grid_and_missing_section_and_syntax():
    grid = GOOD.replace('type = "latin_hypercube"\nn = 10\nseed = 3', 'type = "grid"\nn = 10')
    with pytest.raises(ConfigurationError, match=r"a grid takes 'points_per_dim', not 'n'"):
        Recipe.from_text(grid)
    grid = GOOD.replace('type = "latin_hypercube"\nn = 10\nseed = 3', 'type = "grid"\npoints_per_dim = [3]')
    with pytest.raises(ConfigurationError, match=r"points_per_dim has 1 entries, need one per parameter \(2\)"):
        Recipe.from_text(grid)
    normal = grid.replace("b = { low = 0.1, high = 10.0, scale = \"log\" }", "b = { prior = \"normal\" }")
    normal = normal.replace("points_per_dim = [3]", "points_per_dim = 3")
    with pytest.raises(ConfigurationError, match=r"a grid needs finite bounds, but \['b'\] have a normal prior"):
        Recipe.from_text(normal)
    with pytest.raises(ConfigurationError, match=r"missing section \[campaign\]"):
        Recipe.from_text(GOOD.split("[campaign]")[0])
    with pytest.raises(ConfigurationError, match="invalid TOML"):
        Recipe.from_text("[simulator\nname = 1")
    with pytest.raises(ConfigurationError, match="cannot read recipe '/nonexistent/r.toml'"):
        Recipe.from_toml("/nonexistent/r.toml")


def test_registry_register_resolve_and_config_check():
    assert "toy.gaussian" in registered_simulators()
    register_simulator("test.toy_alias", GaussianToy, overwrite=True)
    r = Recipe.from_text(GOOD.replace('name = "toy.gaussian"', 'name = "test.toy_alias"'))
    sim = registry.build_simulator(r.simulator, r.params, r.config)
    assert sim.observable.shape == (3,) and sim.sigma == 0.2
    with pytest.raises(ConfigurationError, match="already registered"):
        register_simulator("test.toy_alias", GaussianToy)
    with pytest.raises(ConfigurationError, match=r"does not accept config \['n_obs', 'sgima'\]"):
        registry.build_simulator("toy.gaussian", r.params, {"n_obs": 3, "sgima": 1.0})
    # an import path works without registration (what remote workers resolve)
    assert registry.resolve("crinfer.simulators.toy:GaussianToy") is GaussianToy
    with pytest.raises(ConfigurationError, match="cannot import 'crinfer.simulators.toy:Nope'"):
        registry.resolve("crinfer.simulators.toy:Nope")
    with pytest.raises(ConfigurationError, match="unknown simulator 'nope'"):
        registry.resolve("nope")


# -- the toy simulator --------------------------------------------------------
SPACE = ParameterSpace([Parameter("a", -2.0, 2.0), Parameter("b", 0.1, 10.0, scale="log")])


def test_toy_moments_match_the_model():
    """x ~ N(A theta, sigma^2 I): sample mean and covariance of 40000 draws at one theta."""
    A = np.array([[1.0, 0.5], [-0.3, 2.0], [0.0, 1.0]])
    sim = GaussianToy(SPACE, matrix=A.tolist(), sigma=0.3)
    theta = np.array([0.7, 3.0])
    n = 40_000
    x = np.asarray(sim.simulate(jax.random.PRNGKey(0), np.tile(theta, (n, 1))))
    assert x.shape == (n, 3) and x.dtype == np.float64
    se = 0.3 / np.sqrt(n)
    np.testing.assert_array_less(np.abs(x.mean(0) - A @ theta), 4.5 * se)
    cov = np.cov(x.T)
    # sd of a sample variance is sigma^2 sqrt(2/(n-1)) ~ 0.7 %; of a covariance sigma^2/sqrt(n)
    np.testing.assert_allclose(np.diag(cov), 0.09, rtol=4.5 * np.sqrt(2 / (n - 1)))
    off = cov[~np.eye(3, dtype=bool)]
    np.testing.assert_array_less(np.abs(off), 4.5 * 0.09 / np.sqrt(n))


def test_toy_is_key_deterministic_and_default_matrix_tiles_identity():
    sim = GaussianToy(SPACE, n_obs=5, sigma=0.1)
    np.testing.assert_array_equal(sim.matrix, [[1, 0], [0, 1], [1, 0], [0, 1], [1, 0]])
    theta = np.array([[0.5, 1.0], [-1.0, 0.2]])
    k = jax.random.PRNGKey(11)
    x1, x2 = np.asarray(sim.simulate(k, theta)), np.asarray(sim.simulate(k, theta))
    x3 = np.asarray(sim.simulate(jax.random.PRNGKey(12), theta))
    np.testing.assert_array_equal(x1, x2)
    assert not np.any(x1 == x3)
    # batching: row i is A theta_i plus noise; noise does not depend on theta
    x0 = np.asarray(sim.simulate(k, np.zeros((2, 2)) + [0.0, 0.1]))
    np.testing.assert_allclose(x1 - x0, (theta - [0.0, 0.1]) @ sim.matrix.T, atol=1e-14)


@pytest.mark.slow
def test_toy_likelihood_is_the_exact_gaussian():
    A = np.array([[1.0, 0.5], [-0.3, 2.0]])
    sim = GaussianToy(SPACE, matrix=A, sigma=0.4)
    theta = np.array([[0.2, 1.5], [-1.0, 7.0]])
    x = np.array([0.9, 2.1])
    got = np.asarray(sim.likelihood().log_prob(x, theta))
    want = [multivariate_normal(A @ t, 0.16 * np.eye(2)).logpdf(x) for t in theta]
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("kwargs,match", [
    ({"sigma": 0.0}, r"sigma must be finite and > 0, got 0.0"),
    ({"n_obs": 0}, r"n_obs must be a positive integer, got 0"),
    ({"matrix": [[1.0, 2.0, 3.0]]}, r"matrix must have shape \(n_obs, 2\), got \(1, 3\)"),
    ({"matrix": [[1.0, 2.0]], "n_obs": 2}, r"matrix must have shape \(2, 2\), got \(1, 2\)"),
    ({"delay_s": -1}, r"delay_s must be finite and >= 0, got -1.0"),
])
def test_toy_bad_config(kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        GaussianToy(SPACE, **kwargs)


def test_toy_rejects_out_of_bounds_theta():
    with pytest.raises(ParameterError, match=r"parameter 'b' = 20.0 \(row 0\) is outside its bounds"):
        GaussianToy(SPACE).simulate(0, np.array([[0.0, 20.0]]))
