"""NUTS on a Likelihood recovers a known (conjugate Gaussian) posterior."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crinfer.core import GaussianLikelihood, Observable, ObservationError, Parameter, ParameterSpace, ShapeError
from crinfer.core.rng import as_key
from crinfer.inference.numpyro_runner import likelihood_model, nuts_diagnostics, run_nuts, sample_model
from crinfer.inference.results import annotate_units


def _conjugate_problem():
    # theta ~ N(0, 1) per dim; x_i ~ N(theta, 0.5^2): posterior N(x/(1+0.25), 0.25/1.25) per dim
    params = ParameterSpace([Parameter(f"t{i}", -math.inf, math.inf, prior="normal", loc=0.0, scale_sd=1.0)
                             for i in range(2)])
    obs = Observable("x", (2,))
    lik = GaussianLikelihood(params, obs, mean=lambda th: th, cov=np.full(2, 0.25))
    return lik, np.array([1.0, -0.5])


@pytest.fixture(scope="module")
def nuts_run():
    """One compiled NUTS run (compiling costs minutes on a slow 2-core machine; reruns reuse it)."""
    lik, x = _conjugate_problem()
    mcmc, idata = sample_model(likelihood_model(lik, x), key=0, num_warmup=300, num_samples=1000,
                               num_chains=2, progress_bar=False)
    return lik, x, mcmc, annotate_units(idata, lik.params)


@pytest.mark.slow
def test_nuts_recovers_conjugate_gaussian_posterior(nuts_run):
    lik, x, _, idata = nuts_run
    post_mean, post_sd = x / 1.25, math.sqrt(0.25 / 1.25)
    for i in range(2):
        s = idata.posterior[f"t{i}"].values.ravel()
        assert abs(s.mean() - post_mean[i]) < 0.05
        assert abs(s.std() - post_sd) < 0.03
        assert idata.posterior[f"t{i}"].attrs["scale"] == "linear"
    diag = nuts_diagnostics(idata)
    assert diag["r_hat_max"] < 1.02 and diag["divergences"] == 0
    assert 1.0 <= diag["steps_mean"] <= 15.0  # an adapted isotropic Gaussian needs short trajectories


@pytest.mark.slow
def test_nuts_same_key_same_chain(nuts_run):
    _, _, mcmc, _ = nuts_run
    first = np.asarray(mcmc.get_samples()["t0"])
    mcmc.run(as_key(0), extra_fields=("diverging",))
    np.testing.assert_array_equal(np.asarray(mcmc.get_samples()["t0"]), first)
    mcmc.run(as_key(1), extra_fields=("diverging",))
    assert not np.array_equal(np.asarray(mcmc.get_samples()["t0"]), first)


@pytest.mark.slow
def test_gaussian_likelihood_matches_closed_form_and_has_gradient():
    lik, x = _conjugate_problem()
    theta = jnp.array([0.3, 0.1])
    expect = -0.5 * (np.sum((x - np.asarray(theta)) ** 2) / 0.25 + 2 * math.log(2 * math.pi * 0.25))
    assert float(lik.log_prob(x, theta)) == pytest.approx(expect, rel=1e-12)
    g = jax.grad(lambda t: lik.log_prob(x, t))(theta)
    np.testing.assert_allclose(np.asarray(g), (x - np.asarray(theta)) / 0.25, rtol=1e-10)
    batch = lik.log_prob(x, jnp.stack([theta, theta + 1]))
    assert batch.shape == (2,)


@pytest.mark.slow
def test_bad_observations_rejected_before_sampling():
    lik, _ = _conjugate_problem()
    with pytest.raises(ObservationError, match="non-finite"):
        run_nuts(lik, np.array([np.nan, 1.0]), key=0, progress_bar=False)
    with pytest.raises(ShapeError, match=r"shape \(2,\)"):
        run_nuts(lik, np.ones(3), key=0, progress_bar=False)
    with pytest.raises(ValueError, match="num_chains"):
        run_nuts(lik, np.ones(2), key=0, num_chains=0, progress_bar=False)


@pytest.mark.slow
def test_run_nuts_labels_the_method_and_units():
    """run_nuts tags the posterior with method="NUTS" (compare() labels sets by it) and each
    variable with its unit and scale, and its mean matches the conjugate posterior."""
    lik, x = _conjugate_problem()
    idata = run_nuts(lik, x, key=3, num_warmup=200, num_samples=400, num_chains=1, progress_bar=False)
    assert idata.posterior.attrs["method"] == "NUTS"
    assert idata.posterior["t0"].attrs["scale"] == "linear"
    assert abs(float(idata.posterior["t0"].mean()) - x[0] / 1.25) < 0.1


def test_diagnostics_are_not_rounded():
    """The acceptance compares R-hat with 1.01: a value of 1.014 must not be reported as 1.01."""
    import arviz as az

    rng = np.random.default_rng(0)
    draws = rng.normal(size=(2, 500)) + np.array([[0.0], [0.08]])  # two chains slightly apart
    idata = az.from_dict(posterior={"a": draws}, sample_stats={"diverging": np.zeros((2, 500), bool)})
    diag = nuts_diagnostics(idata)
    assert diag["r_hat_max"] == pytest.approx(float(az.rhat(idata)["a"]), rel=1e-12)
    assert diag["ess_bulk_min"] == pytest.approx(float(az.ess(idata)["a"]), rel=1e-12)
    assert diag["r_hat_max"] != round(diag["r_hat_max"], 2)
