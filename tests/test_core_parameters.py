"""ParameterSpace: validation errors, coordinates, priors and designs."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from crinfer.core import (
    Observable, ObservationError, Parameter, ParameterError, ParameterSpace, ShapeError,
)


@pytest.fixture
def space():
    return ParameterSpace([
        Parameter("D0", 1.0, 9.0, unit="1e28 cm^2/s"),
        Parameter("R_SN", 1e-2, 1e2, unit="1e4/Myr", scale="log"),
        Parameter("mu", -math.inf, math.inf, prior="normal", loc=1.0, scale_sd=2.0),
    ])


def test_out_of_bounds_error_names_parameter_value_and_bounds(space):
    with pytest.raises(ParameterError, match=r"'R_SN' = 1000.0 \(row 1\).*\[0.01, 100.0\] 1e4/Myr"):
        space.validate([[2.0, 1.0, 0.0], [2.0, 1e3, 0.0]])


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_parameter_rejected(space, bad):
    with pytest.raises(ParameterError, match="'mu'"):
        space.validate([[2.0, 1.0, bad]])


def test_wrong_shape_rejected(space):
    with pytest.raises(ShapeError, match=r"\(B, 3\).*got \(3,\)"):
        space.validate([2.0, 1.0, 0.0])
    with pytest.raises(ShapeError):
        space.validate(np.zeros((4, 2)))


def test_unknown_parameter_name(space):
    with pytest.raises(ParameterError, match="unknown parameter 'kappa'.*'D0', 'R_SN', 'mu'"):
        space.index("kappa")
    with pytest.raises(ParameterError, match="unknown parameter"):
        space.from_mapping({"D0": 1, "R_SN": 1, "mu": 0, "kappa": 2})


@pytest.mark.parametrize("kwargs, msg", [
    (dict(name="a", low=1, high=1), "low < high"),
    (dict(name="a", low=0, high=1, scale="log"), "low > 0"),
    (dict(name="a", low=0, high=1, scale="ln"), "scale 'ln'"),
    (dict(name="a", low=-math.inf, high=1), "finite bounds"),
    (dict(name="2a", low=0, high=1), "identifier"),
])
def test_bad_parameter_definitions(kwargs, msg):
    with pytest.raises(ParameterError, match=msg):
        Parameter(**kwargs)


def test_duplicate_names_rejected():
    with pytest.raises(ParameterError, match="duplicate"):
        ParameterSpace([Parameter("a", 0, 1), Parameter("a", 0, 2)])


def test_internal_coordinates_round_trip_all_backends(space):
    theta = np.array([[2.0, 10.0, -0.5], [8.0, 0.05, 3.0]])
    u = space.to_internal(theta)
    np.testing.assert_allclose(u[:, 1], [1.0, math.log10(0.05)])
    np.testing.assert_allclose(u[:, [0, 2]], theta[:, [0, 2]])
    np.testing.assert_allclose(space.from_internal(u), theta)
    np.testing.assert_allclose(np.asarray(space.to_internal(jnp.asarray(theta))), u)
    np.testing.assert_allclose(space.to_internal(torch.tensor(theta)).numpy(), u)


def test_prior_samples_follow_declared_priors(space):
    s = space.sample_prior(jax.random.PRNGKey(0), 20000)
    assert s.shape == (20000, 3)
    space.validate(s)
    # log-uniform: log10 uniform on [-2, 2] -> mean 0, sd 4/sqrt(12)
    lg = np.log10(s[:, 1])
    assert abs(lg.mean()) < 0.05 and abs(lg.std() - 4 / math.sqrt(12)) < 0.03
    assert abs(s[:, 2].mean() - 1.0) < 0.05 and abs(s[:, 2].std() - 2.0) < 0.05
    np.testing.assert_array_equal(s, space.sample_prior(jax.random.PRNGKey(0), 20000))
    assert not np.array_equal(s, space.sample_prior(jax.random.PRNGKey(1), 20000))


def test_latin_hypercube_stratifies_every_dimension():
    space = ParameterSpace([Parameter("a", 0, 1), Parameter("b", 1, 100, scale="log")])
    n = 50
    d = space.latin_hypercube(3, n)
    for col in (d[:, 0], (np.log10(d[:, 1]) - 0) / 2):
        counts = np.histogram(col, bins=n, range=(0, 1))[0]
        np.testing.assert_array_equal(counts, np.ones(n))


def test_grid_is_regular_in_internal_coordinates():
    space = ParameterSpace([Parameter("a", 0, 1), Parameter("b", 1, 100, scale="log")])
    g = space.grid([3, 3])
    assert g.shape == (9, 2)
    np.testing.assert_allclose(sorted(set(g[:, 1])), [1, 10, 100])
    with pytest.raises(ParameterError, match="positive point counts"):
        space.grid([3, 0])


def test_sbi_prior_is_uniform_in_internal_coordinates(space):
    sub = space.subspace(["D0", "R_SN"])
    prior = sub.sbi_prior()
    lp = prior.log_prob(torch.tensor([[5.0, 0.0]]))
    assert torch.allclose(lp, torch.tensor([-math.log(8.0) - math.log(4.0)]))
    mixed = space.sbi_prior()
    lp = mixed.log_prob(torch.tensor([[5.0, 0.0, 1.0]]))
    expect = -math.log(8.0) - math.log(4.0) - 0.5 * math.log(2 * math.pi * 4.0)
    assert torch.allclose(lp, torch.tensor([expect]), atol=1e-5)


@pytest.mark.slow
def test_numpyro_sites_have_declared_densities(space):
    from numpyro.infer.util import log_density

    theta = jnp.array([2.0, 10.0, 1.0])

    def model():
        space.numpyro_sample()

    lp, _ = log_density(model, (), {}, {"D0": theta[0], "R_SN": theta[1], "mu": theta[2]})
    # log-uniform density in physical units: 1/(x ln(100/0.01))
    expect = -math.log(8.0) - math.log(10.0 * math.log(1e4)) - 0.5 * math.log(2 * math.pi * 4.0)
    assert float(lp) == pytest.approx(expect, rel=1e-10)


def test_toml_table_round_trip(space):
    again = ParameterSpace.from_dict(space.to_dict())
    assert again == space
    with pytest.raises(ParameterError, match="unknown keys"):
        ParameterSpace.from_dict({"a": {"low": 0, "high": 1, "units": "kpc"}})


def test_observation_validation():
    obs = Observable("spectrum", (4,))
    with pytest.raises(ShapeError, match=r"\(4,\), got \(3,\)"):
        obs.validate(np.ones(3))
    with pytest.raises(ObservationError, match=r"non-finite value nan at index \(2,\)"):
        obs.validate(np.array([1.0, 2.0, np.nan, 1.0]))
    with pytest.raises(ObservationError, match="inf"):
        obs.validate(np.array([[1.0, 2.0, np.inf, 1.0]]), batched=True)
    assert obs.validate(np.ones((5, 4)), batched=True).shape == (5, 4)
